// The iterative solvers (lanczos, rsvd; arnoldi for eigenvalues) behind one call, for every backend: each backend brings
// its operator and block operations, this picks and plans the solver.
#pragma once

#include <cstdint>

#include "gapbench/operator.hpp"
#include "gapbench/solvers/solver_types.hpp"

namespace gapbench {

// Throws UsageError naming the flag when `options` (lanczos, rsvd or arnoldi) cannot work on an operator
// of min(rows, cols) = `dim`; does nothing for the other solvers.
void check_iterative(const SolverOptions& options, Precision precision, std::int64_t dim,
                     int preferred_block);

// Elements of the blocks the solver of `options` (lanczos, rsvd or arnoldi) allocates on a dim x dim
// operator; 0 for the other solvers.
std::int64_t iterative_workspace_elements(const SolverOptions& options, Precision precision,
                                          std::int64_t dim, int preferred_block);

// Runs options.kind (lanczos, rsvd or arnoldi) from the start block of Philox key `seed`.
// `preferred_block`: the backend's lanczos block when --block is not given.
template <typename Real>
SolveResult solve_iterative(const LinearOperator<Real>& op, BlockOps<Real>& ops,
                            const SolverOptions& options, Precision precision, std::uint64_t seed,
                            int preferred_block);

}  // namespace gapbench
