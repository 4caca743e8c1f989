#include "gapbench/solvers/solver_types.hpp"

#include <fmt/format.h>

#include "gapbench/error.hpp"

namespace gapbench {

std::string to_string(SolverKind v) {
  switch (v) {
    case SolverKind::kExact:
      return "exact";
    case SolverKind::kLanczos:
      return "lanczos";
    case SolverKind::kRsvd:
      return "rsvd";
    case SolverKind::kXgesvdr:
      return "xgesvdr";
    case SolverKind::kGesvda:
      return "gesvda";
  }
  return "?";
}

SolverKind parse_solver(const std::string& s, const std::string& flag) {
  for (const SolverKind v : {SolverKind::kExact, SolverKind::kLanczos, SolverKind::kRsvd,
                             SolverKind::kXgesvdr, SolverKind::kGesvda}) {
    if (s == to_string(v)) return v;
  }
  throw UsageError(fmt::format(
      "{}: unknown solver '{}'; choose one of: exact, lanczos, rsvd, xgesvdr, gesvda (the last "
      "two need --backend cuda)",
      flag, s));
}

bool is_iterative(SolverKind v) { return v == SolverKind::kLanczos || v == SolverKind::kRsvd; }

bool is_cuda_only(SolverKind v) { return v == SolverKind::kXgesvdr || v == SolverKind::kGesvda; }

int default_oversample(int k) { return k > 8 ? k : 8; }

double default_tol(Precision p) { return p == Precision::kFloat64 ? 1e-8 : 1e-4; }

}  // namespace gapbench
