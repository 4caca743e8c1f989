#include "gapbench/sweep/reference.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "gapbench/backend.hpp"
#include "gapbench/error.hpp"
#include "gapbench/names.hpp"

namespace gapbench {
namespace {
constexpr NameTable<ReferenceChoice, 2> kReferenceNames{
    {{"none", ReferenceChoice::kNone}, {"auto", ReferenceChoice::kAuto}}};

// describe() names every field that changes the matrix (T, the model's parameters, fix, logits).
std::string key_of(const PointSpec& p) {
  return describe(p.model) + "/" + to_string(p.precision) + "/" + to_string(p.solver.kind) + "/" +
         std::to_string(p.solver.k);
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
  ref.op = OperatorChoice::kDense;
  if (point.model.T <= kReferenceExactMaxT) {
    ref.solver.kind = SolverKind::kExact;
  } else {
    ref.solver.kind = SolverKind::kLanczos;
    ref.solver.tol = kReferenceTol;
  }
  return ref;
}

bool is_own_reference(const PointSpec& point) {
  // Only exact: its values do not depend on solver options. A float64 lanczos row at its own
  // tolerance is not the tol-1e-10 reference.
  const PointSpec ref = reference_point(point);
  return ref.solver.kind == SolverKind::kExact && point.solver.kind == SolverKind::kExact &&
         point.precision == ref.precision && point.model.logits == ref.model.logits;
}

ReferenceErrors reference_errors(const PointSpec& reference, const std::vector<double>& values,
                                 const ReferenceValues& ref) {
  ReferenceErrors e;
  e.reference = to_string(reference.solver.kind) + "/" + to_string(reference.precision);
  if (reference.solver.kind == SolverKind::kLanczos) {
    e.reference += fmt::format("/tol:{}", reference.solver.tol);
  }
  if (!ref.converged) e.reference += "/not-converged";
  const auto k = static_cast<std::size_t>(reference.solver.k);
  if (!ref.converged || values.size() < k || ref.values.size() < k) {
    e.max_rel_err = e.rel_err_s2 = kNaN;
    return e;
  }
  const auto rel = [&](std::size_t i) {
    return std::abs(values[i] - ref.values[i]) / std::abs(ref.values[i]);
  };
  for (std::size_t i = 0; i < k; ++i) e.max_rel_err = std::max(e.max_rel_err, rel(i));
  e.rel_err_s2 = k >= 2 ? rel(1) : kNaN;
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
  return m_values[key] = {out.front().solve.values, out.front().solve.converged};
}

}  // namespace gapbench
