// `gapbench compare`: the Mann–Whitney U test against scipy's values, the direction of metrics,
// verdicts on crafted Google Benchmark 1.7.1 files (written here into a temporary directory),
// bad input as UsageError, the JSON report, and the built binary's exit codes on the fixtures in
// tests/data/compare (base.json; regressed.json: cpu/pass 30% slower, lanczos 1% inside the noise;
// malformed.json; truncated.json: base.json cut in half).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "gapbench/compare/compare.hpp"
#include "gapbench/compare/mann_whitney.hpp"
#include "gapbench/error.hpp"
#include "gapbench/text.hpp"
#include "test_support.hpp"

#ifndef GAPBENCH_EXE
#error "GAPBENCH_EXE (the path of the gapbench binary) must be defined by the build"
#endif
#ifndef GAPBENCH_COMPARE_DATA
#error "GAPBENCH_COMPARE_DATA (the directory of the compare fixtures) must be defined by the build"
#endif

namespace gapbench {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using test::CliResult;
using test::TempDir;
using test::write_text;

// ---- Mann–Whitney U against scipy.stats.mannwhitneyu (scipy 1.10.1) ---------------------------

struct ScipyCase {
  const char* name;
  std::vector<double> a, b;
  double u;        // scipy's statistic: U of `a`
  double p_value;  // two-sided; method='exact' without ties, 'asymptotic' with ties or n > 50
};

void PrintTo(const ScipyCase& c, std::ostream* os) { *os << c.name; }

class MannWhitneyScipy : public ::testing::TestWithParam<ScipyCase> {};

// Both sides sum the same terms in double precision (the exact counts, or erfc of the same z):
// agreement to 1e-12 relative leaves room for the order of summation and nothing for a formula
// error (a missing continuity or tie correction moves these p-values by 1e-3 or more).
TEST_P(MannWhitneyScipy, MatchesScipy) {
  const ScipyCase& c = GetParam();
  EXPECT_DOUBLE_EQ(mann_whitney_u(c.a, c.b), c.u);
  const double p = mann_whitney_p_value(c.a, c.b);
  EXPECT_NEAR(p, c.p_value, 1e-12 * c.p_value) << "p = " << p;
  // The test is symmetric in its samples.
  EXPECT_NEAR(mann_whitney_p_value(c.b, c.a), c.p_value, 1e-12 * c.p_value);
}

std::vector<double> range_values(double start, double step, int n) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(start + step * i);
  return v;
}

std::vector<double> modular_values(int n, int multiplier, int modulus, double offset) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back((i * multiplier % modulus) / 10.0 + offset);
  return v;
}

const std::vector<double> kNoiseA = {0.98, 1.012, 0.995, 1.018, 0.987, 1.004, 0.991, 1.02, 1.007};
const std::vector<double> kNoiseB = {1.004, 0.98, 1.02, 0.991, 1.012, 0.987, 1.018, 0.995, 1.007};

