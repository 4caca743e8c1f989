// Sweeps: axis parsing, plan expansion and applicability, the plan's JSON round trip, resuming an
// interrupted sweep through run_sweep, and the .npy writer.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gapbench/error.hpp"
#include "gapbench/npy.hpp"
#include "gapbench/sweep/plan.hpp"
#include "gapbench/sweep/range.hpp"
#include "gapbench/sweep/results.hpp"
#include "gapbench/sweep/rows.hpp"
#include "gapbench/sweep/runner.hpp"
#include "gapbench/sweep/shard.hpp"
#include "gapbench/text.hpp"
#include "test_support.hpp"

namespace gapbench {
namespace {
namespace fs = std::filesystem;
using test::read_rows_csv;
using test::TempDir;
using test::write_text;

// Runs `f`, expecting a UsageError whose message starts with `flag`; returns the message.
template <typename F>
std::string expect_usage_error(F f, const std::string& flag) {
  try {
    f();
  } catch (const UsageError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(flag, 0), 0u) << "message: " << what;
    return what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected UsageError, got: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected UsageError naming " << flag << ", nothing thrown";
  return {};
}

// ---- axis parsing ----------------------------------------------------------------------------

struct IntAxisCase {
  const char* text;
  std::vector<std::int64_t> expected;
};

void PrintTo(const IntAxisCase& c, std::ostream* os) { *os << c.text; }

class IntAxis : public ::testing::TestWithParam<IntAxisCase> {};

TEST_P(IntAxis, Expands) { EXPECT_EQ(parse_int_axis(GetParam().text, "--T"), GetParam().expected); }

INSTANTIATE_TEST_SUITE_P(Valid, IntAxis,
                         ::testing::Values(IntAxisCase{"256:4096:x2", {256, 512, 1024, 2048, 4096}},
                                           IntAxisCase{"256:5000:x2", {256, 512, 1024, 2048, 4096}},
                                           IntAxisCase{"256:4096:*4", {256, 1024, 4096}},
                                           IntAxisCase{"100:400:+100", {100, 200, 300, 400}},
                                           IntAxisCase{"1024", {1024}},
                                           IntAxisCase{"256,1000,64", {256, 1000, 64}},
                                           IntAxisCase{"64,256:1024:x2", {64, 256, 512, 1024}},
                                           IntAxisCase{"7:7:x2", {7}}, IntAxisCase{"1e3", {1000}}));

struct RealAxisCase {
  const char* text;
  std::vector<double> expected;
};

void PrintTo(const RealAxisCase& c, std::ostream* os) { *os << c.text; }

class RealAxis : public ::testing::TestWithParam<RealAxisCase> {};

TEST_P(RealAxis, Expands) {
  const std::vector<double> got = parse_real_axis(GetParam().text, "--beta");
  ASSERT_EQ(got.size(), GetParam().expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    // start + i * step with exact binary steps here: equal to rounding (1e-15).
    EXPECT_NEAR(got[i], GetParam().expected[i], 1e-15) << "value " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Valid, RealAxis,
                         ::testing::Values(RealAxisCase{"0.5:2:+0.5", {0.5, 1.0, 1.5, 2.0}},
                                           RealAxisCase{"0.25:2:x2", {0.25, 0.5, 1.0, 2.0}},
                                           RealAxisCase{"0.5,1,1.3108", {0.5, 1.0, 1.3108}},
                                           RealAxisCase{"0.5:1:+0.25,2", {0.5, 0.75, 1.0, 2.0}}));

struct BadAxisCase {
  const char* name;
  const char* text;
  bool integer;  // parse_int_axis("--T") or parse_real_axis("--beta")
};

void PrintTo(const BadAxisCase& c, std::ostream* os) { *os << c.name << " '" << c.text << "'"; }

class BadAxis : public ::testing::TestWithParam<BadAxisCase> {};

TEST_P(BadAxis, ThrowsUsageErrorNamingTheFlag) {
  const BadAxisCase& c = GetParam();
  const std::string flag = c.integer ? "--T" : "--beta";
  expect_usage_error(
      [&] {
        if (c.integer) {
          parse_int_axis(c.text, flag);
        } else {
          parse_real_axis(c.text, flag);
        }
      },
      flag + ":");
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, BadAxis,
    ::testing::Values(
        BadAxisCase{"Empty", "", true}, BadAxisCase{"Word", "abc", true},
        BadAxisCase{"DoubleComma", "64,,128", true}, BadAxisCase{"TrailingComma", "64,", true},
        BadAxisCase{"LeadingComma", ",64", true}, BadAxisCase{"LeadingSpace", " 64", true},
        BadAxisCase{"TwoParts", "1:2", true}, BadAxisCase{"FourParts", "1:2:x2:4", true},
        BadAxisCase{"NoStep", "1:2:", true}, BadAxisCase{"FactorMissing", "1:8:x", true},
        BadAxisCase{"StepMissing", "1:8:+", true}, BadAxisCase{"EmptyRange", "256:128:x2", true},
        BadAxisCase{"EndlessFactorOne", "256:4096:x1", true},
        BadAxisCase{"EndlessFactorBelowOne", "256:4096:x0.5", true},
        BadAxisCase{"EndlessZeroStep", "256:4096:+0", true},
        BadAxisCase{"EndlessNegativeStep", "256:4096:+-1", true},
        BadAxisCase{"GeometricFromZero", "0:4096:x2", true},
        BadAxisCase{"NotAnInteger", "1.5", true},
        BadAxisCase{"RangeOfNonIntegers", "1:2:+0.5", true}, BadAxisCase{"TooLarge", "1e20", true},
        BadAxisCase{"TooManyPoints", "1:200001:+1", true},
        BadAxisCase{"NanRange", "nan:2:+1", false}, BadAxisCase{"InfiniteStop", "1:inf:+1", false},
        BadAxisCase{"RealEmpty", "", false}, BadAxisCase{"RealEmptyRange", "2:1:+0.5", false},
        BadAxisCase{"RealEndless", "0.5:2:+0", false}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(NameList, SplitsAndRefusesEmptyItems) {
  EXPECT_EQ(parse_name_list("markov,attention", "--model"),
            (std::vector<std::string>{"markov", "attention"}));
  expect_usage_error([] { parse_name_list("", "--model"); }, "--model:");
  expect_usage_error([] { parse_name_list("markov,", "--model"); }, "--model:");
  expect_usage_error([] { parse_name_list("markov,,attention", "--model"); }, "--model:");
}

// ---- plan expansion and applicability ---------------------------------------------------------

TEST(ExpandPlan, DefaultPlanIsOnePointPerT) {
  const std::vector<PlannedPoint> points = expand_plan(SweepPlan{});
  ASSERT_EQ(points.size(), 5u);
  const std::int64_t Ts[] = {256, 512, 1024, 2048, 4096};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(points[i].ordinal, i);
    EXPECT_EQ(points[i].spec.model.T, Ts[i]);
    EXPECT_EQ(points[i].spec.model.kind, ModelKind::kMarkov);
    EXPECT_EQ(points[i].spec.model.law, EntryLaw::kExponential);
    EXPECT_EQ(points[i].spec.solver.kind, SolverKind::kLanczos);
    EXPECT_EQ(points[i].spec.solver.k, 4);
  }
}

TEST(ExpandPlan, CountsEveryCombinationWithTOutermost) {
  SweepPlan plan;
  plan.Ts = {64, 128};
  plan.models = {ModelKind::kMarkov, ModelKind::kAttention};
  plan.laws = {EntryLaw::kLognormal, EntryLaw::kExponential};
  plan.betas = {0.5, 1.0};
  plan.ds = {16, 32};
  plan.fixes = {Fix::kNone, Fix::kCenter};
  plan.precisions = {Precision::kFloat32, Precision::kFloat64};
  plan.ks = {2, 4};
  // Per T: markov = lognormal x 2 betas + exponential (beta unused) = 3; attention = 2 d x
  // 2 betas = 4; times 2 fixes x 2 precisions x 2 k = 8: 56 per T, 112 in all.
  const std::vector<PlannedPoint> points = expand_plan(plan);
  ASSERT_EQ(points.size(), 112u);
  std::set<std::string> seen;
  for (std::size_t i = 0; i < points.size(); ++i) {
    EXPECT_EQ(points[i].ordinal, static_cast<int>(i));
    EXPECT_EQ(points[i].spec.model.T, i < 56 ? 64 : 128) << "point " << i;
    std::ostringstream key;
    key << describe(points[i].spec.model) << ' ' << to_string(points[i].spec.precision) << ' '
        << points[i].spec.solver.k;
    EXPECT_TRUE(seen.insert(key.str()).second) << "duplicate point " << key.str();
  }
  int markov = 0;
  for (const auto& p : points) markov += p.spec.model.kind == ModelKind::kMarkov;
  EXPECT_EQ(markov, 2 * 3 * 8);
}

TEST(ExpandPlan, RefusesImpossiblePointsNamingTheFlag) {
  SweepPlan plan;
  plan.Ts = {256};
  plan.ks = {300};
  expect_usage_error([&] { expand_plan(plan); }, "--k:");
  plan.ks = {4};
  plan.Ts = {1};
  expect_usage_error([&] { expand_plan(plan); }, "--T:");
  plan.Ts = {64};
  plan.models = {ModelKind::kAttention};
  plan.inputs = {InputKind::kIsometric};
  plan.ds = {32};
  expect_usage_error([&] { expand_plan(plan); }, "--d:");
  plan.inputs = {InputKind::kGaussian};
  plan.ds = {0};
  expect_usage_error([&] { expand_plan(plan); }, "--d:");
  plan.ds = {16};
  plan.betas = {0.0};
  expect_usage_error([&] { expand_plan(plan); }, "--beta:");
  plan.models = {ModelKind::kMarkov};
  plan.laws = {EntryLaw::kLognormal};
  plan.betas = {std::numeric_limits<double>::quiet_NaN()};
  expect_usage_error([&] { expand_plan(plan); }, "--beta:");
  plan.betas = {1.0};
  plan.seeds = 0;
  expect_usage_error([&] { expand_plan(plan); }, "--seeds:");
}

TEST(ExpandPlan, BetaIsIgnoredWhereNoModelUsesIt) {
  SweepPlan plan;
  plan.Ts = {64};
  plan.laws = {EntryLaw::kExponential};
  plan.betas = {0.0};  // would be refused for lognormal or attention
  EXPECT_EQ(expand_plan(plan).size(), 1u);
}

struct ApplicabilityCase {
  const char* name;
  std::vector<ModelKind> models;
  std::vector<EntryLaw> laws;
  std::vector<SolverKind> solvers;
  const char* flag;
  bool refused;
};

void PrintTo(const ApplicabilityCase& c, std::ostream* os) { *os << c.name; }

class FlagApplicability : public ::testing::TestWithParam<ApplicabilityCase> {};

TEST_P(FlagApplicability, RefusesFlagsThatApplyToNoChosenModel) {
  const ApplicabilityCase& c = GetParam();
  SweepPlan plan;
  plan.models = c.models;
  plan.laws = c.laws;
  plan.solvers = c.solvers;
  const std::set<std::string> given = {c.flag};
  if (c.refused) {
    expect_usage_error([&] { check_flags_apply(plan, given); }, std::string(c.flag) + ":");
  } else {
    EXPECT_NO_THROW(check_flags_apply(plan, given));
  }
}

const auto kMarkovOnly = std::vector<ModelKind>{ModelKind::kMarkov};
const auto kAttentionOnly = std::vector<ModelKind>{ModelKind::kAttention};
const auto kBothModels = std::vector<ModelKind>{ModelKind::kMarkov, ModelKind::kAttention};
const auto kExponential = std::vector<EntryLaw>{EntryLaw::kExponential};
const auto kLognormal = std::vector<EntryLaw>{EntryLaw::kLognormal};
const auto kLanczos = std::vector<SolverKind>{SolverKind::kLanczos};
const auto kExact = std::vector<SolverKind>{SolverKind::kExact};

INSTANTIATE_TEST_SUITE_P(
    Flags, FlagApplicability,
    ::testing::Values(
        ApplicabilityCase{"LawWithAttentionOnly", kAttentionOnly, kExponential, kLanczos, "--law",
                          true},
        ApplicabilityCase{"LawWithMarkov", kMarkovOnly, kExponential, kLanczos, "--law", false},
        ApplicabilityCase{"LawWithBoth", kBothModels, kExponential, kLanczos, "--law", false},
        ApplicabilityCase{"DWithMarkovOnly", kMarkovOnly, kExponential, kLanczos, "--d", true},
        ApplicabilityCase{"DkWithMarkovOnly", kMarkovOnly, kExponential, kLanczos, "--dk", true},
        ApplicabilityCase{"InputWithMarkovOnly", kMarkovOnly, kLognormal, kLanczos, "--input",
                          true},
        ApplicabilityCase{"CausalWithMarkovOnly", kMarkovOnly, kLognormal, kLanczos, "--causal",
                          true},
        ApplicabilityCase{"DWithAttention", kAttentionOnly, kExponential, kLanczos, "--d", false},
        ApplicabilityCase{"BetaWithMarkovExponential", kMarkovOnly, kExponential, kLanczos,
                          "--beta", true},
        ApplicabilityCase{"BetaWithMarkovLognormal", kMarkovOnly, kLognormal, kLanczos, "--beta",
                          false},
        ApplicabilityCase{"BetaWithAttention", kAttentionOnly, kExponential, kLanczos, "--beta",
                          false},
        ApplicabilityCase{"TolWithExactOnly", kMarkovOnly, kExponential, kExact, "--tol", true},
        ApplicabilityCase{"BlockWithExactOnly", kMarkovOnly, kExponential, kExact, "--block", true},
        ApplicabilityCase{"TolWithLanczos", kMarkovOnly, kExponential, kLanczos, "--tol", false}),
    [](const auto& info) { return std::string(info.param.name); });

// ---- the plan in meta.json -------------------------------------------------------------------

SweepPlan unusual_plan() {
  SweepPlan p;
  p.models = {ModelKind::kAttention, ModelKind::kMarkov};
  p.Ts = {100, 300};
  p.laws = {EntryLaw::kUniform, EntryLaw::kLognormal};
  p.betas = {0.1, 1.3108};
  p.ds = {8, 512};
  p.dks = {4};
  p.inputs = {InputKind::kIsometric};
  p.inits = {WeightInit::kFanIn, WeightInit::kNormal};
  p.causal = true;
  p.fixes = {Fix::kCenter};
  p.solvers = {SolverKind::kExact, SolverKind::kLanczos};
  p.ks = {1, 7};
  p.precisions = {Precision::kFloat32};
  p.seed = 0xfedcba9876543210ULL;
  p.seeds = 9;
  p.tol = 3e-9;
  p.max_iter = 17;
  p.block = 3;
  p.basis = 51;
  p.all_values = true;
  p.oversample = 5;
  p.power_iters = 6;
  p.logits = {LogitsPrecision::kBf16, LogitsPrecision::kFull};
  p.op = OperatorChoice::kFused;
  p.reference = ReferenceChoice::kAuto;
  return p;
}

TEST(PlanJson, RoundTripsEveryField) {
  const SweepPlan p = unusual_plan();
  const nlohmann::json j = plan_to_json(p);
  // Through text, as meta.json stores it.
  const SweepPlan q = plan_from_json(nlohmann::json::parse(j.dump(2)));
  EXPECT_EQ(plan_to_json(q), j);
  EXPECT_EQ(q.models, p.models);
  EXPECT_EQ(q.Ts, p.Ts);
  EXPECT_EQ(q.laws, p.laws);
  EXPECT_EQ(q.betas, p.betas);
  EXPECT_EQ(q.ds, p.ds);
  EXPECT_EQ(q.dks, p.dks);
  EXPECT_EQ(q.inputs, p.inputs);
  EXPECT_EQ(q.inits, p.inits);
  EXPECT_EQ(q.causal, p.causal);
  EXPECT_EQ(q.fixes, p.fixes);
  EXPECT_EQ(q.solvers, p.solvers);
  EXPECT_EQ(q.ks, p.ks);
  EXPECT_EQ(q.precisions, p.precisions);
  EXPECT_EQ(q.seed, p.seed);
  EXPECT_EQ(q.seeds, p.seeds);
  EXPECT_EQ(q.tol, p.tol);
  EXPECT_EQ(q.max_iter, p.max_iter);
  EXPECT_EQ(q.block, p.block);
  EXPECT_EQ(q.basis, p.basis);
  EXPECT_EQ(q.all_values, p.all_values);
  EXPECT_EQ(q.oversample, p.oversample);
  EXPECT_EQ(q.logits, p.logits);
  EXPECT_EQ(q.op, p.op);
  EXPECT_EQ(q.power_iters, p.power_iters);
  EXPECT_EQ(q.reference, p.reference);
}

// meta.json written before rsvd and xgesvdr existed has no oversample or power_iters: such a
// plan reads with the defaults (0), so those sweeps still resume.
TEST(PlanJson, PlanWithoutTheNewerSolverKeysReadsWithDefaults) {
  nlohmann::json j = plan_to_json(SweepPlan{});
  j.erase("oversample");
  j.erase("power_iters");
  j.erase("logits");
  j.erase("operator");
  j.erase("reference");
  const SweepPlan q = plan_from_json(j);
  EXPECT_EQ(q.oversample, 0);
  EXPECT_EQ(q.power_iters, 0);
  EXPECT_EQ(q.logits, std::vector<LogitsPrecision>{LogitsPrecision::kFull});
  EXPECT_EQ(q.op, OperatorChoice::kDense);  // those sweeps ran on the dense matrix
  EXPECT_EQ(q.reference, ReferenceChoice::kNone);
  SweepPlan want;
  want.op = OperatorChoice::kDense;
  EXPECT_EQ(plan_to_json(q), plan_to_json(want));
}

TEST(PlanJson, MalformedPlanIsAUsageErrorNamingResume) {
  nlohmann::json j = plan_to_json(SweepPlan{});
  j.erase("T");
  expect_usage_error([&] { plan_from_json(j); }, "--resume:");
  j = plan_to_json(SweepPlan{});
  j["seeds"] = "four";
  expect_usage_error([&] { plan_from_json(j); }, "--resume:");
  j = plan_to_json(SweepPlan{});
  j["models"] = nlohmann::json::array({"foo"});
  EXPECT_THROW(plan_from_json(j), UsageError);
}

// ---- resuming an interrupted sweep ------------------------------------------------------------

SweepRequest small_sweep(const fs::path& out) {
  SweepRequest req;
  req.plan.Ts = {64, 128};
  req.plan.seeds = 3;
  req.out = out;
  req.backend = BackendChoice::kCpu;
  req.command_line = "test_sweep";
  return req;
}

// A resume of the sweep in `dir` with the plan stored there.
SweepRequest resume_request(const fs::path& dir) {
  SweepRequest resume;
  resume.resume = dir;
  resume.plan_given = false;
  resume.backend = BackendChoice::kCpu;
  resume.command_line = "test_sweep --resume";
  return resume;
}

// The rows of a rows.csv without the timing columns (which differ from run to run), checking
// that every line is whole and that no (point, index) repeats.
std::multiset<std::string> rows_without_timings(const fs::path& rows_csv) {
  const std::string text = read_file(rows_csv);
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "last line is torn";
  const std::vector<std::string> lines = split_lines(text);
  const std::vector<std::string> header = split(lines.at(0), ',');
  std::set<std::size_t> timing;
  std::size_t point_col = 0, index_col = 0;
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == "generate_s" || header[i] == "solve_s") timing.insert(i);
    if (header[i] == "point") point_col = i;
    if (header[i] == "index") index_col = i;
  }
  EXPECT_EQ(timing.size(), 2u);
  std::multiset<std::string> rows;
  std::set<std::pair<std::string, std::string>> keys;
  for (std::size_t l = 1; l < lines.size(); ++l) {
    const std::vector<std::string> f = split(lines[l], ',');
    EXPECT_EQ(f.size(), header.size()) << "line " << l << ": " << lines[l];
    if (f.size() != header.size()) continue;
    EXPECT_TRUE(keys.insert({f[point_col], f[index_col]}).second)
        << "duplicate (point, index) = (" << f[point_col] << ", " << f[index_col] << ")";
    std::string row;
    for (std::size_t i = 0; i < f.size(); ++i) {
      if (!timing.count(i)) row += f[i] + ',';
    }
    rows.insert(row);
  }
  return rows;
}

TEST(SweepResume, ResumedSweepEqualsAnUninterruptedOne) {
  TempDir tmp;
  std::ostringstream out;
  ASSERT_EQ(run_sweep(small_sweep(tmp.path() / "full"), out), 0);
  const auto full = rows_without_timings(tmp.path() / "full" / "rows.csv");
  ASSERT_EQ(full.size(), 6u);  // 2 T x 3 seeds

  const fs::path cut = tmp.path() / "cut";
  ASSERT_EQ(run_sweep(small_sweep(cut), out), 0);
  // Simulate an interruption: the header, two whole rows and half of the third.
  const std::vector<std::string> lines = split_lines(read_file(cut / "rows.csv"));
  ASSERT_EQ(lines.size(), 7u);
  write_text(cut / "rows.csv", lines[0] + '\n' + lines[1] + '\n' + lines[2] + '\n' +
                                   lines[3].substr(0, lines[3].size() / 2));

  ASSERT_EQ(run_sweep(resume_request(cut), out), 0);
  EXPECT_EQ(rows_without_timings(cut / "rows.csv"), full);

  const nlohmann::json meta = nlohmann::json::parse(read_file(cut / "meta.json"));
  EXPECT_EQ(meta.at("status"), "complete");
  EXPECT_EQ(meta.at("rows"), 6);
  EXPECT_EQ(meta.at("resumes").size(), 1u);
  EXPECT_EQ(meta.at("plan"), plan_to_json(small_sweep(cut).plan));
}

// The same with --reference: the reference columns are written and survive the resume.
TEST(SweepResume, ResumedSweepWithReferenceEqualsAnUninterruptedOne) {
  TempDir tmp;
  std::ostringstream out;
  SweepRequest full_req = small_sweep(tmp.path() / "full");
  full_req.plan.reference = ReferenceChoice::kAuto;
  ASSERT_EQ(run_sweep(full_req, out), 0);
  const auto full = rows_without_timings(tmp.path() / "full" / "rows.csv");
  ASSERT_EQ(full.size(), 6u);

  SweepRequest cut_req = small_sweep(tmp.path() / "cut");
  cut_req.plan.reference = ReferenceChoice::kAuto;
  ASSERT_EQ(run_sweep(cut_req, out), 0);
  const fs::path cut = tmp.path() / "cut";
  const std::vector<std::string> lines = split_lines(read_file(cut / "rows.csv"));
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_NE(lines[0].find(",reference,max_rel_err,rel_err_s2"), std::string::npos) << lines[0];
  write_text(cut / "rows.csv", lines[0] + '\n' + lines[1] + '\n' + lines[2].substr(0, 10));
  ASSERT_EQ(run_sweep(resume_request(cut), out), 0);
  EXPECT_EQ(rows_without_timings(cut / "rows.csv"), full);
}

// The typed rows: every line a sweep writes parses back (parse_row) into the row that formats to
// the same line; a field that does not parse is refused naming its column.
TEST(SweepRows, EveryLineRoundTripsThroughTheTypedRow) {
  TempDir tmp;
  std::ostringstream out;
  SweepRequest req = small_sweep(tmp.path() / "rows");
  req.plan.reference = ReferenceChoice::kAuto;
  ASSERT_EQ(run_sweep(req, out), 0);
  const std::vector<std::string> lines = split_lines(read_file(tmp.path() / "rows" / "rows.csv"));
  ASSERT_GE(lines.size(), 3u);
  const std::vector<std::string> header = split(lines[0], ',');
  int kmax = 0;
  while (std::find(header.begin(), header.end(), "s" + std::to_string(kmax + 1)) != header.end()) {
    ++kmax;
  }
  ASSERT_GT(kmax, 0);
  EXPECT_EQ(header, row_columns(kmax, /*with_reference=*/true));
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> f = split(lines[i], ',');
    ASSERT_EQ(f.size(), header.size()) << lines[i];
    RowFields fields;
    for (std::size_t c = 0; c < header.size(); ++c) fields[header[c]] = f[c];
    const SweepRow row = parse_row(fields);
    EXPECT_TRUE(row.errors.has_value());
    EXPECT_EQ(format_row(row, kmax), lines[i] + '\n');
    for (const char* bad : {"T", "s1", "solver", "converged"}) {
      RowFields broken = fields;
      broken[bad] = "x" + broken[bad];
      try {
        parse_row(broken);
        ADD_FAILURE() << "column " << bad << " = '" << broken[bad] << "' was accepted";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
      }
    }
  }
}

TEST(SweepResume, DuplicateRowsAreKeptOnce) {
  TempDir tmp;
  std::ostringstream out;
  const fs::path dir = tmp.path() / "dup";
  ASSERT_EQ(run_sweep(small_sweep(dir), out), 0);
  const auto full = rows_without_timings(dir / "rows.csv");
  const std::vector<std::string> lines = split_lines(read_file(dir / "rows.csv"));
  std::string text;
  for (const auto& l : lines) text += l + '\n';
  text += lines[1] + '\n';  // the first row again
  write_text(dir / "rows.csv", text);
  const SweepRequest resume = resume_request(dir);
  ASSERT_EQ(run_sweep(resume, out), 0);
  EXPECT_EQ(rows_without_timings(dir / "rows.csv"), full);
}

TEST(SweepResume, RowsThatDoNotParseOrLieOutsideThePlanAreRecomputed) {
  TempDir tmp;
  std::ostringstream out;
  const fs::path dir = tmp.path() / "damaged";
  ASSERT_EQ(run_sweep(small_sweep(dir), out), 0);
  const auto full = rows_without_timings(dir / "rows.csv");
  std::vector<std::string> lines = split_lines(read_file(dir / "rows.csv"));
  // Row 1 gets a point that is not a number, row 2 an index past the plan's 3 seeds: both are
  // dropped and recomputed, neither aborts the resume (review: std::stoi threw here).
  std::vector<std::string> f1 = split(lines[1], ','), f2 = split(lines[2], ','),
                           f3 = split(lines[3], ',');
  f1[0] = "x1";
  f2[1] = "99";
  // Row 3 keeps its key but holds an s1 and a solver that parse_row refuses (check_row).
  const std::vector<std::string> header = split(lines[0], ',');
  const auto column = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  f3.at(column("s1")) = "1.2.3";
  f3.at(column("solver")) = "bogus";
  const auto join = [](const std::vector<std::string>& f) {
    std::string line;
    for (std::size_t i = 0; i < f.size(); ++i) line += (i ? "," : "") + f[i];
    return line;
  };
  std::string text = lines[0] + '\n' + join(f1) + '\n' + join(f2) + '\n' + join(f3) + '\n';
  for (std::size_t i = 4; i < lines.size(); ++i) text += lines[i] + '\n';
  write_text(dir / "rows.csv", text);
  const SweepRequest resume = resume_request(dir);
  ASSERT_EQ(run_sweep(resume, out), 0);
  EXPECT_EQ(rows_without_timings(dir / "rows.csv"), full);
}

TEST(SweepResume, ADirectoryInUseIsRefused) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "busy";
  // Holding a created directory (as a running sweep does) locks it against a resume.
  const RowsLayout layout{.columns = row_columns(4)};
  ResultsDir held = ResultsDir::create(dir, false, layout, false, nlohmann::json{{"plan", {}}});
  try {
    ResultsDir::resume(dir, layout, false, 1, 1);
    FAIL() << "a directory in use was resumed";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
  }
}

