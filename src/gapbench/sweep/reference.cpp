#include "gapbench/sweep/reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "gapbench/error.hpp"
#include "gapbench/names.hpp"

namespace gapbench {
namespace {
constexpr NameTable<ReferenceChoice, 2> kReferenceNames{
    {{"none", ReferenceChoice::kNone}, {"auto", ReferenceChoice::kAuto}}};

std::string key_of(const PointSpec& p) {
  return describe(p.model) + "/" + to_string(p.precision) + "/" + to_string(p.solver.kind) + "/" +
         std::to_string(p.solver.k);
}
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
  if (point.model.T <= kReferenceExactMaxT) {
    ref.solver.kind = SolverKind::kExact;
    ref.op = OperatorChoice::kDense;
  } else {
    ref.solver.kind = SolverKind::kLanczos;
    ref.solver.tol = kReferenceTol;
    ref.op = OperatorChoice::kAuto;  // fused where the dense float64 matrix does not fit
  }
  return ref;
}

ReferenceErrors reference_errors(const PointSpec& reference, const std::vector<double>& values,
                                 const std::vector<double>& reference_values) {
  ReferenceErrors e;
  e.reference = to_string(reference.solver.kind) + "/" + to_string(reference.precision);
  const std::size_t k = std::min(values.size(), reference_values.size());
  const auto rel = [&](std::size_t i) {
    return std::abs(values[i] - reference_values[i]) / std::abs(reference_values[i]);
  };
  for (std::size_t i = 0; i < k; ++i) e.max_rel_err = std::max(e.max_rel_err, rel(i));
  e.rel_err_s2 = k >= 2 ? rel(1) : std::numeric_limits<double>::quiet_NaN();
  return e;
}

const std::vector<double>& ReferenceCache::values(Backend& backend, const PointSpec& reference,
                                                  std::uint64_t seed, std::uint32_t index) {
  const auto key = std::make_tuple(key_of(reference), seed, index);
  auto it = m_values.find(key);
  if (it != m_values.end()) return it->second;
  const std::vector<MatrixOutcome> out = backend.run_batch(reference, seed, {index});
  if (out.size() != 1 || !out.front().solve.converged) {
    throw Error(
        fmt::format("--reference: the reference ({} {}) of matrix {} of {} did not converge",
                    to_string(reference.solver.kind), to_string(reference.precision), index,
                    describe(reference.model)));
  }
  return m_values[key] = out.front().solve.values;
}

}  // namespace gapbench
