// The shard rule (sweep/shard.hpp): --shard parsing, the Slurm array environment, unit costs and
// the assignment of units to shards. Pure functions: no device, no files.
#include "gapbench/sweep/shard.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "gapbench/error.hpp"

namespace gapbench {
namespace {

Environment env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}
const Environment kNoEnv = env_of({});

// The UsageError message of `f`, or "" when it does not throw one.
template <typename F>
std::string usage_error(F&& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

// ---- --shard I/N --------------------------------------------------------------------------------

struct GoodShard {
  std::string text;
  std::int64_t index;
  std::int64_t count;
};
class ParseShardGood : public ::testing::TestWithParam<GoodShard> {};
TEST_P(ParseShardGood, GivesIndexAndCount) {
  const Shard s = parse_shard(GetParam().text, kNoEnv);
  EXPECT_EQ(s.index, GetParam().index);
  EXPECT_EQ(s.count, GetParam().count);
  EXPECT_EQ(s.source, "--shard " + std::to_string(s.index) + "/" + std::to_string(s.count));
}
INSTANTIATE_TEST_SUITE_P(Table, ParseShardGood,
                         ::testing::Values(GoodShard{"0/1", 0, 1}, GoodShard{"3/32", 3, 32},
                                           GoodShard{"0007/0032", 7, 32},
                                           GoodShard{"31/32", 31, 32},
                                           GoodShard{"999999/1000000", 999999, 1000000}));

class ParseShardBad : public ::testing::TestWithParam<std::string> {};
TEST_P(ParseShardBad, IsAUsageErrorNamingTheFlag) {
  const std::string what = usage_error([&] { parse_shard(GetParam(), kNoEnv); });
  ASSERT_FALSE(what.empty()) << "'" << GetParam() << "' was accepted";
  EXPECT_EQ(what.rfind("--shard", 0), 0u) << what;
  EXPECT_EQ(what.find('\n'), std::string::npos) << what;
}
INSTANTIATE_TEST_SUITE_P(Table, ParseShardBad,
                         ::testing::Values("3/2", "2/2", "0/0", "a/b", "1/b", "-1/4", "1/-4",
                                           "+1/4", "1/", "/4", "", "4", " 1/2", "1/2 ", "1/2/3",
                                           "1.0/2", "0x1/2", "0/1000001", "99999999999999999999/3",
                                           "1/99999999999999999999", "SLURM", "slurm "));

TEST(ParseShard, OutOfRangeSaysSo) {
  EXPECT_NE(usage_error([] { parse_shard("1/99999999999999999999", kNoEnv); }).find("out of range"),
            std::string::npos);
  EXPECT_NE(usage_error([] { parse_shard("3/2", kNoEnv); }).find("0 to 1"), std::string::npos);
}

// ---- --shard slurm ------------------------------------------------------------------------------

// An array task as Slurm 22.05 sets it (checked on the test cluster: --array=4-35).
std::map<std::string, std::string> array_task(std::string id, std::string count, std::string min,
                                              std::string max, std::string step = "1") {
  return {{"SLURM_JOB_ID", "1240"},       {"SLURM_ARRAY_JOB_ID", "1234"},
          {"SLURM_ARRAY_TASK_ID", id},    {"SLURM_ARRAY_TASK_COUNT", count},
          {"SLURM_ARRAY_TASK_MIN", min},  {"SLURM_ARRAY_TASK_MAX", max},
          {"SLURM_ARRAY_TASK_STEP", step}};
}

TEST(ShardFromSlurm, IdMinusMinOfCount) {
  const Shard s = parse_shard("slurm", env_of(array_task("7", "32", "4", "35")));
  EXPECT_EQ(s.index, 3);
  EXPECT_EQ(s.count, 32);
  EXPECT_EQ(s.source, "Slurm array task 7 of job 1234 (tasks 4-35)");
  const Shard first = shard_from_slurm(env_of(array_task("0", "4", "0", "3")));
  EXPECT_EQ(first, (Shard{0, 4, ""}));
  const Shard single = shard_from_slurm(env_of(array_task("5", "1", "5", "5")));
  EXPECT_EQ(single, (Shard{0, 1, ""}));
}

TEST(ShardFromSlurm, StepMayBeUnset) {
  std::map<std::string, std::string> vars = array_task("2", "4", "0", "3");
  vars.erase("SLURM_ARRAY_TASK_STEP");
  EXPECT_EQ(shard_from_slurm(env_of(vars)), (Shard{2, 4, ""}));
}

struct BadSlurm {
  std::string name;
  std::map<std::string, std::string> vars;
  std::string says;  // a part of the message
};
class ShardFromSlurmBad : public ::testing::TestWithParam<BadSlurm> {};
TEST_P(ShardFromSlurmBad, IsRefused) {
  const std::string what = usage_error([&] { parse_shard("slurm", env_of(GetParam().vars)); });
  ASSERT_FALSE(what.empty());
  EXPECT_EQ(what.rfind("--shard slurm: ", 0), 0u) << what;
  EXPECT_NE(what.find(GetParam().says), std::string::npos) << what;
}
INSTANTIATE_TEST_SUITE_P(
    Table, ShardFromSlurmBad,
    ::testing::Values(
        BadSlurm{"NoSlurm", {}, "not in a Slurm array task"},
        BadSlurm{"JobWithoutArray", {{"SLURM_JOB_ID", "12"}}, "a job without --array"},
        // --array=0-6:2 (Slurm 22.05: STEP=2, COUNT=4, MIN=0, MAX=6)
        BadSlurm{"Step", array_task("2", "4", "0", "6", "2"), "SLURM_ARRAY_TASK_STEP=2"},
        // --array=1,3,7 (Slurm 22.05: STEP=1, COUNT=3, MIN=1, MAX=7)
        BadSlurm{"ListWithHoles", array_task("3", "3", "1", "7"), "list with holes"},
        BadSlurm{"NotANumber", array_task("x", "4", "0", "3"), "SLURM_ARRAY_TASK_ID='x'"},
        BadSlurm{"Negative", array_task("-1", "4", "0", "3"), "SLURM_ARRAY_TASK_ID='-1'"},
        BadSlurm{"IdOutside", array_task("9", "4", "0", "3"), "outside tasks 0-3"},
        BadSlurm{"NoCount",
                 {{"SLURM_ARRAY_TASK_ID", "1"},
                  {"SLURM_ARRAY_TASK_MIN", "0"},
                  {"SLURM_ARRAY_TASK_MAX", "3"}},
                 "SLURM_ARRAY_TASK_COUNT is unset"},
        BadSlurm{"TooMany", array_task("0", "2000000", "0", "1999999"), "at most 1000000"}),
    [](const auto& info) { return info.param.name; });

TEST(ShardDirName, PadsToFourDigitsOrTheCountsWidth) {
  EXPECT_EQ(shard_dir_name({7, 32, ""}), "shard-0007-of-0032");
  EXPECT_EQ(shard_dir_name({0, 1, ""}), "shard-0000-of-0001");
  EXPECT_EQ(shard_dir_name({12345, 100000, ""}), "shard-012345-of-100000");
}

// ---- costs --------------------------------------------------------------------------------------

PointSpec point_of(ModelKind kind, std::int64_t T, SolverKind solver, OperatorChoice op, int k = 4,
                   std::int64_t dk = 64) {
  PointSpec p;
  p.model.kind = kind;
  p.model.T = T;
  p.model.dk = dk;
  p.solver.kind = solver;
  p.solver.k = k;
  p.op = op;
  return p;
}

TEST(UnitCost, FollowsTheStatedModel) {
  using enum ModelKind;
  EXPECT_EQ(unit_cost(point_of(kMarkov, 1000, SolverKind::kLanczos, OperatorChoice::kDense)),
            1000000u);
  // auto is costed as dense: the rule may not depend on what one device would pick
  EXPECT_EQ(unit_cost(point_of(kAttention, 1000, SolverKind::kLanczos, OperatorChoice::kAuto)),
            1000000u);
  EXPECT_EQ(unit_cost(point_of(kMarkov, 1000, SolverKind::kExact, OperatorChoice::kDense)),
            1000000000u);
  // fused: T^2 (d_k + b), b = k for lanczos without --block, k + max(k, 8) for rsvd
  EXPECT_EQ(unit_cost(point_of(kAttention, 1000, SolverKind::kLanczos, OperatorChoice::kFused)),
            1000000u * (64 + 4));
  PointSpec blocked = point_of(kAttention, 1000, SolverKind::kLanczos, OperatorChoice::kFused);
  blocked.solver.block = 6;
  EXPECT_EQ(unit_cost(blocked), 1000000u * (64 + 6));
  EXPECT_EQ(unit_cost(point_of(kAttention, 1000, SolverKind::kRsvd, OperatorChoice::kFused)),
            1000000u * (64 + 4 + 8));
  EXPECT_EQ(unit_cost(point_of(kMarkov, 1000, SolverKind::kLanczos, OperatorChoice::kFused)),
            1000000u * (1 + 4));
  // saturates instead of wrapping, so the order stays total
  EXPECT_EQ(unit_cost(point_of(kMarkov, std::int64_t{1} << 30, SolverKind::kExact,
                               OperatorChoice::kDense)),
            ~std::uint64_t{0});
}

TEST(UnitCost, Propagate) {
  propagate::PropagateOptions o;
  o.T = 100;
  o.d = 200;
  o.L = 3;
  EXPECT_EQ(unit_cost(o), 3u * (100u * 100 * 200 + 100u * 200 * 200));
  o.source = propagate::AttentionSource::kAttention;
  o.dk = 10;
  EXPECT_EQ(unit_cost(o),
            3u * (100u * 100 * 200 + 100u * 200 * 200 + 100u * 100 * 10 + 2u * 100 * 200 * 10));
}

// ---- units and the assignment -------------------------------------------------------------------

SweepPlan markov_plan(std::vector<std::int64_t> Ts, std::int64_t seeds) {
  SweepPlan plan;
  plan.Ts = std::move(Ts);
  plan.seeds = seeds;
  plan.seed = 11;
  return plan;
}

TEST(SweepUnits, OnePerPointSeedAndIndexInPlanOrder) {
  SweepPlan plan = markov_plan({256, 512}, 3);
  plan.solvers = {SolverKind::kLanczos, SolverKind::kExact};
  const std::vector<PlannedPoint> points = expand_plan(plan);
  const std::vector<WorkUnit> units = sweep_units(plan, points);
  ASSERT_EQ(units.size(), points.size() * 3);
  for (std::size_t i = 0; i < units.size(); ++i) {
    const PlannedPoint& p = points[i / 3];
    EXPECT_EQ(units[i].point, p.ordinal);
    EXPECT_EQ(units[i].seed, 11u);
    EXPECT_EQ(units[i].index, i % 3);
    EXPECT_EQ(units[i].cost, unit_cost(p.spec));
  }
}

TEST(SweepUnits, RefusesMoreThanTheLimit) {
  const SweepPlan plan = markov_plan({256, 512}, std::int64_t{1} << 32);
  const std::string what = usage_error([&] { sweep_units(plan, expand_plan(plan)); });
  EXPECT_EQ(what.rfind("--seeds", 0), 0u) << what;
}

TEST(PropagateUnits, OnePerPointAndRunWithGlobalIndices) {
  propagate::PropagatePlan plan;
  plan.Ts = {16, 32};
  plan.gammas = {0.5};
  plan.first_index = 5;
  plan.seeds = 3;
  plan.seed = 9;
  const std::vector<propagate::PlannedNetwork> points = propagate::expand_plan(plan);
  const std::vector<WorkUnit> units = propagate_units(plan, points);
  ASSERT_EQ(units.size(), 6u);
  for (std::size_t i = 0; i < units.size(); ++i) {
    EXPECT_EQ(units[i].point, points[i / 3].point);
    EXPECT_EQ(units[i].seed, 9u);
    EXPECT_EQ(units[i].index, 5 + i % 3);
    EXPECT_EQ(units[i].cost, unit_cost(points[i / 3].options));
  }
}

using Key = std::tuple<int, std::uint64_t, std::uint32_t>;
Key key_of(const WorkUnit& u) { return {u.point, u.seed, u.index}; }

// The loads of each shard (in long double: the tests' costs never saturate).
std::vector<long double> loads(const std::vector<WorkUnit>& units, std::int64_t count) {
  std::vector<long double> out(static_cast<std::size_t>(count), 0);
  const std::vector<std::int64_t> owner = assign_shards(units, count);
  for (std::size_t i = 0; i < units.size(); ++i) {
    out[static_cast<std::size_t>(owner[i])] += static_cast<long double>(units[i].cost);
  }
  return out;
}

struct AssignCase {
  std::string name;
  std::vector<std::int64_t> Ts;
  std::int64_t seeds;
  std::vector<SolverKind> solvers;
};
class Assignment : public ::testing::TestWithParam<std::tuple<AssignCase, std::int64_t>> {
 protected:
  std::vector<WorkUnit> units() const {
    const AssignCase& c = std::get<0>(GetParam());
    SweepPlan plan = markov_plan(c.Ts, c.seeds);
    plan.solvers = c.solvers;
    return sweep_units(plan, expand_plan(plan));
  }
  std::int64_t count() const { return std::get<1>(GetParam()); }
};

TEST_P(Assignment, EveryUnitInExactlyOneShard) {
  const std::vector<WorkUnit> all = units();
  std::multiset<Key> seen;
  for (std::int64_t s = 0; s < count(); ++s) {
    for (const WorkUnit& u : units_of_shard(all, {s, count(), ""})) seen.insert(key_of(u));
  }
  std::multiset<Key> want;
  for (const WorkUnit& u : all) want.insert(key_of(u));
  EXPECT_EQ(seen, want);
}

TEST_P(Assignment, IsDeterministicAndIndependentOfInputOrder) {
  const std::vector<WorkUnit> all = units();
  const std::vector<std::int64_t> once = assign_shards(all, count());
  EXPECT_EQ(assign_shards(all, count()), once);
  std::vector<std::size_t> perm(all.size());
  for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = i;
  std::mt19937 rng(5);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<WorkUnit> shuffled;
  for (const std::size_t i : perm) shuffled.push_back(all[i]);
  const std::vector<std::int64_t> again = assign_shards(shuffled, count());
  for (std::size_t j = 0; j < perm.size(); ++j) {
    EXPECT_EQ(again[j], once[perm[j]]) << "unit " << perm[j];
  }
}

TEST_P(Assignment, MaxLoadAtMostMeanPlusLargestUnit) {
  const std::vector<WorkUnit> all = units();
  const std::vector<long double> load = loads(all, count());
  long double total = 0;
  std::uint64_t largest = 0;
  for (const WorkUnit& u : all) {
    total += static_cast<long double>(u.cost);
    largest = std::max(largest, u.cost);
  }
  const long double mean = total / static_cast<long double>(count());
  EXPECT_LE(*std::max_element(load.begin(), load.end()), mean + static_cast<long double>(largest));
}

INSTANTIATE_TEST_SUITE_P(
    Table, Assignment,
    ::testing::Combine(
        ::testing::Values(
            AssignCase{"Small", {256, 512, 1024}, 4, {SolverKind::kLanczos}},
            AssignCase{
                "LargeTail", {256, 512, 1024, 2048, 65536, 131072}, 8, {SolverKind::kLanczos}},
            AssignCase{"MixedSolvers",
                       {256, 384, 512, 768, 1024},
                       5,
                       {SolverKind::kLanczos, SolverKind::kExact}},
            AssignCase{"OneUnit", {256}, 1, {SolverKind::kLanczos}}),
        ::testing::Values(1, 2, 3, 7, 32, 100)),
    [](const auto& info) {
      return std::get<0>(info.param).name + "_N" + std::to_string(std::get<1>(info.param));
    });

// A sweep whose cost sits in two large T still spreads over 32 shards: the 16 large matrices
// (two T x 8 seeds) go to 16 different shards, and every shard gets work.
TEST(AssignmentSpread, LargeTSpreadOver32Shards) {
  const SweepPlan plan = markov_plan({256, 512, 1024, 2048, 4096, 65536, 131072}, 8);
  const std::vector<WorkUnit> units = sweep_units(plan, expand_plan(plan));
  const std::vector<std::int64_t> owner = assign_shards(units, 32);
  std::map<std::int64_t, int> large_per_shard;
  std::set<std::int64_t> busy;
  for (std::size_t i = 0; i < units.size(); ++i) {
    busy.insert(owner[i]);
    if (units[i].cost >= std::uint64_t{65536} * 65536) ++large_per_shard[owner[i]];
  }
  EXPECT_EQ(large_per_shard.size(), 16u);
  for (const auto& [shard, n] : large_per_shard) EXPECT_EQ(n, 1) << "shard " << shard;
  EXPECT_EQ(busy.size(), 32u);
  // The heaviest shard holds one T = 131072 matrix and nothing else: the best any rule can do.
  const std::vector<long double> load = loads(units, 32);
  EXPECT_EQ(*std::max_element(load.begin(), load.end()), 131072.0L * 131072.0L);
}

// With as many large units as shards, each shard takes one: points-level sharding would put all
// 32 matrices of the one large T on a single shard.
TEST(AssignmentSpread, OneLargePointOver32Shards) {
  const SweepPlan plan = markov_plan({512, 131072}, 32);
  const std::vector<WorkUnit> units = sweep_units(plan, expand_plan(plan));
  const std::vector<long double> load = loads(units, 32);
  const long double lo = *std::min_element(load.begin(), load.end());
  const long double hi = *std::max_element(load.begin(), load.end());
  EXPECT_GE(lo, 131072.0L * 131072.0L);
  EXPECT_LE(hi, 131072.0L * 131072.0L + 512.0L * 512.0L);
}

TEST(AssignShards, RefusesABadCount) {
  const std::vector<WorkUnit> units{{0, 0, 0, 1}};
  EXPECT_FALSE(usage_error([&] { assign_shards(units, 0); }).empty());
  EXPECT_FALSE(usage_error([&] { units_of_shard(units, {2, 2, ""}); }).empty());
}

}  // namespace
}  // namespace gapbench
