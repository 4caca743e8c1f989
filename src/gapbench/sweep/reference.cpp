#include "gapbench/sweep/reference.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "gapbench/backend.hpp"
#include "gapbench/error.hpp"
#include "gapbench/names.hpp"
#include "gapbench/solvers/eigen_values.hpp"

namespace gapbench {
namespace {
constexpr NameTable<ReferenceChoice, 2> kReferenceNames{
    {{"none", ReferenceChoice::kNone}, {"auto", ReferenceChoice::kAuto}}};

// describe() names every field that changes the matrix (T, the model's parameters, fix, logits).
std::string key_of(const PointSpec& p) {
  return describe(p.model) + "/" + to_string(p.precision) + "/" + to_string(p.solver.spectrum) +
         "/" + to_string(p.solver.kind) + "/" + std::to_string(p.solver.k);
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

ReferenceChoice parse_reference(const std::string& s, const std::string& flag) {
  return parse_name(kReferenceNames, s, flag, "reference");
}
std::string to_string(ReferenceChoice v) { return name_of(kReferenceNames, v); }

PointSpec reference_point(const PointSpec& point) {
  PointSpec ref;
  ref.model = point.model;
  ref.model.logits = LogitsPrecision::kFull;
  ref.precision = Precision::kFloat64;
  ref.solver.k = point.solver.k;
  ref.solver.spectrum = point.solver.spectrum;
  ref.op = OperatorChoice::kDense;
  const bool eigen = point.solver.spectrum == Spectrum::kEigen;
  if (eigen && eigenvalues_are_diagonal(point.model)) {
    ref.solver.kind = SolverKind::kDiagonal;
  } else if (point.model.T <= kReferenceExactMaxT) {
    ref.solver.kind = SolverKind::kExact;
  } else {
    ref.solver.kind = eigen ? SolverKind::kArnoldi : SolverKind::kLanczos;
    ref.solver.tol = kReferenceTol;
  }
  return ref;
}

bool is_own_reference(const PointSpec& point) {
  // Only exact (and the diagonal): its values do not depend on solver options. A float64
  // lanczos row at its own tolerance is not the tol-1e-10 reference.
  const PointSpec ref = reference_point(point);
  const bool direct =
      ref.solver.kind == SolverKind::kExact || ref.solver.kind == SolverKind::kDiagonal;
  return direct && point.solver.kind == ref.solver.kind && point.precision == ref.precision &&
         point.model.logits == ref.model.logits;
}

ReferenceErrors reference_errors(const PointSpec& reference, const SolveResult& solve,
                                 const ReferenceValues& ref) {
  ReferenceErrors e;
  e.reference = to_string(reference.solver.kind) + "/" + to_string(reference.precision);
  if (is_iterative(reference.solver.kind)) {
    e.reference += fmt::format("/tol:{}", reference.solver.tol);
  }
  if (!ref.converged) e.reference += "/not-converged";
  const std::vector<double>& values = solve.values;
  const auto k = static_cast<std::size_t>(reference.solver.k);
  if (!ref.converged || values.size() < k || ref.values.size() < k) {
    e.max_rel_err = e.rel_err_s2 = kNaN;
    return e;
  }
  // Imaginary parts: none for singular values.
  const auto im = [](const std::vector<double>& v, std::size_t i) {
    return i < v.size() ? v[i] : 0.0;
  };
  const auto rel = [&](std::size_t i) {
    return std::hypot(values[i] - ref.values[i], im(solve.values_im, i) - im(ref.values_im, i)) /
           std::hypot(ref.values[i], im(ref.values_im, i));
  };
  for (std::size_t i = 0; i < k; ++i) e.max_rel_err = std::max(e.max_rel_err, rel(i));
  if (k >= 2) {
    const double got = std::hypot(values[1], im(solve.values_im, 1));
    const double want = std::hypot(ref.values[1], im(ref.values_im, 1));
    e.rel_err_s2 = std::abs(got - want) / want;
  } else {
    e.rel_err_s2 = kNaN;
  }
  return e;
}

const ReferenceValues& ReferenceCache::values(Backend& backend, const PointSpec& reference,
                                              std::uint64_t seed, std::uint32_t index) {
  const auto key = std::make_tuple(key_of(reference), seed, index);
  auto it = m_values.find(key);
  if (it != m_values.end()) return it->second;
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<MatrixOutcome> out = backend.run_batch(reference, seed, {index});
  m_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (out.size() != 1) {
    throw BackendError(fmt::format("--reference: the backend returned {} results for matrix {}",
                                   out.size(), index));
  }
  const SolveResult& solve = out.front().solve;
  return m_values[key] = {solve.values, solve.values_im, solve.converged};
}

}  // namespace gapbench