TEST(SweepResume, ResumingWithADifferentPlanIsRefused) {
  TempDir tmp;
  std::ostringstream out;
  const fs::path dir = tmp.path() / "sweep";
  ASSERT_EQ(run_sweep(small_sweep(dir), out), 0);
  const std::string rows_before = read_file(dir / "rows.csv");
  const std::string meta_before = read_file(dir / "meta.json");

  SweepRequest other;
  other.resume = dir;
  other.plan = small_sweep(dir).plan;
  other.plan.Ts = {64, 256};
  other.plan_given = true;
  other.backend = BackendChoice::kCpu;
  const std::string what = expect_usage_error([&] { run_sweep(other, out); }, "--resume:");
  EXPECT_NE(what.find("T"), std::string::npos) << "should say which key differs: " << what;
  EXPECT_EQ(read_file(dir / "rows.csv"), rows_before);
  EXPECT_EQ(read_file(dir / "meta.json"), meta_before);

  // The same plan given again is accepted (and has nothing left to do).
  SweepRequest same;
  same.resume = dir;
  same.plan = small_sweep(dir).plan;
  same.plan_given = true;
  same.backend = BackendChoice::kCpu;
  EXPECT_EQ(run_sweep(same, out), 0);
  EXPECT_EQ(rows_without_timings(dir / "rows.csv").size(), 6u);
}

