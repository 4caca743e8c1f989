#include "gapbench/solvers/solver_types.hpp"

#include "gapbench/names.hpp"

namespace gapbench {

namespace {
constexpr NameTable<SolverKind, 7> kSolverNames{{{"exact", SolverKind::kExact},
                                                 {"lanczos", SolverKind::kLanczos},
                                                 {"rsvd", SolverKind::kRsvd},
                                                 {"xgesvdr", SolverKind::kXgesvdr},
                                                 {"gesvda", SolverKind::kGesvda},
                                                 {"arnoldi", SolverKind::kArnoldi},
                                                 {"diagonal", SolverKind::kDiagonal}}};
constexpr NameTable<Spectrum, 2> kSpectrumNames{
    {{"singular", Spectrum::kSingular}, {"eigen", Spectrum::kEigen}}};
}  // namespace

std::string to_string(SolverKind v) { return name_of(kSolverNames, v); }

SolverKind parse_solver(const std::string& s, const std::string& flag) {
  return parse_name(kSolverNames, s, flag, "solver",
                    " (xgesvdr and gesvda need --backend cuda; arnoldi and diagonal --spectrum eigen)");
}

std::string to_string(Spectrum v) { return name_of(kSpectrumNames, v); }

Spectrum parse_spectrum(const std::string& s, const std::string& flag) {
  return parse_name(kSpectrumNames, s, flag, "spectrum");
}

bool solves_spectrum(SolverKind kind, Spectrum spectrum) {
  if (kind == SolverKind::kExact) return true;
  const bool eigen = kind == SolverKind::kArnoldi || kind == SolverKind::kDiagonal;
  return eigen == (spectrum == Spectrum::kEigen);
}

bool is_iterative(SolverKind v) {
  return v == SolverKind::kLanczos || v == SolverKind::kRsvd || v == SolverKind::kArnoldi;
}

bool is_cuda_only(SolverKind v) { return v == SolverKind::kXgesvdr || v == SolverKind::kGesvda; }

int default_oversample(int k) { return k > 8 ? k : 8; }

double default_tol(Precision p) { return p == Precision::kFloat64 ? 1e-8 : 1e-4; }

}  // namespace gapbench
