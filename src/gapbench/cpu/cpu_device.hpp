// The CPU device: OpenMP generation, OpenBLAS products, LAPACKE for the exact SVD and the QR of
// propagate's inputs, host memory for everything. The reference every other device is compared
// with. Its stages (device.hpp) are CpuStages<float> and CpuStages<double> in cpu_device.cpp.
#pragma once

#include <memory>

#include "gapbench/device.hpp"
#include "gapbench/operator.hpp"

namespace gapbench::cpu {

// A dense row-major T x T matrix in host memory as a LinearOperator (OpenBLAS GEMM/GEMV).
template <typename Real>
class DenseOperator final : public LinearOperator<Real> {
 public:
  DenseOperator(const Real* a, std::int64_t rows, std::int64_t cols)
      : m_a(a), m_rows(rows), m_cols(cols) {}
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
};

// Block operations over host memory (OpenBLAS).
template <typename Real>
class HostBlockOps final : public BlockOps<Real> {
 public:
  Block<Real> allocate(std::int64_t rows, std::int64_t cols) override;
  void project(BlockView<const Real> v, BlockView<const Real> w, double* host_c) override;
  void update(BlockView<const Real> v, const double* host_c, double alpha, double beta,
              BlockView<Real> w) override;
  void fill_random(BlockView<Real> w, std::uint64_t seed, std::uint32_t salt) override;
  void copy(BlockView<const Real> src, BlockView<Real> dst) override;
};

// Top singular values of a dense row-major matrix (destroyed): LAPACK ?gesdd, values only.
template <typename Real>
SolveResult exact_singular_values(Real* a, std::int64_t rows, std::int64_t cols, int k,
                                  bool all_values);

// Solves one dense host matrix with the solver of `options` (exact, or lanczos/rsvd on the
// DenseOperator with the CPU's lanczos block), as the measurement loop does on the CPU device.
template <typename Real>
SolveResult solve_dense(Real* a, std::int64_t T, const SolverOptions& options, Precision precision,
                        std::uint64_t start_seed);

// The token statistics of a row-major T x d matrix in host memory (device.hpp, TokenStats):
// the CPU device's stage, and what the CUDA device runs on its downloaded X.
TokenStats token_stats(const double* x, std::int64_t T, std::int64_t d, double trace);

// Sets the OpenMP and OpenBLAS thread counts (0: all cores; kKeepThreads: leaves them as they
// are); returns the count in use.
int set_threads(int threads);
inline constexpr int kMaxThreads = 1024;
inline constexpr int kKeepThreads = -1;

// Lanczos block on the CPU's dense operator: OpenBLAS GEMV reads A at the memory floor, while a
// GEMM with 4 to 8 columns takes 2.5x to 4.5x as long per pass (T = 4096, float64, 2 cores).
inline constexpr int kDenseLanczosBlock = 1;
// Lanczos block on the fused operator: one tile of A serves the whole block, so a product costs
// about the same for 1 or 8 vectors.
inline constexpr int kFusedLanczosBlock = 8;

// The CPU device with `threads` threads (0: every core).
std::unique_ptr<Device> make_cpu_device(int threads);

}  // namespace gapbench::cpu