TEST(SweepResume, RefusesResumeWithOutOrAPlainDirectory) {
  TempDir tmp;
  std::ostringstream out;
  SweepRequest req;
  req.resume = tmp.path();  // no meta.json
  req.plan_given = false;
  req.backend = BackendChoice::kCpu;
  expect_usage_error([&] { run_sweep(req, out); }, "--resume:");
  req.out = tmp.path() / "elsewhere";
  expect_usage_error([&] { run_sweep(req, out); }, "--resume:");
  EXPECT_FALSE(fs::exists(tmp.path() / "elsewhere"));
}

// ---- what a resume keeps: every row checked, rejects kept with their reason ---------------

// The files of a directory (not the lock) and their contents: what "nothing touched" compares.
std::map<std::string, std::string> directory_files(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    if (e.path().filename() != ".gapbench.lock") {
      files[e.path().filename().string()] = read_file(e.path());
    }
  }
  return files;
}

// rows.csv's lines with one field of line `line` (1: the first row) set to `text`.
std::string with_field(const std::vector<std::string>& lines, std::size_t line,
                       const std::string& column, const std::string& text) {
  const std::vector<std::string> header = split(lines.at(0), ',');
  std::vector<std::string> f = split(lines.at(line), ',');
  f.at(static_cast<std::size_t>(std::find(header.begin(), header.end(), column) - header.begin())) =
      text;
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) out += (i == line ? csv_line(f) : lines[i] + '\n');
  return out;
}

