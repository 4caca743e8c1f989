#include "gapbench/solvers/iterative.hpp"

#include <algorithm>

#include "gapbench/error.hpp"
#include "gapbench/solvers/arnoldi.hpp"
#include "gapbench/solvers/lanczos.hpp"
#include "gapbench/solvers/rsvd.hpp"

namespace gapbench {

void check_iterative(const SolverOptions& options, Precision precision, std::int64_t dim,
                     int preferred_block) {
  if (options.kind == SolverKind::kLanczos) plan_lanczos(options, precision, dim, preferred_block);
  if (options.kind == SolverKind::kRsvd) plan_rsvd(options, precision, dim);
  if (options.kind == SolverKind::kArnoldi) plan_arnoldi(options, precision, dim);
}

std::int64_t iterative_workspace_elements(const SolverOptions& options, Precision precision,
                                          std::int64_t dim, int preferred_block) {
  if (options.kind == SolverKind::kLanczos) {
    return workspace_elements(plan_lanczos(options, precision, dim, preferred_block), dim, dim);
  }
  if (options.kind == SolverKind::kRsvd) {
    return workspace_elements(plan_rsvd(options, precision, dim), dim, dim);
  }
  if (options.kind == SolverKind::kArnoldi) {
    return workspace_elements(plan_arnoldi(options, precision, dim), dim);
  }
  return 0;
}

template <typename Real>
SolveResult solve_iterative(const LinearOperator<Real>& op, BlockOps<Real>& ops,
                            const SolverOptions& options, Precision precision, std::uint64_t seed,
                            int preferred_block) {
  const std::int64_t dim = std::min(op.rows(), op.cols());
  if (options.kind == SolverKind::kRsvd) {
    RsvdPlan plan = plan_rsvd(options, precision, dim);
    plan.seed = seed;
    return rsvd_top_k<Real>(op, ops, plan);
  }
  if (options.kind == SolverKind::kArnoldi) {
    ArnoldiPlan plan = plan_arnoldi(options, precision, dim);
    plan.seed = seed;
    return arnoldi_top_k<Real>(op, ops, plan);
  }
  if (options.kind != SolverKind::kLanczos) {
    throw Error("solve_iterative: " + to_string(options.kind) + " is not an iterative solver");
  }
  LanczosPlan plan = plan_lanczos(options, precision, dim, preferred_block);
  plan.seed = seed;
  return lanczos_top_k<Real>(op, ops, plan);
}

template SolveResult solve_iterative<float>(const LinearOperator<float>&, BlockOps<float>&,
                                            const SolverOptions&, Precision, std::uint64_t, int);
template SolveResult solve_iterative<double>(const LinearOperator<double>&, BlockOps<double>&,
                                             const SolverOptions&, Precision, std::uint64_t, int);

}  // namespace gapbench
