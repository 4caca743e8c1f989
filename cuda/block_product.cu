#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "block_product.cuh"
#include "block_width.cuh"
#include "gapbench/cuda_api.hpp"
#include "gapbench/error.hpp"
#include "vector16.cuh"

namespace gapbench::cuda {
namespace {

constexpr int kWarp = 32;
// Threads of a block, both kernels: 8 warps.
constexpr int kThreads = 256;
// M X: rows of X staged in shared memory per step, and the split of the columns into chunks.
// Enough blocks to fill the device a few times over (132 SMs x 8 resident blocks on an H200),
// chunks of at least kMinChunk columns so that a thread's walk outweighs its block's start-up,
// and at most kMaxSplits partial sums per entry of Y.
constexpr int kStagedRows = 256;
constexpr std::int64_t kTargetBlocks = 4096;
constexpr std::int64_t kMinChunk = 512;
constexpr std::int64_t kMaxSplits = 64;
// Matrices of a batch go in the grid's y or z dimension.
constexpr std::int64_t kMaxBatch = 65535;

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// Columns of M per block in M^T X: each thread keeps columns x NV sums. Eight columns read X from
// L2 once per eight columns of M; blocks of more than four vectors take four, to stay in registers.
template <int NV>
constexpr int kColumnsPerBlock = NV > 4 ? 4 : 8;

// std::min is a host function (nvcc would need --expt-relaxed-constexpr).
__device__ std::int64_t lesser(std::int64_t a, std::int64_t b) { return a < b ? a : b; }

template <typename Real>
__device__ Real warp_sum(Real v) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2)
    v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// Y = M^T X: block (blockIdx.x, blockIdx.y) takes columns [C blockIdx.x, C blockIdx.x + C) of
// matrix blockIdx.y. M is read once with streaming loads (__ldcs: it is not reused, so it should
// not evict X from L2), as 16-byte vectors (vector16.cuh) where `aligned` (every column starts on
// 16 bytes; X's rows too where `x_aligned`), then the rows past the last whole vector one by one.
template <typename Real, int NV>
__global__ void __launch_bounds__(kThreads)
    transpose_product_kernel(StridedMatrices<Real> a, StridedBlocks<const Real> x,
                             StridedBlocks<Real> y, bool aligned, bool x_aligned) {
  constexpr int C = kColumnsPerBlock<NV>;
  using Vec = Vector16<Real>;
  constexpr int W = Vec::width;
  const std::int64_t b = blockIdx.y;
  const std::int64_t j0 = static_cast<std::int64_t>(blockIdx.x) * C;
  const Real* mat = a.data + b * a.stride;
  const Real* xb = x.data + b * x.stride;
  // Columns past the last are read again as the last one (no branch in the loop) and dropped.
  const Real* col[C];
#pragma unroll
  for (int c = 0; c < C; ++c) col[c] = mat + lesser(j0 + c, a.cols - 1) * a.ld;

  Real acc[C][NV];
#pragma unroll
  for (int c = 0; c < C; ++c) {
#pragma unroll
    for (int v = 0; v < NV; ++v) acc[c][v] = 0;
  }
  const std::int64_t vectors = aligned ? a.rows / W : 0;
  for (std::int64_t g = threadIdx.x; g < vectors; g += kThreads) {
    const std::int64_t i = g * W;
    typename Vec::type raw[C];
#pragma unroll
    for (int c = 0; c < C; ++c)
      raw[c] = __ldcs(reinterpret_cast<const typename Vec::type*>(col[c] + i));
    Real xv[W][NV];
    if (x_aligned) {  // the same rows of X as whole vectors too
#pragma unroll
      for (int v = 0; v < NV; ++v) {
        Real e[W];
        Vec::unpack(reinterpret_cast<const typename Vec::type*>(xb + v * x.ld)[g], e);
#pragma unroll
        for (int r = 0; r < W; ++r) xv[r][v] = e[r];
      }
    } else {
#pragma unroll
      for (int r = 0; r < W; ++r) {
#pragma unroll
        for (int v = 0; v < NV; ++v) xv[r][v] = xb[i + r + v * x.ld];
      }
    }
#pragma unroll
    for (int c = 0; c < C; ++c) {
      Real e[W];
      Vec::unpack(raw[c], e);
#pragma unroll
      for (int r = 0; r < W; ++r) {
#pragma unroll
        for (int v = 0; v < NV; ++v) acc[c][v] += e[r] * xv[r][v];
      }
    }
  }
  for (std::int64_t i = vectors * W + threadIdx.x; i < a.rows; i += kThreads) {
    Real xv[NV];
#pragma unroll
    for (int v = 0; v < NV; ++v) xv[v] = xb[i + v * x.ld];
#pragma unroll
    for (int c = 0; c < C; ++c) {
      const Real e = __ldcs(col[c] + i);
#pragma unroll
      for (int v = 0; v < NV; ++v) acc[c][v] += e * xv[v];
    }
  }

  __shared__ Real partial[kThreads / kWarp][C * NV];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
#pragma unroll
  for (int c = 0; c < C; ++c) {
#pragma unroll
    for (int v = 0; v < NV; ++v) {
      const Real s = warp_sum(acc[c][v]);
      if (lane == 0) partial[warp][c * NV + v] = s;
    }
  }
  __syncthreads();
  for (int k = threadIdx.x; k < C * NV; k += kThreads) {
    Real s = 0;
#pragma unroll
    for (int w = 0; w < kThreads / kWarp; ++w) s += partial[w][k];
    const std::int64_t j = j0 + k / NV;
    if (j < a.cols) y.data[b * y.stride + j + (k % NV) * y.ld] = s;
  }
}

// Y = M X, columns [chunk blockIdx.y, chunk (blockIdx.y + 1)) of matrix blockIdx.z: thread i of
// the grid's x dimension owns row i and writes its NV sums to
// out + blockIdx.y split_stride + blockIdx.z batch_stride + v ld + i.
template <typename Real, int NV>
__global__ void __launch_bounds__(kThreads)
    direct_product_kernel(StridedMatrices<Real> a, StridedBlocks<const Real> x, std::int64_t chunk,
                          Real* out, std::int64_t ld, std::int64_t batch_stride,
                          std::int64_t split_stride) {
  const std::int64_t b = blockIdx.z, split = blockIdx.y;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  // Rows past the last read the last row (every thread helps to stage X) and write nothing.
  const Real* row = a.data + b * a.stride + lesser(i, a.rows - 1);
  const Real* xb = x.data + b * x.stride;
  const std::int64_t j_end = lesser(a.cols, (split + 1) * chunk);

  __shared__ __align__(16) Real staged[kStagedRows][NV];  // aligned: vector reads of a row
  Real acc[NV];
#pragma unroll
  for (int v = 0; v < NV; ++v) acc[v] = 0;
  for (std::int64_t js = split * chunk; js < j_end; js += kStagedRows) {
    const int len = static_cast<int>(lesser(kStagedRows, j_end - js));
    __syncthreads();  // the previous step's reads of `staged` are done
    for (int t = threadIdx.x; t < len * NV; t += kThreads) {
      const int v = t / len, jj = t % len;  // consecutive threads read consecutive rows of X
      staged[jj][v] = xb[js + jj + v * x.ld];
    }
    __syncthreads();
    const Real* m = row + js * a.ld;
#pragma unroll 8
    for (int jj = 0; jj < len; ++jj) {
      const Real e = __ldcs(m + jj * a.ld);
#pragma unroll
      for (int v = 0; v < NV; ++v) acc[v] += e * staged[jj][v];
    }
  }
  if (i < a.rows) {
    Real* o = out + split * split_stride + b * batch_stride + i;
#pragma unroll
    for (int v = 0; v < NV; ++v) o[v * ld] = acc[v];
  }
}

// Y = the sum over `splits` of the partial products, in split order.
template <typename Real>
__global__ void sum_splits_kernel(const Real* partial, int splits, std::int64_t m, int nv,
                                  std::int64_t batch, StridedBlocks<Real> y) {
  const std::int64_t total = m * nv * batch;
  for (std::int64_t idx = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
       idx < total; idx += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    Real s = 0;
    for (int k = 0; k < splits; ++k) s += partial[k * total + idx];
    const std::int64_t i = idx % m, v = idx / m % nv, b = idx / m / nv;
    y.data[b * y.stride + v * y.ld + i] = s;
  }
}

// Chunks of the columns of M in M X, for m x n matrices in a batch of `batch`.
std::int64_t direct_splits(std::int64_t m, std::int64_t n, std::int64_t batch) {
  const std::int64_t blocks = ceil_div(m, kThreads) * batch;
  const std::int64_t wanted = ceil_div(kTargetBlocks, blocks);
  return std::max<std::int64_t>(1, std::min({wanted, kMaxSplits, ceil_div(n, kMinChunk)}));
}

template <typename Real, int NV>
void launch(ProductSide side, const StridedMatrices<Real>& a, const StridedBlocks<const Real>& x,
            const StridedBlocks<Real>& y, std::int64_t batch, Real* workspace,
            cudaStream_t stream) {
  if (side == ProductSide::kMTranspose) {
    constexpr int C = kColumnsPerBlock<NV>;
    const dim3 grid(static_cast<unsigned>(ceil_div(a.cols, C)), static_cast<unsigned>(batch));
    constexpr std::int64_t kPerVector = 16 / sizeof(Real);
    const auto starts_aligned = [&](const void* p, std::int64_t ld, std::int64_t stride) {
      return reinterpret_cast<std::uintptr_t>(p) % 16 == 0 && ld % kPerVector == 0 &&
             stride % kPerVector == 0;
    };
    const bool aligned = starts_aligned(a.data, a.ld, a.stride);
    const bool x_aligned = aligned && starts_aligned(x.data, x.ld, x.stride);
    transpose_product_kernel<Real, NV><<<grid, kThreads, 0, stream>>>(a, x, y, aligned, x_aligned);
    GAPBENCH_CUDA_CHECK_LAUNCH();
    return;
  }
  const std::int64_t splits = direct_splits(a.rows, a.cols, batch);
  const std::int64_t chunk = ceil_div(a.cols, splits);
  const dim3 grid(static_cast<unsigned>(ceil_div(a.rows, kThreads)), static_cast<unsigned>(splits),
                  static_cast<unsigned>(batch));
  if (splits == 1) {
    direct_product_kernel<Real, NV>
        <<<grid, kThreads, 0, stream>>>(a, x, chunk, y.data, y.ld, y.stride, 0);
    GAPBENCH_CUDA_CHECK_LAUNCH();
    return;
  }
  const std::int64_t per_split = a.rows * NV * batch;
  direct_product_kernel<Real, NV>
      <<<grid, kThreads, 0, stream>>>(a, x, chunk, workspace, a.rows, a.rows * NV, per_split);
  GAPBENCH_CUDA_CHECK_LAUNCH();
  const auto blocks =
      static_cast<unsigned>(std::min<std::int64_t>(ceil_div(per_split, kThreads), 4096));
  sum_splits_kernel<Real>
      <<<blocks, kThreads, 0, stream>>>(workspace, static_cast<int>(splits), a.rows, NV, batch, y);
  GAPBENCH_CUDA_CHECK_LAUNCH();
}

}  // namespace

