// A sweep plan: the axes of a width sweep, expanded into points (one PointSpec each) in a fixed
// order, T outermost so the cheap points finish first. The plan is stored in meta.json; a resumed
// sweep must have the same plan.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "gapbench/point.hpp"
#include "gapbench/sweep/reference.hpp"

namespace gapbench {

struct SweepPlan {
  std::vector<ModelKind> models{ModelKind::kMarkov};
  std::vector<std::int64_t> Ts{256, 512, 1024, 2048, 4096};
  std::vector<EntryLaw> laws{EntryLaw::kExponential};
  std::vector<double> betas{1.0};
  std::vector<std::int64_t> ds{64};
  std::vector<std::int64_t> dks{};  // empty: dk = d
  std::vector<InputKind> inputs{InputKind::kGaussian};
  std::vector<WeightInit> inits{WeightInit::kNormal};
  bool causal = false;
  std::vector<LogitsPrecision> logits{LogitsPrecision::kFull};
  std::vector<Fix> fixes{Fix::kNone};
  std::vector<Spectrum> spectra{Spectrum::kSingular};
  // Empty: each spectrum's default solver (default_solver); else the solvers tried for every
  // spectrum, each point taking those that compute its spectrum and apply to its model.
  std::vector<SolverKind> solvers{};
  std::vector<int> ks{4};
  std::vector<Precision> precisions{Precision::kFloat64};
  std::uint64_t seed = 0;
  std::int64_t seeds = 4;  // matrix indices 0 .. seeds-1
  // Solver settings (not axes).
  double tol = 0;
  int max_iter = 0;
  int block = 0;
  int basis = 0;
  int oversample = 0;
  int power_iters = 0;
  bool all_values = false;
  OperatorChoice op = OperatorChoice::kAuto;           // not an axis: auto picks per point
  ReferenceChoice reference = ReferenceChoice::kNone;  // --reference (reference.hpp)

  bool operator==(const SweepPlan&) const = default;
};

// The solver a point of `spectrum` takes when --solver is not given: lanczos for singular
// values; for eigenvalues the diagonal of causal attention (triangular), else arnoldi.
SolverKind default_solver(Spectrum spectrum, const ModelSpec& model);

// One expanded point with its ordinal in the plan (the `point` column of rows.csv).
struct PlannedPoint {
  int ordinal = 0;
  PointSpec spec;
};

// All points of the plan, validated (UsageError naming the flag on the first bad one).
std::vector<PlannedPoint> expand_plan(const SweepPlan& plan);

// Refuses flags that apply to none of the chosen models or solvers (`given`: the long names of
// the flags the user set, e.g. "--law").
void check_flags_apply(const SweepPlan& plan, const std::set<std::string>& given);

// The largest k of the plan (the number of s_i columns of rows.csv).
int max_k(const SweepPlan& plan);
// The number of lambda_i columns of rows.csv: the largest k of the plan's eigen points plus one
// (a conjugate pair is taken whole), capped by T; 0 without eigen points.
int max_eigen_values(const SweepPlan& plan);

nlohmann::json plan_to_json(const SweepPlan& plan);

// The top-level keys whose values differ between two stored plans (JSON objects), for the
// message refusing a resume with another plan; "(layout)" when no key differs.
std::string plan_differences(const nlohmann::json& a, const nlohmann::json& b);
SweepPlan plan_from_json(const nlohmann::json& j);  // throws UsageError on a malformed plan

}  // namespace gapbench