struct RejectCase {
  const char* name;
  // rows.csv's text made from the lines (header first) of a finished sweep
  std::string (*edit)(const std::vector<std::string>& lines);
  const char* reason;  // the class in the reason column and on stderr
};

class SweepRejects : public ::testing::TestWithParam<RejectCase> {};

// Each kind of bad row moves to rows.rejected.csv (leading reason column, the line as it was),
// stderr counts it by reason, and the resume computes it again: the rows equal an uninterrupted
// run's.
TEST_P(SweepRejects, BadRowsMoveToRejectsAndAreComputedAgain) {
  TempDir tmp;
  std::ostringstream out;
  const fs::path dir = tmp.path() / "sweep";
  ASSERT_EQ(run_sweep(small_sweep(dir), out), 0);
  const auto full = rows_without_timings(dir / "rows.csv");
  const std::vector<std::string> lines = split_lines(read_file(dir / "rows.csv"));
  const std::string edited = GetParam().edit(lines);
  write_text(dir / "rows.csv", edited);
  ::testing::internal::CaptureStderr();
  const int code = run_sweep(resume_request(dir), out);
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(code, 0) << err;
  EXPECT_EQ(rows_without_timings(dir / "rows.csv"), full);
  EXPECT_NE(err.find(fmt::format("1 {}", GetParam().reason)), std::string::npos) << err;
  EXPECT_NE(err.find("rows.rejected.csv"), std::string::npos) << err;
  const std::vector<std::string> rejected = split_lines(read_file(dir / kRowsRejected));
  ASSERT_EQ(rejected.size(), 2u) << read_file(dir / kRowsRejected);
  EXPECT_EQ(rejected[0], "reason," + lines[0]);
  EXPECT_EQ(rejected[1].rfind(GetParam().reason, 0), 0u) << rejected[1];
  // The rejected line is kept as it was, after the reason.
  const std::string kept = rejected[1].substr(rejected[1].find(',') + 1);
  EXPECT_NE(edited.find(kept), std::string::npos) << kept;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SweepRejects,
    ::testing::Values(
        RejectCase{"NanValue", [](const auto& l) { return with_field(l, 1, "s2", "nan"); },
                   "nonfinite"},
        RejectCase{"InfMetric", [](const auto& l) { return with_field(l, 2, "gap", "-inf"); },
                   "nonfinite"},
        RejectCase{"EmptyValueOfAnOkRow", [](const auto& l) { return with_field(l, 2, "s3", ""); },
                   "nonfinite"},
        RejectCase{"IndexOutsideThePlan",
                   [](const auto& l) { return with_field(l, 1, "index", "7"); }, "key"},
        RejectCase{"EditedT", [](const auto& l) { return with_field(l, 1, "T", "100"); }, "plan"},
        RejectCase{"EditedSeed", [](const auto& l) { return with_field(l, 3, "seed", "5"); },
                   "plan"},
        RejectCase{"ByteFlippedSolver",
                   [](const auto& l) { return with_field(l, 4, "solver", "lancz0s"); }, "field"},
        RejectCase{"NotANumber", [](const auto& l) { return with_field(l, 1, "gap", "abc"); },
                   "field"},
        RejectCase{"UnknownStatus",
                   [](const auto& l) { return with_field(l, 1, "status", "fine"); }, "field"},
        RejectCase{"Duplicate",
                   [](const auto& l) {
                     std::string t;
                     for (const auto& x : l) t += x + '\n';
                     return t + l[2] + '\n';
                   },
                   "duplicate"},
        RejectCase{"MissingField",
                   [](const auto& l) {
                     std::string t = l[0] + '\n' + l[1].substr(0, l[1].rfind(',')) + '\n';
                     for (std::size_t i = 2; i < l.size(); ++i) t += l[i] + '\n';
                     return t;
                   },
                   "columns"},
        RejectCase{"TornLastLine",
                   [](const auto& l) {
                     std::string t;
                     for (std::size_t i = 0; i + 1 < l.size(); ++i) t += l[i] + '\n';
                     return t + l.back().substr(0, 20);
                   },
                   "torn"}),
    [](const auto& info) { return std::string(info.param.name); });

