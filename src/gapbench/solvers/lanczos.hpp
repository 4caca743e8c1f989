// Block Golub-Kahan-Lanczos bidiagonalisation with full reorthogonalisation and thick restarts,
// for the top k singular values of any LinearOperator on any backend's BlockOps.
//
// The method keeps orthonormal bases V (right) and U (left) and the projected matrix
// H = U^T A V, built from the orthogonalisation coefficients without extra passes:
//   A V = U H  and  A^T U = V H^T + V_next S E_last^T.
// Ritz values are the singular values of H; the residual of Ritz pair i is
// ||S P_last,i|| (P_last: last block rows of the left singular vectors of H). When the basis is
// full, the best `keep` Ritz pairs and V_next are kept and the expansion continues (thick
// restart). Blocks of b vectors make one pass over A serve b products and resolve clusters of up
// to b nearly equal values, such as s2, s3, ... at the bulk edge (relative gaps ~1e-3 at T=4096).
// Each block step costs one pass with A and one with A^T; two more passes at the end recompute
// the residuals from the final vectors.
#pragma once

#include <cstdint>

#include "gapbench/operator.hpp"
#include "gapbench/solvers/solver_types.hpp"

namespace gapbench {

struct LanczosPlan {
  int k = 4;
  int block = 4;
  int basis = 32;       // multiple of block
  int keep = 16;        // Ritz pairs kept at a restart; basis - keep is a multiple of block
  int check_every = 1;  // block steps between convergence tests
  double tol = 1e-8;
  int max_iter = kDefaultMaxIter;
  std::uint64_t seed = 0;  // start block: Philox stream kSolverStart
};

// Fills in the defaults of `options` for an operator of min(rows, cols) = `dim`; a block of 0
// takes the backend's `preferred_block` (1 on the CPU, where GEMV runs at the memory floor while
// skinny GEMMs do not). Throws UsageError (naming --k or --basis) when the sizes cannot work.
LanczosPlan plan_lanczos(const SolverOptions& options, Precision precision, std::int64_t dim,
                         int preferred_block);

// Elements of the blocks lanczos_top_k allocates through BlockOps for an operator of rows x cols
// (the memory plan counts them).
std::int64_t workspace_elements(const LanczosPlan& plan, std::int64_t rows, std::int64_t cols);

template <typename Real>
SolveResult lanczos_top_k(const LinearOperator<Real>& op, BlockOps<Real>& ops,
                          const LanczosPlan& plan);

}  // namespace gapbench
