#include <algorithm>
#include <memory>
#include <vector>

#include "blas.cuh"
#include "block_product.cuh"
#include "device_ops.cuh"
#include "gapbench/rng.hpp"

namespace gapbench::cuda {
namespace {

template <typename Real>
__global__ void fill_standard_normal(Real* w, std::int64_t rows, std::int64_t cols, std::int64_t ld,
                                     std::uint64_t seed, std::uint32_t salt) {
  const std::int64_t c = blockIdx.y;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < rows;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    // The same counters as HostBlockOps::fill_random: both backends start from the same block.
    w[c * ld + i] = standard_normal<Real>(philox_draw(seed, ::gapbench::Stream::kSolverStart, salt,
                                                      static_cast<std::uint32_t>(i),
                                                      static_cast<std::uint32_t>(c)));
  }
}

template <typename Real>
__global__ void scale_columns(Real* w, std::int64_t rows, std::int64_t ld, Real beta) {
  const std::int64_t c = blockIdx.y;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < rows;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    w[c * ld + i] *= beta;
  }
}

constexpr int kThreads = 256;

dim3 column_grid(std::int64_t rows, std::int64_t cols) {
  const std::int64_t x = std::min<std::int64_t>((rows + kThreads - 1) / kThreads, 1024);
  return dim3(static_cast<unsigned>(std::max<std::int64_t>(x, 1)), static_cast<unsigned>(cols));
}

}  // namespace

// ---- DeviceDenseOperator: row-major A is the column-major A^T (cols x rows, ld = cols) -------
// A X is (A^T)^T X: block_product's kMTranspose side; A^T X is its kM side.

template <typename Real>
DeviceDenseOperator<Real>::DeviceDenseOperator(const Real* a, std::int64_t rows, std::int64_t cols,
                                               cublasHandle_t blas)
    : m_a(a),
      m_rows(rows),
      m_cols(cols),
      m_blas(blas),
      m_workspace(static_cast<std::size_t>(workspace_elements(rows, cols))) {}

template <typename Real>
std::int64_t DeviceDenseOperator<Real>::workspace_elements(std::int64_t rows, std::int64_t cols) {
  return block_product_workspace_elements(ProductSide::kM, cols, rows, kMaxBlockProductVectors, 1);
}

// One pass, both directions: with M = A^T (column-major, ld = cols), A X = M^T X and
// A^T X = M X. cuBLAS GEMV for one vector, the block-product kernels up to 8, cuBLAS GEMM past.
template <typename Real>
void DeviceDenseOperator<Real>::product(BlockView<const Real> x, BlockView<Real> y,
                                        bool transpose) const {
  this->count_pass();
  const cublasOperation_t op = transpose ? CUBLAS_OP_N : CUBLAS_OP_T;
  if (x.cols == 1) {
    blas::gemv(m_blas, op, m_cols, m_rows, Real(1), m_a, m_cols, x.data, Real(0), y.data);
  } else if (x.cols <= kMaxBlockProductVectors) {
    cudaStream_t stream = nullptr;
    GAPBENCH_CUBLAS_CHECK(cublasGetStream(m_blas, &stream));
    block_product<Real>(transpose ? ProductSide::kM : ProductSide::kMTranspose,
                        {m_a, m_cols, m_rows, m_cols, 0}, {x.data, x.ld, 0}, {y.data, y.ld, 0},
                        static_cast<int>(x.cols), 1, m_workspace, stream);
  } else {
    const std::int64_t out_rows = transpose ? m_cols : m_rows, inner = transpose ? m_rows : m_cols;
    blas::gemm(m_blas, op, CUBLAS_OP_N, out_rows, x.cols, inner, Real(1), m_a, m_cols, x.data, x.ld,
               Real(0), y.data, y.ld);
  }
}

// ---- DeviceBlockOps -------------------------------------------------------------------------

template <typename Real>
Block<Real> DeviceBlockOps<Real>::allocate(std::int64_t rows, std::int64_t cols) {
  Real* raw = nullptr;
  const std::size_t bytes = static_cast<std::size_t>(block_bytes<Real>(rows, cols));
  if (bytes > 0) {
    GAPBENCH_CUDA_CHECK(cudaMalloc(&raw, bytes));
    std::shared_ptr<Real> storage(raw, [](Real* p) { GAPBENCH_CUDA_CHECK_NOEXCEPT(cudaFree(p)); });
    GAPBENCH_CUDA_CHECK(cudaMemsetAsync(raw, 0, bytes, m_stream));
    return Block<Real>(std::move(storage), rows, cols);
  }
  return Block<Real>(std::shared_ptr<Real>(), rows, cols);
}

