#include "gapbench/solvers/solver_types.hpp"

#include "gapbench/names.hpp"

namespace gapbench {

namespace {
constexpr NameTable<SolverKind, 5> kSolverNames{{{"exact", SolverKind::kExact},
                                                 {"lanczos", SolverKind::kLanczos},
                                                 {"rsvd", SolverKind::kRsvd},
                                                 {"xgesvdr", SolverKind::kXgesvdr},
                                                 {"gesvda", SolverKind::kGesvda}}};
}  // namespace

std::string to_string(SolverKind v) { return name_of(kSolverNames, v); }

SolverKind parse_solver(const std::string& s, const std::string& flag) {
  return parse_name(kSolverNames, s, flag, "solver", " (the last two need --backend cuda)");
}

bool is_iterative(SolverKind v) { return v == SolverKind::kLanczos || v == SolverKind::kRsvd; }

bool is_cuda_only(SolverKind v) { return v == SolverKind::kXgesvdr || v == SolverKind::kGesvda; }

int default_oversample(int k) { return k > 8 ? k : 8; }

double default_tol(Precision p) { return p == Precision::kFloat64 ? 1e-8 : 1e-4; }

}  // namespace gapbench
