// Restarted block Arnoldi (Krylov-Schur, real arithmetic) for the top k eigenvalues by modulus
// of a general real square LinearOperator, on any backend's BlockOps: it uses products with A
// only (op.apply), so it runs on the dense and the fused operators, CPU and GPU.
//
// The method keeps an orthonormal basis V (m vectors and a residual block of b) and the
// projected matrix H with
//   A V_m = V_m S + V_res B,
// S (m x m) block upper Hessenberg after the first fill and quasi-triangular in its leading
// `keep` columns after a restart, B (b x m) the last b rows of H. Each block Arnoldi step is one
// pass over A with b vectors and a full reorthogonalisation (block classical Gram-Schmidt
// twice); with b = 1 it is the classical single-vector method. When the basis is full,
// S = Q T Q^T is brought to real Schur form with the blocks ordered by modulus; the Ritz values
// are the eigenvalues of T, and the residual of Ritz pair (lambda, V Q z) is ||B Q z||
// (||z|| = 1). The leading `keep` Schur vectors and the residual block are kept (a conjugate pair
// is never split) and the expansion continues (Krylov-Schur restart, Stewart 2001; the block
// form as in Trilinos Anasazi's BlockKrylovSchur). Convergence is tested at each restart and,
// from the second failed test on, also at the step where the decay of the worst residual
// forecasts it (ArnoldiPlan::forecast), so a solve need not run on to the next restart. One more
// product at the end recomputes the residuals from the final Ritz vectors.
//
// Scale of the residual test: the issue asks for ||A x - lambda x|| <= tol s1, and s1 is not
// known to Arnoldi; it uses scale = max(|lambda_1|, the largest singular value of the projected
// (m + b) x m matrix, the largest seen), a lower bound of s1 (the Ritz matrix is a compression of
// A) that converges to it.
#pragma once

#include <cstdint>

#include "gapbench/operator.hpp"
#include "gapbench/solvers/solver_types.hpp"

namespace gapbench {

// Defaults of --block and --basis for arnoldi (docs/solvers.md, "arnoldi": measured).
inline constexpr int kArnoldiDefaultBlock = 1;
inline constexpr int kArnoldiDefaultBasis = 100;              // the smallest default basis
inline constexpr int kArnoldiLargeBasis = 300;                // the largest, from T = 4096 on
inline constexpr std::int64_t kArnoldiLargeBasisFrom = 4096;  // in between: T x 300 / 4096

struct ArnoldiPlan {
  int k = 4;
  int block = 1;    // b: vectors multiplied by A per pass
  int basis = 100;  // m: vectors in the basis before a restart (plus the residual block)
  int keep = 50;    // Schur vectors kept at a restart (one more where a pair would be split)
  double tol = 1e-8;
  int max_iter = 0;  // block Arnoldi steps (passes over A) before giving up
  // Test convergence also before the basis is full, at the step where the decay of the worst
  // residual between the last two failed tests predicts it (not only at restarts).
  bool forecast = true;
  std::uint64_t seed = 0;  // start vector: Philox stream kSolverStart, salt 0
};

// Fills in the defaults of `options` for a dim x dim operator. Throws UsageError naming --k,
// --basis or --max-iter when the sizes cannot work (k outside 1..kMaxK, T < k + 4, a basis
// that cannot hold k + 1 values and two more vectors, fewer steps than k + 2).
ArnoldiPlan plan_arnoldi(const SolverOptions& options, Precision precision, std::int64_t dim);

// Elements of the blocks arnoldi_top_k allocates through BlockOps on a dim x dim operator (the
// memory plan counts them).
std::int64_t workspace_elements(const ArnoldiPlan& plan, std::int64_t dim);

// The top k eigenvalues by modulus of the square operator `op` (values: real parts, values_im:
// imaginary parts, in the order of SolveResult: by modulus, descending, a conjugate pair
// adjacent with the positive imaginary part first and never split, so k + 1 values where the
// k-th opens a pair). passes: products with A; iterations: Arnoldi steps.
template <typename Real>
SolveResult arnoldi_top_k(const LinearOperator<Real>& op, BlockOps<Real>& ops,
                          const ArnoldiPlan& plan);

}  // namespace gapbench
