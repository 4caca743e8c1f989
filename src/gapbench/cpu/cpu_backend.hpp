// The CPU backend: OpenMP generation, OpenBLAS products, LAPACKE for the exact SVD. The reference
// every other backend is compared with.
#pragma once

#include <memory>

#include "gapbench/backend.hpp"
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
  void apply(BlockView<const Real> x, BlockView<Real> y) const override;
  void apply_transpose(BlockView<const Real> x, BlockView<Real> y) const override;

 private:
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

// Solves one generated matrix with the solver of `options`.
template <typename Real>
SolveResult solve_dense(Real* a, std::int64_t T, const SolverOptions& options, Precision precision,
                        std::uint64_t start_seed);

// Sets the OpenMP and OpenBLAS thread counts (0: all cores); returns the count in use.
int set_threads(int threads);
inline constexpr int kMaxThreads = 1024;

// Throws UsageError naming --T when a dense T x T matrix of `precision` does not fit in the
// memory available (MemAvailable), with the largest T that would.
void check_dense_fits(std::int64_t T, Precision precision);

// The operator `point` runs with on the CPU: dense when asked (or for solvers that need the
// matrix), fused when asked, and for auto dense where the dense matrix fits in memory, else
// fused. Throws UsageError naming the flag when neither can run (--operator fused with
// --solver exact, a dense matrix or the fused factors past memory).
OperatorChoice resolve_operator(const PointSpec& point);

std::unique_ptr<Backend> make_cpu_backend(int threads);

}  // namespace gapbench::cpu