std::int64_t block_product_workspace_elements(ProductSide side, std::int64_t m, std::int64_t n,
                                              int nv, std::int64_t batch) {
  if (side == ProductSide::kMTranspose) return 0;
  const std::int64_t splits = direct_splits(m, n, batch);
  return splits == 1 ? 0 : splits * m * nv * batch;
}

template <typename Real>
void block_product(ProductSide side, const StridedMatrices<Real>& a,
                   const StridedBlocks<const Real>& x, const StridedBlocks<Real>& y, int nv,
                   std::int64_t batch, DeviceBuffer<Real>& workspace, cudaStream_t stream) {
  if (nv < 1 || nv > kMaxBlockProductVectors) {
    throw BackendError("block_product: blocks of 1 to 8 vectors, not " + std::to_string(nv));
  }
  if (batch > kMaxBatch) {
    throw BackendError("block_product: batches of at most 65535 matrices (a grid dimension), not " +
                       std::to_string(batch));
  }
  const std::int64_t out_rows = side == ProductSide::kM ? a.rows : a.cols;
  if (out_rows < 1 || batch < 1) return;
  if (a.rows < 1 || a.cols < 1) {  // an empty sum: Y = 0, as GEMM with k = 0 gives
    for (std::int64_t b = 0; b < batch; ++b) {
      GAPBENCH_CUDA_CHECK(cudaMemset2DAsync(y.data + b * y.stride, y.ld * sizeof(Real), 0,
                                            out_rows * sizeof(Real), nv, stream));
    }
    return;
  }
  const auto needed =
      static_cast<std::size_t>(block_product_workspace_elements(side, a.rows, a.cols, nv, batch));
  if (workspace.size() < needed) {
    // The old buffer may still be read by queued work: cudaFree waits for the device.
    workspace = DeviceBuffer<Real>();
    workspace = DeviceBuffer<Real>(needed);
  }
  with_block_width(nv, [&](auto width) {
    launch<Real, decltype(width)::value>(side, a, x, y, batch, workspace.data(), stream);
  });
}