std::vector<double> scaled(const std::vector<double>& v, double factor) {
  std::vector<double> out;
  for (const double x : v) out.push_back(factor * x);
  return out;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MannWhitneyScipy,
    ::testing::Values(
        ScipyCase{"Exact4v4Separated", {1, 2, 3, 4}, {5, 6, 7, 8}, 0.0, 0.02857142857142857},
        ScipyCase{"Exact5v6",
                  {1.1, 2.3, 0.7, 4.2, 3.3},
                  {2.9, 5.1, 6.0, 4.4, 3.8, 7.2},
                  3.0,
                  0.030303030303030304},
        ScipyCase{"Exact9v9Shift30Percent", kNoiseA, scaled(kNoiseB, 1.3), 0.0,
                  4.113533525298231e-05},
        ScipyCase{"Exact9v9Interleaved",
                  {1, 3, 5, 7, 9, 11, 13, 15, 17},
                  {2, 4, 6, 8, 10, 12, 14, 16, 18},
                  36.0,
                  0.7304401480872068},
        ScipyCase{"Exact10v12", range_values(0, 2, 10), range_values(1.5, 2, 12), 45.0,
                  0.34627910788901506},
        ScipyCase{"Exact50v50", range_values(0, 1, 50), range_values(20.5, 1, 50), 435.0,
                  3.355337501288909e-09},
        ScipyCase{"Exact3v7", {10, 12, 14}, {11, 13, 15, 16, 17, 18, 19}, 3.0, 0.11666666666666667},
        ScipyCase{"AsymptoticTies",
                  {1, 2, 2, 3, 3, 3, 4, 5},
                  {2, 3, 4, 4, 5, 5, 6, 7, 7},
                  13.5,
                  0.03175895714806371},
        ScipyCase{"AsymptoticTiesSmall", {1, 1, 2, 2}, {2, 2, 3, 3}, 2.0, 0.08635873964701242},
        ScipyCase{"Asymptotic60v55", modular_values(60, 37, 101, 0.0),
                  modular_values(55, 53, 97, 1.2), 1363.5, 0.10929324953535524},
        ScipyCase{"AllEqual", {1, 1, 1, 1}, {1, 1, 1, 1}, 8.0, 1.0}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(MannWhitneyExact, DistributionOfFourAgainstFour) {
  // C(8, 4) = 70 interleavings; U = 16 only when every value of the first sample is larger.
  EXPECT_DOUBLE_EQ(mann_whitney_exact_sf(0, 4, 4), 1.0);
  EXPECT_DOUBLE_EQ(mann_whitney_exact_sf(16, 4, 4), 1.0 / 70);
  EXPECT_DOUBLE_EQ(mann_whitney_exact_sf(15, 4, 4), 2.0 / 70);
  EXPECT_DOUBLE_EQ(mann_whitney_exact_sf(17, 4, 4), 0.0);
  // Symmetric about m n / 2: P(U >= 9) = P(U <= 7) = 1 - P(U >= 8).
  EXPECT_NEAR(mann_whitney_exact_sf(9, 4, 4), 1 - mann_whitney_exact_sf(8, 4, 4), 1e-15);
}

TEST(MannWhitney, RefusesEmptyAndNonFiniteSamples) {
  EXPECT_THROW(mann_whitney_p_value({}, {1.0}), std::invalid_argument);
  EXPECT_THROW(mann_whitney_p_value({1.0, NAN}, {1.0}), std::invalid_argument);
}

// ---- metric directions -----------------------------------------------------------------------

struct DirectionCase {
  const char* metric;
  std::optional<MetricDirection> expected;
};

void PrintTo(const DirectionCase& c, std::ostream* os) { *os << c.metric; }

class MetricDirectionTable : public ::testing::TestWithParam<DirectionCase> {};

TEST_P(MetricDirectionTable, FromTheName) {
  EXPECT_EQ(metric_direction(GetParam().metric), GetParam().expected);
}

constexpr auto kLower = MetricDirection::kLowerIsBetter;
constexpr auto kHigher = MetricDirection::kHigherIsBetter;

INSTANTIATE_TEST_SUITE_P(
    Names, MetricDirectionTable,
    ::testing::Values(
        DirectionCase{"real_time", kLower}, DirectionCase{"cpu_time", kLower},
        DirectionCase{"generate_s", kLower}, DirectionCase{"s_per_pass", kLower},
        DirectionCase{"matrices_per_s", kHigher}, DirectionCase{"bytes_per_s", kHigher},
        DirectionCase{"items_per_second", kHigher}, DirectionCase{"pct_of_copy_bw", kHigher},
        DirectionCase{"passes_over_A", std::nullopt}, DirectionCase{"s1", std::nullopt},
        DirectionCase{"rel_err_s2", std::nullopt}, DirectionCase{"converged", std::nullopt}));

// ---- crafted Google Benchmark files ----------------------------------------------------------

// One benchmark: its real_time per repetition (in `unit`) and counters per repetition.
struct BenchRun {
  std::string name;
  std::vector<double> real_time;
  std::string unit = "ms";
  std::map<std::string, std::vector<double>> counters = {};
  std::string error = {};  // non-empty: every repetition failed with this message
};

json default_context() {
  return {{"date", "2026-11-27T21:25:59+00:00"},
          {"host_name", "vm"},
          {"num_cpus", 2},
          {"mhz_per_cpu", 2596},
          {"library_build_type", "release"},
          {"cpu_device", "AMD EPYC (2 threads)"},
          {"gapbench_build_type", "Release"},
          {"gapbench_commit", "955ba2c00000"}};
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// Entries as Google Benchmark 1.7.1 writes them with --benchmark_repetitions: the iterations,
// then the aggregates (mean, median, stddev; values made up except the median), or the
// aggregates only (--benchmark_report_aggregates_only).
json entries(const BenchRun& run, bool aggregates_only) {
  json out = json::array();
  const int n = static_cast<int>(run.real_time.size());
  const auto entry = [&](const std::string& name, const char* type) {
    return json{{"name", name},         {"family_index", 0}, {"per_family_instance_index", 0},
                {"run_name", run.name}, {"run_type", type},  {"repetitions", n},
                {"threads", 1},         {"iterations", 10},  {"time_unit", run.unit}};
  };
  if (!run.error.empty()) {
    json e = entry(run.name, "iteration");
    e["repetition_index"] = 0;
    e["error_occurred"] = true;
    e["error_message"] = run.error;
    out.push_back(e);
    return out;
  }
  if (!aggregates_only) {
    for (int r = 0; r < n; ++r) {
      json e = entry(run.name, "iteration");
      e["repetition_index"] = r;
      e["real_time"] = run.real_time[r];
      e["cpu_time"] = 0.98 * run.real_time[r];
      for (const auto& [counter, values] : run.counters) e[counter] = values[r];
      out.push_back(e);
    }
  }
  if (n > 1 || aggregates_only) {
    for (const char* aggregate : {"mean", "median", "stddev"}) {
      json e = entry(run.name + "_" + aggregate, "aggregate");
      e["aggregate_name"] = aggregate;
      e["aggregate_unit"] = "time";
      const bool is_median = std::string(aggregate) == "median";
      // Values a comparison must not read when iterations are present: far from every sample.
      const double off = aggregates_only ? 1.0 : 1000.0;
      e["real_time"] = is_median ? median_of(run.real_time) : off * run.real_time[0];
      e["cpu_time"] = 0.98 * e["real_time"].get<double>();
      for (const auto& [counter, values] : run.counters) {
        e[counter] = is_median ? median_of(values) : off * values[0];
      }
      out.push_back(e);
    }
  }
  return out;
}

json benchmark_file(const std::vector<BenchRun>& runs, json context = default_context(),
                    bool aggregates_only = false) {
  json benchmarks = json::array();
  for (const BenchRun& run : runs) {
    for (const json& e : entries(run, aggregates_only)) benchmarks.push_back(e);
  }
  return {{"context", context}, {"benchmarks", benchmarks}};
}

BenchmarkFile parsed(const json& doc, const std::string& path) {
  return parse_benchmark_json(doc.dump(2), path, path);
}

CompareReport compare(const json& base, const json& fresh, const CompareOptions& options = {}) {
  return compare_benchmarks(parsed(base, "base.json"), parsed(fresh, "new.json"), options);
}

const BenchmarkComparison& row(const CompareReport& report, const std::string& name) {
  for (const auto& b : report.benchmarks) {
    if (b.name == name) return b;
  }
  throw std::runtime_error("no row " + name);
}

// Runs `f`, expecting a UsageError whose message contains `needle`; returns the message.
template <typename F>
std::string expect_usage_error(F f, const std::string& needle) {
  try {
    f();
  } catch (const UsageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(needle), std::string::npos) << "message: " << what;
    return what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected UsageError, got: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected UsageError naming " << needle << ", nothing thrown";
  return {};
}

const std::string kPass = "cpu/pass/T:1024/real_time";
const std::string kLanczos = "cpu/lanczos/k:4/tol:1e-06/T:1024/real_time";

// Nine repetitions of two benchmarks with +-2% noise; `pass_factor` scales cpu/pass.
std::vector<BenchRun> two_benchmarks(const std::vector<double>& noise, double pass_factor = 1.0) {
  return {BenchRun{kPass, scaled(noise, 0.0754 * pass_factor)},
          BenchRun{kLanczos, scaled(noise, 25.07)}};
}

// ---- verdicts --------------------------------------------------------------------------------

TEST(CompareVerdict, IdenticalRunsAreTheSame) {
  const json file = benchmark_file(two_benchmarks(kNoiseA));
  const CompareReport report = compare(file, file);
  ASSERT_EQ(report.benchmarks.size(), 2u);
  for (const auto& b : report.benchmarks) {
    EXPECT_EQ(b.verdict, Verdict::kSame) << b.name;
    EXPECT_DOUBLE_EQ(b.change, 0.0);
    ASSERT_TRUE(b.u_test());
    EXPECT_DOUBLE_EQ(*b.p_value, 1.0);
    // The aggregates (stddev and mean made 1000x off) are not samples: nine values per side.
    EXPECT_EQ(b.n_base, 9u);
    EXPECT_EQ(b.n_new, 9u);
  }
  EXPECT_EQ(report.exit_code(), 0);
  EXPECT_TRUE(report.context_differences.empty());
}

TEST(CompareVerdict, ThirtyPercentSlowerOverNineRepetitionsRegresses) {
  const CompareReport report = compare(benchmark_file(two_benchmarks(kNoiseA)),
                                       benchmark_file(two_benchmarks(kNoiseB, 1.3)));
  const BenchmarkComparison& pass = row(report, kPass);
  EXPECT_EQ(pass.verdict, Verdict::kRegressed);
  EXPECT_NEAR(pass.change, 0.3, 1e-12);
  // Medians in seconds: 0.0754 ms * 1.004 (the median of the noise).
  EXPECT_NEAR(pass.base_median, 0.0754e-3 * 1.004, 1e-18);
  EXPECT_NEAR(*pass.p_value, 4.113533525298231e-05, 1e-15);
  EXPECT_EQ(row(report, kLanczos).verdict, Verdict::kSame);
  EXPECT_EQ(report.regressed(), std::vector<std::string>{kPass});
  EXPECT_EQ(report.exit_code(), 1);
  const std::string table = render_compare_table(report);
  EXPECT_NE(table.find("verdict: 1 regressed, 0 improved, 1 same (threshold 5%, alpha 0.05): " +
                       kPass + "\n"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("+30.0%"), std::string::npos) << table;
}

TEST(CompareVerdict, OnePercentInsideTheNoiseIsTheSame) {
  const CompareReport report = compare(benchmark_file(two_benchmarks(kNoiseA)),
                                       benchmark_file(two_benchmarks(kNoiseB, 1.01)));
  const BenchmarkComparison& pass = row(report, kPass);
  EXPECT_NEAR(pass.change, 0.01, 1e-12);
  EXPECT_GT(*pass.p_value, 0.05);  // scipy: 0.19
  EXPECT_EQ(pass.verdict, Verdict::kSame);
  EXPECT_EQ(report.exit_code(), 0);
}

TEST(CompareVerdict, ThirtyPercentFasterImprovesAndExitsZero) {
  const CompareReport report = compare(benchmark_file(two_benchmarks(kNoiseA)),
                                       benchmark_file(two_benchmarks(kNoiseB, 0.7)));
  EXPECT_EQ(row(report, kPass).verdict, Verdict::kImproved);
  EXPECT_EQ(report.count(Verdict::kImproved), 1u);
  EXPECT_EQ(report.exit_code(), 0);
}

TEST(CompareVerdict, SignificantButBelowTheThresholdIsTheSame) {
  // +-0.1% noise, 3% slower: the U test is sure (p = 4e-5), the change is under 5%.
  const std::vector<double> quiet = {0.999,  1.0006,  0.99975, 1.0009, 0.99935,
                                     1.0002, 0.99955, 1.001,   1.00035};
  const json base = benchmark_file({BenchRun{kPass, quiet}});
  const json fresh = benchmark_file({BenchRun{kPass, scaled(quiet, 1.03)}});
  const CompareReport report = compare(base, fresh);
  EXPECT_LT(*report.benchmarks.at(0).p_value, 1e-3);
  EXPECT_EQ(report.benchmarks.at(0).verdict, Verdict::kSame);
  CompareOptions tight;
  tight.threshold = 0.02;
  EXPECT_EQ(compare(base, fresh, tight).benchmarks.at(0).verdict, Verdict::kRegressed);
}

TEST(CompareVerdict, BeyondTheThresholdButNotSignificantIsTheSame) {
  // +-30% noise and a 10% slower median: the samples overlap, p = 0.44 (scipy).
  const std::vector<double> wide = {0.7, 0.85, 1.0, 1.15, 1.3, 0.75, 1.25, 0.9, 1.1};
  const std::vector<double> wide_new = {1.15, 0.7, 1.3, 0.9, 1.0, 1.25, 0.75, 1.1, 0.85};
  const CompareReport report = compare(benchmark_file({BenchRun{kPass, wide}}),
                                       benchmark_file({BenchRun{kPass, scaled(wide_new, 1.1)}}));
  const BenchmarkComparison& b = report.benchmarks.at(0);
  EXPECT_NEAR(b.change, 0.1, 1e-12);
  EXPECT_GT(*b.p_value, 0.3);
  EXPECT_EQ(b.verdict, Verdict::kSame);
}

TEST(CompareVerdict, RateCounterDroppingThirtyPercentRegresses) {
  // Same times, bytes_per_s 30% lower: higher is better, so that is a regression.
  const std::vector<double> rate = scaled(kNoiseA, 1.1e11);
  const json base = benchmark_file({BenchRun{kPass, kNoiseA, "ms", {{"bytes_per_s", rate}}}});
  const json fresh = benchmark_file(
      {BenchRun{kPass, kNoiseA, "ms", {{"bytes_per_s", scaled(scaled(kNoiseB, 1.1e11), 0.7)}}}});
  CompareOptions options;
  options.metric = "bytes_per_s";
  const CompareReport report = compare(base, fresh, options);
  EXPECT_EQ(report.direction, MetricDirection::kHigherIsBetter);
  EXPECT_EQ(report.benchmarks.at(0).verdict, Verdict::kRegressed);
  EXPECT_NEAR(report.benchmarks.at(0).change, -0.3, 1e-12);
  EXPECT_EQ(report.exit_code(), 1);
  // The default metric (real_time) sees no change.
  EXPECT_EQ(compare(base, fresh).exit_code(), 0);
}

TEST(CompareVerdict, TimeUnitsAreConverted) {
  // The same times written in ns and in us.
  const json base = benchmark_file({BenchRun{kPass, scaled(kNoiseA, 75400.0), "ns"}});
  const json fresh = benchmark_file({BenchRun{kPass, scaled(kNoiseA, 75.4), "us"}});
  const BenchmarkComparison b = compare(base, fresh).benchmarks.at(0);
  EXPECT_NEAR(b.base_median, 75.4e-6 * 1.004, 1e-18);
  EXPECT_NEAR(b.change, 0.0, 1e-12);
  EXPECT_EQ(b.verdict, Verdict::kSame);
}

TEST(CompareVerdict, FewerThanFourRepetitionsJudgeByTheThresholdAlone) {
  const json base = benchmark_file({BenchRun{kPass, {1.0, 1.01, 0.99}}});
  const json fresh = benchmark_file({BenchRun{kPass, {1.3, 1.31, 1.29}}});
  const CompareReport report = compare(base, fresh);
  const BenchmarkComparison& b = report.benchmarks.at(0);
  EXPECT_FALSE(b.u_test());
  EXPECT_EQ(b.n_base, 3u);
  EXPECT_EQ(b.verdict, Verdict::kRegressed);
  EXPECT_NE(render_compare_table(report).find("regressed (no U test: n < 4)"), std::string::npos);
  EXPECT_TRUE(compare_report_json(report)["benchmarks"][0]["p_value"].is_null());
}

TEST(CompareVerdict, AggregatesOnlyFilesCompareTheirMedians) {
  const json base = benchmark_file(two_benchmarks(kNoiseA), default_context(), true);
  const json fresh = benchmark_file(two_benchmarks(kNoiseB, 1.3), default_context(), true);
  const CompareReport report = compare(base, fresh);
  const BenchmarkComparison& pass = row(report, kPass);
  EXPECT_EQ(pass.n_base, 1u);
  EXPECT_EQ(pass.n_new, 1u);
  EXPECT_FALSE(pass.u_test());
  EXPECT_NEAR(pass.base_median, 0.0754e-3 * 1.004, 1e-18);
  EXPECT_EQ(pass.verdict, Verdict::kRegressed);
  EXPECT_EQ(row(report, kLanczos).verdict, Verdict::kSame);
  EXPECT_EQ(report.exit_code(), 1);
}

// ---- one side only, skipped, contexts --------------------------------------------------------

TEST(CompareReportLists, OneSideOnlyAndSkippedAreListedNotFatal) {
  std::vector<BenchRun> base_runs = two_benchmarks(kNoiseA);
  std::vector<BenchRun> new_runs = two_benchmarks(kNoiseB);
  base_runs.push_back(BenchRun{"cpu/retired", kNoiseA});
  new_runs.push_back(BenchRun{"cpu/added", kNoiseB});
  base_runs.push_back(BenchRun{"cpu/exact/T:4096", kNoiseA});
  new_runs.push_back(BenchRun{"cpu/exact/T:4096", {}, "ms", {}, "T past the CPU exact cap (2048)"});
  const CompareReport report = compare(benchmark_file(base_runs), benchmark_file(new_runs));
  EXPECT_EQ(report.benchmarks.size(), 2u);
  EXPECT_EQ(report.only_in_base, std::vector<std::string>{"cpu/retired"});
  EXPECT_EQ(report.only_in_new, std::vector<std::string>{"cpu/added"});
  ASSERT_EQ(report.skipped.size(), 1u);
  EXPECT_EQ(report.skipped[0].name, "cpu/exact/T:4096");
  EXPECT_EQ(report.skipped[0].side, "new");
  EXPECT_EQ(report.skipped[0].reason, "error: T past the CPU exact cap (2048)");
  EXPECT_EQ(report.exit_code(), 0);
  const std::string table = render_compare_table(report);
  EXPECT_NE(table.find("only in base 'base.json' (1):\n  cpu/retired\n"), std::string::npos)
      << table;
  EXPECT_NE(table.find("only in new 'new.json' (1):\n  cpu/added\n"), std::string::npos) << table;
  EXPECT_NE(table.find("cpu/exact/T:4096 (new): error: T past"), std::string::npos) << table;
}

TEST(CompareReportLists, BenchmarksWithoutTheCounterAreSkipped) {
  // Only cpu/pass reports bytes_per_s; lanczos is skipped under --metric bytes_per_s.
  const auto runs = [](double factor) {
    return std::vector<BenchRun>{
        BenchRun{kPass, kNoiseA, "ms", {{"bytes_per_s", scaled(kNoiseA, 1e11 * factor)}}},
        BenchRun{kLanczos, kNoiseA}};
  };
  CompareOptions options;
  options.metric = "bytes_per_s";
  const CompareReport report = compare(benchmark_file(runs(1)), benchmark_file(runs(1)), options);
  EXPECT_EQ(report.benchmarks.size(), 1u);
  ASSERT_EQ(report.skipped.size(), 1u);
  EXPECT_EQ(report.skipped[0].side, "both");
  EXPECT_EQ(report.skipped[0].reason, "does not report bytes_per_s (absent or not finite)");
}

TEST(CompareReportLists, DifferingContextWarnsAboveTheVerdict) {
  json other = default_context();
  other["cpu_device"] = "Intel Xeon (16 threads)";
  other["num_cpus"] = 16;
  other["device_name"] = "NVIDIA H100";   // a key starting with "device", base lacks it
  other["host_name"] = "another-host";    // not compared
  other["gapbench_commit"] = "a1b2c3d4";  // not compared: commits differ by design
  const CompareReport report = compare(benchmark_file(two_benchmarks(kNoiseA)),
                                       benchmark_file(two_benchmarks(kNoiseA), other));
  std::vector<std::string> keys;
  for (const auto& d : report.context_differences) keys.push_back(d.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"cpu_device", "device_name", "num_cpus"}));
  const std::string table = render_compare_table(report);
  const auto warning = table.find(
      "warning: context differs: cpu_device: base \"AMD EPYC (2 threads)\" vs new \"Intel Xeon "
      "(16 threads)\"\n");
  ASSERT_NE(warning, std::string::npos) << table;
  EXPECT_NE(table.find("warning: context differs: device_name: base (absent) vs new \"NVIDIA "
                       "H100\"\n"),
            std::string::npos)
      << table;
  EXPECT_LT(warning, table.find("verdict:"));
  EXPECT_EQ(report.exit_code(), 0);  // a warning, not a failure
}

TEST(CompareJson, ReportHasTheDocumentedFields) {
  json other = default_context();
  other["num_cpus"] = 4;
  std::vector<BenchRun> new_runs = two_benchmarks(kNoiseB, 1.3);
  new_runs.push_back(BenchRun{"cpu/added", kNoiseB});
  const CompareReport report =
      compare(benchmark_file(two_benchmarks(kNoiseA)), benchmark_file(new_runs, other));
  const json j = compare_report_json(report);
  EXPECT_EQ(j["base"], "base.json");
  EXPECT_EQ(j["new"], "new.json");
  EXPECT_EQ(j["metric"], "real_time");
  EXPECT_EQ(j["threshold"], 0.05);
  EXPECT_EQ(j["alpha"], 0.05);
  EXPECT_EQ(j["context_differences"], json::parse(R"([{"key": "num_cpus", "base": 2, "new": 4}])"));
  ASSERT_EQ(j["benchmarks"].size(), 2u);
  const json& pass = j["benchmarks"][0];
  EXPECT_EQ(pass["name"], kPass);
  EXPECT_NEAR(pass["change"].get<double>(), 0.3, 1e-12);
  EXPECT_NEAR(pass["p_value"].get<double>(), 4.113533525298231e-05, 1e-15);
  EXPECT_EQ(pass["n_base"], 9);
  EXPECT_EQ(pass["n_new"], 9);
  EXPECT_EQ(pass["verdict"], "regressed");
  EXPECT_EQ(pass["u_test"], true);
  EXPECT_TRUE(pass.contains("base_median") && pass.contains("new_median"));
  EXPECT_EQ(j["only_in_base"], json::array());
  EXPECT_EQ(j["only_in_new"], json::array({"cpu/added"}));
  EXPECT_EQ(j["skipped"], json::array());
  EXPECT_EQ(j["verdict"]["regressed"], json::array({kPass}));
  EXPECT_EQ(j["verdict"]["improved"], json::array());
  EXPECT_EQ(j["verdict"]["same"].size(), 1u);
  EXPECT_EQ(j["verdict"]["exit_code"], 1);
  // The contexts travel with the report, for plots and records.
  EXPECT_TRUE(j.contains("base_context") && j["base_context"].is_object());
  EXPECT_TRUE(j.contains("new_context") && j["new_context"].is_object());
}

TEST(CompareParse, NonFiniteCountersAsGoogleBenchmarkWritesThemAreNull) {
  // Google Benchmark 1.7.1 writes NaN and Infinity bare; names and strings keep their text.
  const std::string text = R"({"context": {"note": "NaN \" Infinity"}, "benchmarks": [
    {"name": "cpu/NaN/Infinity", "run_type": "iteration", "real_time": 1.5, "time_unit": "ms",
     "rel_err_s2": NaN, "gap": -Infinity, "bytes_per_s": Infinity}]})";
  const BenchmarkFile file = parse_benchmark_json(text, "nan.json", "nan.json");
  EXPECT_EQ(file.context["note"], "NaN \" Infinity");
  const json& entry = file.benchmarks.at(0);
  EXPECT_EQ(entry["name"], "cpu/NaN/Infinity");
  EXPECT_TRUE(entry["rel_err_s2"].is_null());
  EXPECT_TRUE(entry["gap"].is_null());
  EXPECT_TRUE(entry["bytes_per_s"].is_null());
  EXPECT_EQ(entry["real_time"], 1.5);
  // real_time compares; the non-finite rate is a value the file does not have.
  EXPECT_EQ(compare_benchmarks(file, file, {}).benchmarks.size(), 1u);
  CompareOptions rate;
  rate.metric = "bytes_per_s";
  expect_usage_error([&] { compare_benchmarks(file, file, rate); }, "--metric bytes_per_s");
}

