#include "gapbench/solvers/solver_types.hpp"

#include <fmt/format.h>

#include "gapbench/error.hpp"

namespace gapbench {

std::string to_string(SolverKind v) { return v == SolverKind::kExact ? "exact" : "lanczos"; }

SolverKind parse_solver(const std::string& s, const std::string& flag) {
  if (s == "exact") return SolverKind::kExact;
  if (s == "lanczos") return SolverKind::kLanczos;
  throw UsageError(fmt::format("{}: unknown solver '{}'; choose one of: exact, lanczos", flag, s));
}

double default_tol(Precision p) { return p == Precision::kFloat64 ? 1e-8 : 1e-4; }

}  // namespace gapbench