template void block_product<float>(ProductSide, const StridedMatrices<float>&,
                                   const StridedBlocks<const float>&, const StridedBlocks<float>&,
                                   int, std::int64_t, DeviceBuffer<float>&, cudaStream_t);
template void block_product<double>(ProductSide, const StridedMatrices<double>&,
                                    const StridedBlocks<const double>&,
                                    const StridedBlocks<double>&, int, std::int64_t,
                                    DeviceBuffer<double>&, cudaStream_t);

template <typename Real>
std::vector<Real> block_product_on_device(const std::vector<Real>& m, std::int64_t rows,
                                          std::int64_t cols, std::int64_t lda, std::int64_t batch,
                                          const std::vector<Real>& x, std::int64_t ldx, int nv,
                                          bool transpose) {
  const std::int64_t out_rows = transpose ? cols : rows;
  Stream stream;
  DeviceBuffer<Real> dm(m.size()), dx(x.size()), workspace;
  DeviceBuffer<Real> dy(static_cast<std::size_t>(out_rows * nv * batch));
  GAPBENCH_CUDA_CHECK(
      cudaMemcpyAsync(dm.data(), m.data(), dm.bytes(), cudaMemcpyHostToDevice, stream.get()));
  GAPBENCH_CUDA_CHECK(
      cudaMemcpyAsync(dx.data(), x.data(), dx.bytes(), cudaMemcpyHostToDevice, stream.get()));
  // NaN bytes: an entry the kernels fail to write shows.
  GAPBENCH_CUDA_CHECK(cudaMemsetAsync(dy.data(), 0xff, dy.bytes(), stream.get()));
  block_product<Real>(transpose ? ProductSide::kMTranspose : ProductSide::kM,
                      {dm.data(), rows, cols, lda, lda * cols}, {dx.data(), ldx, ldx * nv},
                      {dy.data(), out_rows, out_rows * nv}, nv, batch, workspace, stream.get());
  return to_host(dy.data(), static_cast<std::int64_t>(dy.size()), stream.get());
}

template std::vector<float> block_product_on_device<float>(const std::vector<float>&, std::int64_t,
                                                           std::int64_t, std::int64_t, std::int64_t,
                                                           const std::vector<float>&, std::int64_t,
                                                           int, bool);
template std::vector<double> block_product_on_device<double>(const std::vector<double>&,
                                                             std::int64_t, std::int64_t,
                                                             std::int64_t, std::int64_t,
                                                             const std::vector<double>&,
                                                             std::int64_t, int, bool);

}  // namespace gapbench::cuda
