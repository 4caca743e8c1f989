// The solvers' interfaces (src/gapbench/operator.hpp) over device memory: a dense row-major
// T x T matrix on the device as a LinearOperator (cuBLAS GEMV for one vector, the streaming
// kernels of block_product.cuh for blocks of up to 8, cuBLAS GEMM for wider ones),
// and BlockOps with cuBLAS. All work is queued on one stream; project() waits for its small
// result (the only host round trips of an iteration: the projected coefficients the solver's
// host-side Rayleigh-Ritz and orthogonalisation need).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "gapbench/operator.hpp"
#include "handles.cuh"
#include "resources.cuh"

namespace gapbench::cuda {

// Products are queued on the cuBLAS handle's stream.
template <typename Real>
class DeviceDenseOperator final : public LinearOperator<Real> {
 public:
  // Allocates the block products' scratch (workspace_elements) up front.
  DeviceDenseOperator(const Real* a, std::int64_t rows, std::int64_t cols, cublasHandle_t blas);
  // Device elements of the scratch the operator holds: the partial sums of A^T X for blocks of
  // up to kMaxBlockProductVectors (lanczos' final residuals take k columns whatever its block).
  static std::int64_t workspace_elements(std::int64_t rows, std::int64_t cols);
  std::int64_t rows() const override { return m_rows; }
  std::int64_t cols() const override { return m_cols; }
  void apply(BlockView<const Real> x, BlockView<Real> y) const override {
    product(x, y, /*transpose=*/false);
  }
  void apply_transpose(BlockView<const Real> x, BlockView<Real> y) const override {
    product(x, y, /*transpose=*/true);
  }

 private:
  // Y = A X, or A^T X with `transpose` (one pass over A).
  void product(BlockView<const Real> x, BlockView<Real> y, bool transpose) const;

  const Real* m_a;
  std::int64_t m_rows, m_cols;
  cublasHandle_t m_blas;
  mutable DeviceBuffer<Real> m_workspace;  // block_product's partial sums
};

template <typename Real>
class DeviceBlockOps final : public BlockOps<Real> {
 public:
  DeviceBlockOps(cudaStream_t stream, cublasHandle_t blas) : m_stream(stream), m_blas(blas) {}
  Block<Real> allocate(std::int64_t rows, std::int64_t cols) override;
  void project(BlockView<const Real> v, BlockView<const Real> w, double* host_c) override;
  void update(BlockView<const Real> v, const double* host_c, double alpha, double beta,
              BlockView<Real> w) override;
  void fill_random(BlockView<Real> w, std::uint64_t seed, std::uint32_t salt) override;
  void copy(BlockView<const Real> src, BlockView<Real> dst) override;
  void synchronize() override;

 private:
  // Device scratch for a small p x q coefficient matrix, grown on demand.
  Real* small(std::size_t count);

  cudaStream_t m_stream;
  cublasHandle_t m_blas;
  DeviceBuffer<Real> m_small;
  PinnedBuffer<Real> m_staging;  // project(): device to host, read after a stream sync
  PinnedBuffer<Real> m_upload;   // update(): host to device, rewritten once m_uploaded has passed
  Event m_uploaded;
};

// Device bytes that BlockOps::allocate takes for a rows x cols block (for memory planning).
template <typename Real>
constexpr std::int64_t block_bytes(std::int64_t rows, std::int64_t cols) {
  return rows * cols * static_cast<std::int64_t>(sizeof(Real));
}

}  // namespace gapbench::cuda