struct RefusalCase {
  const char* name;
  void (*edit)(const fs::path& dir);
  const char* message;  // a part of the one-line refusal
};

class SweepResumeRefusals : public ::testing::TestWithParam<RefusalCase> {};

nlohmann::json read_meta_json(const fs::path& dir) {
  return nlohmann::json::parse(read_file(dir / "meta.json"));
}
void write_meta_json(const fs::path& dir, const nlohmann::json& meta) {
  write_text(dir / "meta.json", meta.dump(2));
}
// meta.json with the value at JSON pointer `pointer` replaced.
void set_meta(const fs::path& dir, const std::string& pointer, const nlohmann::json& value) {
  nlohmann::json meta = read_meta_json(dir);
  meta[nlohmann::json::json_pointer(pointer)] = value;
  write_meta_json(dir, meta);
}

// A directory that is not what it says is refused (UsageError naming --resume and the file), and
// nothing in it is touched: no row dropped, no file rewritten.
TEST_P(SweepResumeRefusals, RefusesAndTouchesNothing) {
  TempDir tmp;
  std::ostringstream out;
  const fs::path dir = tmp.path() / "sweep";
  ASSERT_EQ(run_sweep(small_sweep(dir), out), 0);
  GetParam().edit(dir);
  const auto before = directory_files(dir);
  const std::string what =
      expect_usage_error([&] { run_sweep(resume_request(dir), out); }, "--resume:");
  EXPECT_NE(what.find(GetParam().message), std::string::npos) << what;
  EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  EXPECT_EQ(directory_files(dir), before);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SweepResumeRefusals,
    ::testing::Values(
        RefusalCase{"GarbledHeader",
                    [](const fs::path& d) {
                      const std::string t = read_file(d / "rows.csv");
                      write_text(d / "rows.csv", "pint" + t.substr(5));
                    },
                    "rows.csv: the header is not the one this plan writes (column 1 is 'pint'"},
        RefusalCase{"MetaNotJson",
                    [](const fs::path& d) { write_text(d / "meta.json", "{\"plan\": "); },
                    "meta.json is not valid JSON"},
        RefusalCase{"MetaPlanNotAnObject", [](const fs::path& d) { set_meta(d, "/plan", 3); },
                    "has no plan object"},
        RefusalCase{"MetaResumesNotAnArray",
                    [](const fs::path& d) { set_meta(d, "/resumes", "none"); },
                    "\"resumes\" is not an array"},
        RefusalCase{"MetaThreadsNotAnInteger",
                    [](const fs::path& d) { set_meta(d, "/threads", "2"); },
                    "\"threads\" is not an integer"},
        RefusalCase{"UnknownSchema",
                    [](const fs::path& d) { set_meta(d, "/schema", "gapbench.sweep/9"); },
                    "was written with schema \"gapbench.sweep/9\""},
        // Lowering seeds used to delete the finished rows past it; the hash refuses the edit.
        RefusalCase{"EditedPlanSeeds", [](const fs::path& d) { set_meta(d, "/plan/seeds", 2); },
                    "the plan was edited"},
        RefusalCase{"EditedPlanHash",
                    [](const fs::path& d) { set_meta(d, "/plan_hash", "0123456789abcdef"); },
                    "plan_hash says 0123456789abcdef"},
        RefusalCase{"NoMeta", [](const fs::path& d) { fs::remove(d / "meta.json"); },
                    "start it again with --out"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(PlanHash, IsFnv1aOfTheCanonicalDump) {
  // FNV-1a 64 of "" is the offset basis; of "a", the published value.
  EXPECT_EQ(plan_hash(nlohmann::json::parse("\"\"")).size(), 16u);
  EXPECT_EQ(plan_hash(nlohmann::json("a")), plan_hash(nlohmann::json::parse("\"a\"")));
  // Keys sorted, no spaces: the same plan written in another order hashes the same.
  EXPECT_EQ(plan_hash(nlohmann::json::parse(R"({"b": 1, "a": [1.5, 2]})")),
            plan_hash(nlohmann::json::parse(R"({"a":[1.5,2],"b":1})")));
  EXPECT_NE(plan_hash(nlohmann::json::parse(R"({"seeds": 3})")),
            plan_hash(nlohmann::json::parse(R"({"seeds": 2})")));
  const SweepPlan plan = small_sweep("x").plan;
  EXPECT_EQ(plan_hash(plan_to_json(plan)),
            plan_hash(plan_to_json(plan_from_json(plan_to_json(plan)))));
}

TEST(PlanHash, KnownValue) {
  // FNV-1a 64 of the two characters "{}" (the dump of an empty object), also computed here
  // and by Python for the constant.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const unsigned char c : std::string("{}")) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  EXPECT_EQ(plan_hash(nlohmann::json::object()), fmt::format("{:016x}", h));
  EXPECT_EQ(plan_hash(nlohmann::json::object()), "08f44b07b5901a25");
}

// --threads is a run attribute: stored in meta.json (not in the plan or its hash) and reused by
// a resume that does not give it, so the resumed rows repeat the first run's to the last bit.
TEST(SweepResume, ReusesTheStoredThreads) {
  TempDir tmp;
  std::ostringstream out;
  const fs::path dir = tmp.path() / "threads";
  SweepRequest req = small_sweep(dir);
  req.threads = 1;
  ASSERT_EQ(run_sweep(req, out), 0);
  nlohmann::json meta = read_meta_json(dir);
  EXPECT_EQ(meta.at("threads"), 1);
  EXPECT_FALSE(meta.at("plan").contains("threads"));
  const std::vector<std::string> lines = split_lines(read_file(dir / "rows.csv"));
  write_text(dir / "rows.csv", lines[0] + '\n' + lines[1] + '\n');
  SweepRequest resume = resume_request(dir);
  resume.threads = 0;  // the default: every core, unless the stored threads are reused
  resume.threads_given = false;
  ASSERT_EQ(run_sweep(resume, out), 0);
  meta = read_meta_json(dir);
  EXPECT_EQ(meta.at("resumes").at(0).at("threads"), 1);
  // Given, --threads wins.
  write_text(dir / "rows.csv", lines[0] + '\n' + lines[1] + '\n');
  resume.threads = 2;
  resume.threads_given = true;
  ASSERT_EQ(run_sweep(resume, out), 0);
  meta = read_meta_json(dir);
  EXPECT_EQ(meta.at("resumes").at(1).at("threads"), 2);
  EXPECT_EQ(meta.at("threads"), 1);
}

// ---- the non-finite guard -----------------------------------------------------------------

MatrixOutcome finite_outcome() {
  MatrixOutcome o;
  o.index = 0;
  o.solve.values = {1.01, 0.2, 0.15, 0.1};
  o.solve.converged = true;
  o.solve.residual = o.solve.residual_estimate = 1e-10;
  o.sums = {1.2, 0.2};
  return o;
}

struct GuardCase {
  const char* name;
  void (*spoil)(MatrixOutcome& o);
  RowStatus status;
};

class NonfiniteGuard : public ::testing::TestWithParam<GuardCase> {};

// A NaN or Inf in the matrix (its Frobenius sums) or in its values makes a failed row: its
// status says which, it has no values, converged 0, and no "nan" or "inf" is written.
TEST_P(NonfiniteGuard, MakesAFailedRowWithoutNanInRowsCsv) {
  const std::vector<PlannedPoint> points = expand_plan(small_sweep("x").plan);
  MatrixOutcome o = finite_outcome();
  GetParam().spoil(o);
  const SweepRow row = make_row(0, 0, points[0].spec, "cpu", o);
  EXPECT_EQ(row.status, GetParam().status);
  EXPECT_FALSE(row.outcome.solve.converged);
  EXPECT_TRUE(row.outcome.solve.values.empty());
  const std::string line = format_row(row, 4);
  for (const char* bad : {"nan", "inf", "NaN", "Inf"}) {
    EXPECT_EQ(line.find(bad), std::string::npos) << line;
  }
  EXPECT_NE(line.find("," + to_string(GetParam().status) + ","), std::string::npos) << line;
  // It reads back as the failed row it is, and a resume keeps it (it is what the plan writes).
  const std::vector<std::string> columns = row_columns(4);
  const std::vector<std::string> f = split(line.substr(0, line.size() - 1), ',');
  RowFields fields;
  for (std::size_t i = 0; i < columns.size(); ++i) fields[columns[i]] = f.at(i);
  EXPECT_EQ(parse_row(fields).status, GetParam().status);
  EXPECT_EQ(row_problem(fields, 0, points[0].spec, 0, 0, 4), "");
  // With --reference the runner gives a failed row empty reference columns: the row keeps the
  // header's column count, so a resume keeps it instead of computing it forever.
  SweepRow with_reference = row;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  with_reference.errors = ReferenceErrors{"", nan, nan};
  const std::string ref_line = format_row(with_reference, 4);
  const std::vector<std::string> ref_columns = row_columns(4, /*with_reference=*/true);
  const std::vector<std::string> g = split(ref_line.substr(0, ref_line.size() - 1), ',');
  ASSERT_EQ(g.size(), ref_columns.size()) << ref_line;
  RowFields ref_fields;
  for (std::size_t i = 0; i < ref_columns.size(); ++i) ref_fields[ref_columns[i]] = g[i];
  EXPECT_EQ(row_problem(ref_fields, 0, points[0].spec, 0, 0, 4), "");
}

INSTANTIATE_TEST_SUITE_P(Cases, NonfiniteGuard,
                         ::testing::Values(GuardCase{"NanInTheMatrix",
                                                     [](MatrixOutcome& o) {
                                                       o.sums.frob_sq =
                                                           std::numeric_limits<double>::quiet_NaN();
                                                     },
                                                     RowStatus::kNonfiniteMatrix},
                                           GuardCase{"InfInTheMatrix",
                                                     [](MatrixOutcome& o) {
                                                       o.sums.frob_perp_sq =
                                                           std::numeric_limits<double>::infinity();
                                                     },
                                                     RowStatus::kNonfiniteMatrix},
                                           GuardCase{"NanValue",
                                                     [](MatrixOutcome& o) {
                                                       o.solve.values[1] =
                                                           std::numeric_limits<double>::quiet_NaN();
                                                     },
                                                     RowStatus::kNonfiniteValues},
                                           GuardCase{"InfValue",
                                                     [](MatrixOutcome& o) {
                                                       o.solve.values[0] =
                                                           std::numeric_limits<double>::infinity();
                                                     },
                                                     RowStatus::kNonfiniteValues}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(NonfiniteGuard, FinitePassesAsOk) {
  const std::vector<PlannedPoint> points = expand_plan(small_sweep("x").plan);
  const SweepRow row = make_row(0, 0, points[0].spec, "cpu", finite_outcome());
  EXPECT_EQ(row.status, RowStatus::kOk);
  EXPECT_EQ(row.outcome.solve.values.size(), 4u);
  EXPECT_DOUBLE_EQ(row.metrics.gap, 1.01 - 0.2);
}

// The summary counts failed rows in its own column, leaves them out of the means, and warns.
TEST(NonfiniteGuard, SummaryCountsFailedRowsOutsideTheMeans) {
  const std::vector<PlannedPoint> points = expand_plan(small_sweep("x").plan);
  std::vector<SweepRow> rows;
  for (std::uint32_t i = 0; i < 3; ++i) {
    MatrixOutcome o = finite_outcome();
    o.index = i;
    if (i == 2) o.solve.values[0] = std::numeric_limits<double>::quiet_NaN();
    rows.push_back(make_row(0, 0, points[0].spec, "cpu", o));
  }
  const std::string table = summary_table(rows);
  EXPECT_NE(table.find("failed"), std::string::npos) << table;
  EXPECT_NE(table.find("1.01±0"), std::string::npos) << "mean of the two ok rows: " << table;
  EXPECT_NE(table.find(" 1!"), std::string::npos) << table;
  EXPECT_NE(table.find("2/2"), std::string::npos) << "converged among the rows solved: " << table;
  EXPECT_NE(table.find("WARNING: 1 rows failed (1 nonfinite-values"), std::string::npos) << table;
  EXPECT_EQ(table.find("nan"), std::string::npos) << table;
}

// ---- dead ends: a start that died before its first row ------------------------------------

// A start killed before meta.json was renamed into place leaves the lock and meta.json.tmp:
// --resume without the plan's flags is refused (there is no plan to continue) and says to give
// them; --resume with them starts it afresh there, and so does --out without --force.
TEST(SweepDeadEnd, NoMetaIsStartedAfreshWithTheFlags) {
  TempDir tmp;
  std::ostringstream out;
  ASSERT_EQ(run_sweep(small_sweep(tmp.path() / "full"), out), 0);
  const auto full = rows_without_timings(tmp.path() / "full" / "rows.csv");
  for (const bool resume : {true, false}) {
    const fs::path dir = tmp.path() / (resume ? "dead-resume" : "dead-out");
    fs::create_directories(dir);
    write_text(dir / ".gapbench.lock", "");
    write_text(dir / "meta.json.tmp", "{\"schema\": \"gapbench.sw");
    const std::string what =
        expect_usage_error([&] { run_sweep(resume_request(dir), out); }, "--resume:");
    EXPECT_NE(what.find("holds no results and no plan"), std::string::npos) << what;
    EXPECT_NE(what.find("give the sweep's flags with --resume"), std::string::npos) << what;
    EXPECT_TRUE(fs::exists(dir / "meta.json.tmp")) << "the refusal touched the directory";
    SweepRequest again = small_sweep(dir);
    if (resume) {
      again.out.reset();
      again.resume = dir;
    }
    ASSERT_EQ(run_sweep(again, out), 0);
    EXPECT_FALSE(fs::exists(dir / "meta.json.tmp"));
    EXPECT_EQ(rows_without_timings(dir / "rows.csv"), full) << dir;
  }
}

// A directory that is not gapbench's (no lock file) is never taken for a dead end.
TEST(SweepDeadEnd, PlainDirectoryIsNotResumed) {
  TempDir tmp;
  std::ostringstream out;
  const fs::path dir = tmp.path() / "plain";
  fs::create_directories(dir);
  SweepRequest req = small_sweep(dir);
  req.out.reset();
  req.resume = dir;
  const std::string what = expect_usage_error([&] { run_sweep(req, out); }, "--resume:");
  EXPECT_NE(what.find("start it again with --out " + dir.string()), std::string::npos) << what;
  EXPECT_TRUE(fs::is_empty(dir));
}

// meta.json written, rows.csv empty or holding part of its header: --resume completes it (equal
// to an uninterrupted run), and so does --out without --force.
TEST(SweepDeadEnd, HeaderOnlyRowsResumeAndReuse) {
  TempDir tmp;
  std::ostringstream out;
  ASSERT_EQ(run_sweep(small_sweep(tmp.path() / "full"), out), 0);
  const auto full = rows_without_timings(tmp.path() / "full" / "rows.csv");
  for (const std::string& rows : {std::string(), std::string("point,ind")}) {
    for (const bool resume : {true, false}) {
      const fs::path dir = tmp.path() / fmt::format("dead{}{}", rows.size(), resume);
      ASSERT_EQ(run_sweep(small_sweep(dir), out), 0);
      write_text(dir / "rows.csv", rows);
      write_text(dir / "meta.json.tmp", "{");
      ASSERT_EQ(run_sweep(resume ? resume_request(dir) : small_sweep(dir), out), 0);
      EXPECT_EQ(rows_without_timings(dir / "rows.csv"), full) << dir;
      EXPECT_FALSE(fs::exists(dir / "meta.json.tmp"));
    }
  }
}

// --out onto a directory with no rows but another plan's meta.json is refused, untouched.
TEST(SweepDeadEnd, OutOntoAnotherPlanIsRefused) {
  TempDir tmp;
  std::ostringstream out;
  const fs::path dir = tmp.path() / "other";
  ASSERT_EQ(run_sweep(small_sweep(dir), out), 0);
  write_text(dir / "rows.csv", "");
  const auto before = directory_files(dir);
  SweepRequest other = small_sweep(dir);
  other.plan.Ts = {64};
  const std::string what = expect_usage_error([&] { run_sweep(other, out); }, "--out:");
  EXPECT_NE(what.find("another plan"), std::string::npos) << what;
  EXPECT_EQ(directory_files(dir), before);
  // A directory with rows is refused too, whatever its plan.
  ASSERT_EQ(run_sweep(small_sweep(tmp.path() / "rows"), out), 0);
  expect_usage_error([&] { run_sweep(small_sweep(tmp.path() / "rows"), out); }, "--out:");
}

// A directory a live run holds is "in use", said before "exists already".
TEST(SweepCreate, ADirectoryInUseIsSaidFirst) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "busy";
  const RowsLayout layout{.columns = row_columns(4)};
  const nlohmann::json meta{{"plan", {{"T", 1}}}};
  ResultsDir held = ResultsDir::create(dir, false, layout, false, meta);
  const std::string what =
      expect_usage_error([&] { ResultsDir::create(dir, false, layout, false, meta); }, "--out:");
  EXPECT_NE(what.find("in use by another gapbench run"), std::string::npos) << what;
}

// Two runs started on one new directory at once: exactly one creates it, the other is refused.
TEST(SweepCreate, TwoStartsAtOnceCreateItOnce) {
  TempDir tmp;
  const RowsLayout layout{.columns = row_columns(4)};
  const nlohmann::json meta{{"plan", {{"T", 1}}}};
  for (int round = 0; round < 20; ++round) {
    const fs::path dir = tmp.path() / fmt::format("race{}", round);
    std::vector<std::optional<ResultsDir>> made(2);
    std::vector<std::string> errors(2);
    std::vector<std::thread> starts;
    for (int i = 0; i < 2; ++i) {
      starts.emplace_back([&, i] {
        try {
          made[i].emplace(ResultsDir::create(dir, false, layout, false, meta));
        } catch (const UsageError& e) {
          errors[i] = e.what();
        }
      });
    }
    for (std::thread& t : starts) t.join();
    EXPECT_EQ(made[0].has_value() + made[1].has_value(), 1) << errors[0] << " | " << errors[1];
  }
}

// ---- --reference: each row's error against float64 exact (or lanczos past its reach) ------

// Up to kReferenceExactMaxT the reference is float64 exact, past it float64 lanczos at tol 1e-10.
// Bounds: float64 lanczos at its default tol agrees with either to rounding (~1e-15, asked
// 1e-12); float32 solves carry the float32 matrix's rounding (~1e-7 relative per entry: errors
// of 1e-8 to 1e-6 on s1..s4), so they must show an error above 1e-10 (a reference that is the
// row's own values would give 0) and below 1e-5.
TEST(SweepReference, RowsCarryTheirErrorsAgainstTheReference) {
  TempDir tmp;
  SweepRequest req = small_sweep(tmp.path() / "ref");
  req.plan.Ts = {64, kReferenceExactMaxT + 4};
  req.plan.seeds = 1;
  req.plan.precisions = {Precision::kFloat64, Precision::kFloat32};
  req.plan.reference = ReferenceChoice::kAuto;
  std::ostringstream out;
  ASSERT_EQ(run_sweep(req, out), 0);
  EXPECT_NE(out.str().find("max rel err"), std::string::npos) << out.str();
  const auto rows = read_rows_csv(tmp.path() / "ref" / "rows.csv");
  ASSERT_EQ(rows.size(), 4u);
  for (const auto& r : rows) {
    SCOPED_TRACE("T = " + r.at("T") + ", " + r.at("precision"));
    const bool small = std::stoll(r.at("T")) <= kReferenceExactMaxT;
    EXPECT_EQ(r.at("reference"), small ? "exact/float64" : "lanczos/float64/tol:1e-10");
    const double max_err = std::stod(r.at("max_rel_err")), s2_err = std::stod(r.at("rel_err_s2"));
    EXPECT_LE(s2_err, max_err);
    if (r.at("precision") == "float64") {
      EXPECT_LE(max_err, 1e-12);
    } else {
      EXPECT_GT(max_err, 1e-10);
      EXPECT_LE(max_err, 1e-5);
    }
  }
}

// Two models at the same T share nothing: each row is measured against its own model's reference
// (a cache that mixed them would give errors of order 1), k = 1 leaves rel_err_s2 empty, and the
// float64 exact rows are their own reference (error 0, not solved twice).
TEST(SweepReference, EachModelAgainstItsOwnReferenceAndKOfOne) {
  TempDir tmp;
  SweepRequest req = small_sweep(tmp.path() / "two");
  req.plan.models = {ModelKind::kMarkov, ModelKind::kAttention};
  req.plan.Ts = {64};
  req.plan.ds = {16};
  req.plan.seeds = 2;
  req.plan.ks = {1, 4};
  req.plan.solvers = {SolverKind::kLanczos, SolverKind::kExact};
  req.plan.reference = ReferenceChoice::kAuto;
  std::ostringstream out;
  ASSERT_EQ(run_sweep(req, out), 0);
  const auto rows = read_rows_csv(tmp.path() / "two" / "rows.csv");
  ASSERT_EQ(rows.size(), 16u);  // 2 models x 2 k x 2 solvers x 2 seeds
  for (const auto& r : rows) {
    SCOPED_TRACE(r.at("model") + " k=" + r.at("k") + " " + r.at("solver"));
    const double err = std::stod(r.at("max_rel_err"));
    EXPECT_LE(err, 1e-12);
    if (r.at("solver") == "exact") {
      EXPECT_EQ(err, 0.0);
    }
    EXPECT_EQ(r.at("rel_err_s2").empty(), r.at("k") == "1");
  }
  const nlohmann::json meta = nlohmann::json::parse(read_file(tmp.path() / "two" / "meta.json"));
  EXPECT_GT(meta.at("reference_seconds").get<double>(), 0.0);
}

// Only float64 exact with full logits up to the exact cap is its own reference; lanczos at its
// own tolerance is not the tol-1e-10 reference, float32 is not float64.
TEST(SweepReference, OwnReferenceIsFloat64ExactOnly) {
  PointSpec p;
  p.model.T = 64;
  p.precision = Precision::kFloat64;
  p.solver.kind = SolverKind::kExact;
  EXPECT_TRUE(is_own_reference(p));
  p.precision = Precision::kFloat32;
  EXPECT_FALSE(is_own_reference(p));
  p.precision = Precision::kFloat64;
  p.model.T = kReferenceExactMaxT + 1;
  EXPECT_FALSE(is_own_reference(p));  // its reference is lanczos
  p.solver.kind = SolverKind::kLanczos;
  EXPECT_FALSE(is_own_reference(p));
  p.model.T = 64;
  EXPECT_FALSE(is_own_reference(p));
}

// Without --reference the rows have no reference columns (and their header is as before).
TEST(SweepReference, NoneWritesNoReferenceColumns) {
  TempDir tmp;
  SweepRequest req = small_sweep(tmp.path() / "plain");
  req.plan.seeds = 1;
  std::ostringstream out;
  ASSERT_EQ(run_sweep(req, out), 0);
  const std::string header = split_lines(read_file(tmp.path() / "plain" / "rows.csv")).at(0);
  EXPECT_EQ(header.find("reference"), std::string::npos) << header;
  std::string want;
  for (const std::string& c : row_columns(4)) want += (want.empty() ? "" : ",") + c;
  EXPECT_EQ(header, want);
  EXPECT_EQ(out.str().find("max rel err"), std::string::npos);
}

TEST(SweepCreate, RefusesAnExistingDirectoryWithoutForce) {
  TempDir tmp;
  std::ostringstream out;
  const fs::path dir = tmp.path() / "taken";
  fs::create_directories(dir);
  write_text(dir / "notes.txt", "keep me");
  expect_usage_error([&] { run_sweep(small_sweep(dir), out); }, "--out:");
  EXPECT_EQ(read_file(dir / "notes.txt"), "keep me");
  EXPECT_FALSE(fs::exists(dir / "rows.csv"));
  EXPECT_FALSE(fs::exists(dir / "meta.json"));
}

// ---- .npy ------------------------------------------------------------------------------------

template <typename Real>
class Npy : public ::testing::Test {};
using RealTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Npy, RealTypes);

template <typename Real>
void check_npy_round_trip(std::int64_t rows, std::int64_t cols) {
  TempDir tmp;
  const fs::path path = tmp.path() / "m.npy";
  std::vector<Real> data(static_cast<std::size_t>(rows * cols));
  for (std::size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<Real>(0.1 * static_cast<double>(i) - 3.0);
  }
  write_npy<Real>(path, data.data(), rows, cols);
  const NpyHeader h = read_npy_header(path);
  EXPECT_EQ(h.descr, sizeof(Real) == 8 ? "<f8" : "<f4");
  EXPECT_FALSE(h.fortran_order);
  EXPECT_EQ(h.shape, (std::vector<std::int64_t>{rows, cols}));
  EXPECT_EQ(h.data_offset % 64, 0) << "the .npy format aligns the data to 64 bytes";
  EXPECT_EQ(static_cast<std::int64_t>(fs::file_size(path)),
            h.data_offset + static_cast<std::int64_t>(sizeof(Real)) * rows * cols);
  const std::string bytes = read_file(path);
  EXPECT_EQ(bytes.substr(0, 6), "\x93NUMPY");
  EXPECT_EQ(bytes[static_cast<std::size_t>(h.data_offset) - 1], '\n');
  std::vector<Real> back(data.size());
  std::memcpy(back.data(), bytes.data() + h.data_offset, sizeof(Real) * back.size());
  EXPECT_EQ(back, data);
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
}

TYPED_TEST(Npy, SquareMatrixRoundTrips) { check_npy_round_trip<TypeParam>(64, 64); }

TYPED_TEST(Npy, RectangularMatrixKeepsRowsThenColumns) { check_npy_round_trip<TypeParam>(5, 7); }

TEST(NpyHeaderRead, RefusesAFileThatIsNotNpy) {
  TempDir tmp;
  write_text(tmp.path() / "x.npy", "not a numpy file at all");
  expect_usage_error([&] { read_npy_header(tmp.path() / "x.npy"); },
                     (tmp.path() / "x.npy").string());
}


// ---- shards (--shard I/N) -----------------------------------------------------------------------

SweepRequest shard_request(const fs::path& out, std::int64_t index, std::int64_t count) {
  SweepRequest req = small_sweep(out);
  req.plan.seeds = 5;
  req.threads = 1;
  req.shard = Shard{index, count, fmt::format("--shard {}/{}", index, count)};
  return req;
}

// The shards of a plan, each in OUT/shard-IIII-of-NNNN with the whole plan and its shard in
// meta.json, hold together exactly the unsharded sweep's rows, bitwise on one thread.
TEST(SweepShards, TogetherEqualTheUnshardedSweep) {
  TempDir tmp;
  std::ostringstream out;
  SweepRequest whole = shard_request(tmp.path() / "whole", 0, 1);
  whole.shard.reset();
  ASSERT_EQ(run_sweep(whole, out), 0);
  const auto full = rows_without_timings(tmp.path() / "whole" / "rows.csv");
  ASSERT_EQ(full.size(), 10u);
  const nlohmann::json whole_meta =
      nlohmann::json::parse(read_file(tmp.path() / "whole" / "meta.json"));
  std::multiset<std::string> together;
  for (std::int64_t i = 0; i < 3; ++i) {
    ASSERT_EQ(run_sweep(shard_request(tmp.path() / "sharded", i, 3), out), 0);
    const fs::path dir = tmp.path() / "sharded" / fmt::format("shard-{:04d}-of-0003", i);
    const auto rows = rows_without_timings(dir / "rows.csv");
    EXPECT_FALSE(rows.empty()) << dir;
    together.insert(rows.begin(), rows.end());
    const nlohmann::json meta = nlohmann::json::parse(read_file(dir / "meta.json"));
    EXPECT_EQ(meta.at("shard").at("index"), i);
    EXPECT_EQ(meta.at("shard").at("count"), 3);
    EXPECT_EQ(meta.at("plan"), whole_meta.at("plan"));
    EXPECT_EQ(meta.at("plan_hash"), whole_meta.at("plan_hash"));
    EXPECT_EQ(meta.at("status"), "complete");
    EXPECT_EQ(meta.at("rows"), rows.size());
    EXPECT_TRUE(meta.contains("cuda_visible_devices"));
  }
  EXPECT_EQ(together, full);
}

// A shard resumes alone: a row of another shard planted in its rows.csv is rejected as such and
// the shard's own missing row computed again; --shard must match the directory's shard.
TEST(SweepShards, ResumeKeepsOnlyTheShardsRows) {
  TempDir tmp;
  std::ostringstream out;
  ASSERT_EQ(run_sweep(shard_request(tmp.path(), 0, 2), out), 0);
  ASSERT_EQ(run_sweep(shard_request(tmp.path() / "other", 1, 2), out), 0);
  const fs::path dir = tmp.path() / "shard-0000-of-0002";
  const auto done = rows_without_timings(dir / "rows.csv");
  std::vector<std::string> lines = split_lines(read_file(dir / "rows.csv"));
  const std::vector<std::string> foreign =
      split_lines(read_file(tmp.path() / "other" / "shard-0001-of-0002" / "rows.csv"));
  lines.back() = foreign.at(1);  // the shard's last row replaced by another shard's
  std::string text;
  for (const auto& l : lines) text += l + '\n';
  write_text(dir / "rows.csv", text);
  SweepRequest wrong = resume_request(dir);
  wrong.shard = Shard{1, 2, "--shard 1/2"};
  const std::string what = expect_usage_error([&] { run_sweep(wrong, out); }, "--shard:");
  EXPECT_NE(what.find("holds shard 0 of 2, not 1 of 2"), std::string::npos) << what;
  ::testing::internal::CaptureStderr();
  ASSERT_EQ(run_sweep(resume_request(dir), out), 0);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("1 shard"), std::string::npos) << err;
  EXPECT_NE(err.find("shard 0 of 2"), std::string::npos) << err;
  EXPECT_EQ(rows_without_timings(dir / "rows.csv"), done);
  EXPECT_NE(read_file(dir / "rows.rejected.csv").find(foreign.at(1)), std::string::npos);
}

TEST(SweepShards, BadUseIsRefusedBeforeAnythingIsWritten) {
  TempDir tmp;
  std::ostringstream out;
  SweepRequest no_out = shard_request(tmp.path() / "x", 1, 2);
  no_out.out.reset();
  const std::string what = expect_usage_error([&] { run_sweep(no_out, out); }, "--shard:");
  EXPECT_NE(what.find("give --out OUT"), std::string::npos) << what;
  ASSERT_EQ(run_sweep(small_sweep(tmp.path() / "whole"), out), 0);
  SweepRequest unsharded = resume_request(tmp.path() / "whole");
  unsharded.shard = Shard{0, 2, "--shard 0/2"};
  EXPECT_NE(expect_usage_error([&] { run_sweep(unsharded, out); }, "--shard:").find("not a shard"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(tmp.path() / "x"));
}

}  // namespace
}  // namespace gapbench
