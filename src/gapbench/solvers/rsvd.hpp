// Randomized subspace iteration with Rayleigh-Ritz (Halko, Martinsson & Tropp, "Finding structure
// with randomness", Algorithms 4.4 and 5.1) for the top k singular values of any LinearOperator
// on any backend's BlockOps.
//
// With l = k + oversample vectors: V = orth(Omega) from a Gaussian start block, U = orth(A V),
// then each iteration
//   Z = A^T U = V R   (V orthonormal; H = U^T A V = R^T comes from the coefficients, no pass)
//   Ritz pairs (s_i, U p_i, V q_i) from the SVD H = P S Q^T
//   Y = A V,  U = orth(Y)   (Y also gives the residuals of the Ritz pairs just formed)
// so an iteration costs exactly two passes over A, one block product with A^T and one with A, of
// l columns each. Value i converges about as (s_{l+1} / s_i)^(2 t) after t iterations: slowly at
// a bulk edge where s_k, ..., s_{l+1} cluster (lanczos then needs far fewer passes), fast when the
// spectrum decays.
//
// Residuals: ||(A v_i - s_i u_i, A^T u_i - s_i v_i)|| for the top k, formed from the products
// themselves (A v_i = Y q_i, A^T u_i = Z p_i), not from a recurrence that could drift, so the
// value tested for convergence is already the true residual of the returned values: no extra
// passes at the end, and residual_estimate == residual. Convergence: residual_i <= tol * s_i for
// the top k (or at the rounding floor, 10 eps s_1, for values too small
// to reach tol * s_i), as in lanczos.
//
// Small matrices (l x l) live on the host in float64; blocks only through BlockOps, so the same
// code runs on device memory. passes == 2 * iterations + 1 (the +1: A V of the start block).
#pragma once

#include <cstdint>

#include "gapbench/operator.hpp"
#include "gapbench/solvers/solver_types.hpp"

namespace gapbench {

struct RsvdPlan {
  int k = 4;
  int oversample = 8;  // p: the subspace holds l = k + p vectors
  double tol = 1e-8;
  int max_iter = kDefaultMaxIter;  // iterations, two passes each
  std::uint64_t seed = 0;          // start block: Philox stream kSolverStart, salt 0
};

// Fills in the defaults of `options` for an operator of min(rows, cols) = `dim`: oversample 0
// takes default_oversample(k), cut to dim - k when the subspace would not fit; tol 0 takes
// default_tol(precision); max_iter 0 takes kDefaultMaxIter. Throws UsageError naming --k or
// --oversample when k is out of 1..kMaxK or above dim, the oversampling is negative, or an
// explicit oversampling makes k + p exceed dim. The seed is left at 0 for the caller to set.
RsvdPlan plan_rsvd(const SolverOptions& options, Precision precision, std::int64_t dim);

// Elements of the blocks rsvd_top_k allocates through BlockOps for an operator of rows x cols
// (the memory plan counts them).
std::int64_t workspace_elements(const RsvdPlan& plan, std::int64_t rows, std::int64_t cols);

// Top plan.k singular values of `op` (descending), with iterations, passes (the growth of
// op.passes()), residual and converged (false when max_iter ran out first). Blocks are allocated
// through `ops`; all their work is finished when it returns.
template <typename Real>
SolveResult rsvd_top_k(const LinearOperator<Real>& op, BlockOps<Real>& ops, const RsvdPlan& plan);

}  // namespace gapbench