template <typename Real>
Real* DeviceBlockOps<Real>::small(std::size_t count) {
  if (m_small.size() < count) {
    m_uploaded.synchronize();  // the last upload has left m_upload and m_small is done with
    m_small = DeviceBuffer<Real>(std::max<std::size_t>(count, 1024));
    m_staging = PinnedBuffer<Real>(m_small.size());
    m_upload = PinnedBuffer<Real>(m_small.size());
  }
  return m_small.data();
}

template <typename Real>
void DeviceBlockOps<Real>::project(BlockView<const Real> v, BlockView<const Real> w,
                                   double* host_c) {
  const std::int64_t p = v.cols, q = w.cols;
  if (p == 0 || q == 0) return;
  const std::size_t n = static_cast<std::size_t>(p * q);
  Real* c = small(n);
  if (q == 1) {
    blas::gemv(m_blas, CUBLAS_OP_T, v.rows, p, Real(1), v.data, v.ld, w.data, Real(0), c);
  } else {
    blas::gemm(m_blas, CUBLAS_OP_T, CUBLAS_OP_N, p, q, v.rows, Real(1), v.data, v.ld, w.data, w.ld,
               Real(0), c, p);
  }
  GAPBENCH_CUDA_CHECK(
      cudaMemcpyAsync(m_staging.data(), c, n * sizeof(Real), cudaMemcpyDeviceToHost, m_stream));
  GAPBENCH_CUDA_CHECK(cudaStreamSynchronize(m_stream));
  std::copy(m_staging.data(), m_staging.data() + n, host_c);
}

template <typename Real>
void DeviceBlockOps<Real>::update(BlockView<const Real> v, const double* host_c, double alpha,
                                  double beta, BlockView<Real> w) {
  const std::int64_t p = v.cols, q = w.cols;
  if (q == 0) return;
  if (p == 0) {
    if (beta != 1.0) {
      scale_columns<Real>
          <<<column_grid(w.rows, q), kThreads, 0, m_stream>>>(w.data, w.rows, w.ld, Real(beta));
      GAPBENCH_CUDA_CHECK_LAUNCH();
    }
    return;
  }
  const std::size_t n = static_cast<std::size_t>(p * q);
  Real* c = small(n);
  // The pinned upload buffer may still be in flight from the previous update: wait for it.
  m_uploaded.synchronize();
  std::copy(host_c, host_c + n, m_upload.data());
  GAPBENCH_CUDA_CHECK(
      cudaMemcpyAsync(c, m_upload.data(), n * sizeof(Real), cudaMemcpyHostToDevice, m_stream));
  m_uploaded.record(m_stream);
  if (q == 1) {
    blas::gemv(m_blas, CUBLAS_OP_N, w.rows, p, Real(alpha), v.data, v.ld, c, Real(beta), w.data);
  } else {
    blas::gemm(m_blas, CUBLAS_OP_N, CUBLAS_OP_N, w.rows, q, p, Real(alpha), v.data, v.ld, c, p,
               Real(beta), w.data, w.ld);
  }
}

template <typename Real>
void DeviceBlockOps<Real>::fill_random(BlockView<Real> w, std::uint64_t seed, std::uint32_t salt) {
  if (w.cols == 0 || w.rows == 0) return;
  fill_standard_normal<Real><<<column_grid(w.rows, w.cols), kThreads, 0, m_stream>>>(
      w.data, w.rows, w.cols, w.ld, seed, salt);
  GAPBENCH_CUDA_CHECK_LAUNCH();
}

template <typename Real>
void DeviceBlockOps<Real>::copy(BlockView<const Real> src, BlockView<Real> dst) {
  if (src.cols == 0 || src.rows == 0) return;
  GAPBENCH_CUDA_CHECK(cudaMemcpy2DAsync(dst.data, dst.ld * sizeof(Real), src.data,
                                        src.ld * sizeof(Real), src.rows * sizeof(Real), src.cols,
                                        cudaMemcpyDeviceToDevice, m_stream));
}

template <typename Real>
void DeviceBlockOps<Real>::synchronize() {
  GAPBENCH_CUDA_CHECK(cudaStreamSynchronize(m_stream));
}

template class DeviceDenseOperator<float>;
template class DeviceDenseOperator<double>;
template class DeviceBlockOps<float>;
template class DeviceBlockOps<double>;

}  // namespace gapbench::cuda