// ---- bad input -------------------------------------------------------------------------------

TEST(CompareBadInput, UnknownDirectionNamesMetric) {
  const json file = benchmark_file(two_benchmarks(kNoiseA));
  CompareOptions options;
  options.metric = "passes_over_A";
  const std::string what = expect_usage_error([&] { compare(file, file, options); }, "--metric");
  EXPECT_EQ(what.rfind("--metric passes_over_A", 0), 0u) << what;
}

TEST(CompareBadInput, MetricNoBenchmarkReportsNamesMetric) {
  const json file = benchmark_file(two_benchmarks(kNoiseA));
  CompareOptions options;
  options.metric = "matrices_per_s";
  expect_usage_error([&] { compare(file, file, options); }, "--metric matrices_per_s");
}

TEST(CompareBadInput, ThresholdAndAlphaOutOfRange) {
  CompareOptions options;
  options.threshold = -0.1;
  expect_usage_error([&] { check_compare_options(options); }, "--threshold");
  options = {};
  options.alpha = 0;
  expect_usage_error([&] { check_compare_options(options); }, "--alpha");
  options.alpha = 1;
  expect_usage_error([&] { check_compare_options(options); }, "--alpha");
}

struct BadFileCase {
  const char* name;
  std::string text;
  const char* needle;  // what the message must say besides the file
};

void PrintTo(const BadFileCase& c, std::ostream* os) { *os << c.name; }

class CompareBadFile : public ::testing::TestWithParam<BadFileCase> {};

TEST_P(CompareBadFile, IsAUsageErrorNamingTheFile) {
  TempDir dir;
  const fs::path path = dir.path() / "broken.json";
  write_text(path, GetParam().text);
  const std::string what =
      expect_usage_error([&] { read_benchmark_file(path, "NEW"); }, GetParam().needle);
  EXPECT_EQ(what.rfind("NEW file '" + path.string() + "'", 0), 0u) << what;
}

const std::string kValidText = benchmark_file(two_benchmarks(kNoiseA)).dump(2);

INSTANTIATE_TEST_SUITE_P(
    Files, CompareBadFile,
    ::testing::Values(
        BadFileCase{"Malformed", R"({"context": {}, "benchmarks": [{"name": "a",}]})",
                    "malformed JSON"},
        BadFileCase{"Truncated", kValidText.substr(0, kValidText.size() / 2), "truncated"},
        BadFileCase{"Empty", "", "empty"},
        BadFileCase{"EmptyBenchmarks", R"({"context": {}, "benchmarks": []})", "no benchmarks"},
        BadFileCase{"NotGoogleBenchmark", R"([1, 2, 3])", "no \"benchmarks\" array"},
        BadFileCase{"EntryWithoutName", R"({"benchmarks": [{"real_time": 1}]})", "entry 0"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(CompareBadInput, MissingFileAndDirectory) {
  TempDir dir;
  expect_usage_error([&] { read_benchmark_file(dir.path() / "absent.json", "BASE"); },
                     "no such file");
  expect_usage_error([&] { read_benchmark_file(dir.path(), "BASE"); }, "is a directory");
}

TEST(CompareBadInput, NoBenchmarkInCommon) {
  const json base = benchmark_file({BenchRun{"cpu/a", kNoiseA}});
  const json fresh = benchmark_file({BenchRun{"cpu/b", kNoiseA}});
  expect_usage_error([&] { compare(base, fresh); }, "no benchmark in common");
}

TEST(CompareBadInput, UnknownTimeUnitNamesTheFile) {
  const json fresh = benchmark_file({BenchRun{kPass, kNoiseA, "fortnights"}});
  expect_usage_error(
      [&] {
        compare(benchmark_file({BenchRun{kPass, kNoiseA}}), fresh);
      },
      "new.json: benchmark '" + kPass + "' has an unknown time_unit 'fortnights'");
}

// ---- the built binary on the fixtures --------------------------------------------------------

const fs::path kData = GAPBENCH_COMPARE_DATA;

CliResult run_compare(const TempDir& dir, std::vector<std::string> args) {
  args.insert(args.begin(), "compare");
  return test::run_command(dir.path(), dir.path(), GAPBENCH_EXE, args);
}

TEST(CompareCli, IdenticalFilesExitZero) {
  TempDir dir;
  const std::string base = (kData / "base.json").string();
  const CliResult r = run_compare(dir, {base, base});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("verdict: 0 regressed, 0 improved, 2 same (threshold 5%, alpha 0.05)\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.err, "");
}

TEST(CompareCli, RegressedFixtureExitsOneAndNamesTheBenchmark) {
  TempDir dir;
  const CliResult r =
      run_compare(dir, {(kData / "base.json").string(), (kData / "regressed.json").string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("verdict: 1 regressed, 0 improved, 1 same (threshold 5%, alpha 0.05): " +
                       kPass + "\n"),
            std::string::npos)
      << r.out;
}

TEST(CompareCli, JsonToStdoutPutsTheTableOnStderr) {
  TempDir dir;
  const CliResult r = run_compare(
      dir, {(kData / "base.json").string(), (kData / "regressed.json").string(), "--json", "-"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const json j = json::parse(r.out);  // stdout holds the JSON report and nothing else
  EXPECT_EQ(j["verdict"]["regressed"], json::array({kPass}));
  EXPECT_EQ(j["verdict"]["exit_code"], 1);
  EXPECT_NE(r.err.find("verdict: 1 regressed"), std::string::npos) << r.err;
}

TEST(CompareCli, JsonToFileBesideTheTable) {
  TempDir dir;
  const std::string base = (kData / "base.json").string();
  const CliResult r = run_compare(dir, {base, base, "--json", "report.json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("verdict: 0 regressed"), std::string::npos) << r.out;
  const json j = json::parse(read_file(dir.path() / "report.json"));
  EXPECT_EQ(j["verdict"]["exit_code"], 0);
  EXPECT_EQ(j["benchmarks"].size(), 2u);
}

struct CliBadCase {
  const char* name;
  std::vector<std::string> args;  // fixture names are resolved under tests/data/compare
  const char* names;              // what the one error line must mention
};

void PrintTo(const CliBadCase& c, std::ostream* os) { *os << c.name; }

class CompareCliBadInput : public ::testing::TestWithParam<CliBadCase> {};

TEST_P(CompareCliBadInput, ExitsTwoWithOneLine) {
  TempDir dir;
  std::vector<std::string> args;
  for (const std::string& a : GetParam().args) {
    args.push_back(a.size() > 5 && a.substr(a.size() - 5) == ".json" ? (kData / a).string() : a);
  }
  const CliResult r = run_compare(dir, args);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(r.err.rfind("gapbench: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(GetParam().names), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CompareCliBadInput,
    ::testing::Values(
        CliBadCase{"Malformed", {"base.json", "malformed.json"}, "NEW file '"},
        CliBadCase{"Truncated", {"truncated.json", "base.json"}, "BASE file '"},
        CliBadCase{"Missing", {"base.json", "absent.json"}, "absent.json': no such file"},
        CliBadCase{"UnknownMetric", {"base.json", "base.json", "--metric", "s1"}, "--metric s1"},
        CliBadCase{
            "ThresholdNotANumber", {"base.json", "base.json", "--threshold", "abc"}, "--threshold"},
        CliBadCase{"OneFile", {"base.json"}, "NEW"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace gapbench
