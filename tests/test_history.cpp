// The performance history (gapbench history): the store (schema, migrations, atomic runs, two
// writers at once, a writer killed mid-insert), check's verdicts, changes and acknowledgements,
// show's JSON, and bad input. Runs are synthetic Google Benchmark files written here (per-run
// median with a stated noise), plus the stored baselines of results/baselines.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cmath>
#include <random>
#include <thread>

#include "gapbench/history/analysis.hpp"
#include "gapbench/history/store.hpp"
#include "test_support.hpp"

namespace gapbench::test {
namespace {

using namespace gapbench::history;

constexpr const char* kExe = GAPBENCH_EXE;
const fs::path kBaselines = fs::path(GAPBENCH_COMPARE_DATA) / ".." / ".." / ".." / "results" /
                            "baselines";

// A run of a synthetic suite: benchmarks "bm/a" and "bm/b" (real_time in ms, 5 repetitions
// around `scale` x 1 ms and x 2 ms with 1% noise), "bm/rate" (bytes_per_s, higher is better).
struct RunSpec {
  std::string commit = "aaaaaaaaaaaa";
  int day = 1;  // the run's date: 2026-11-DD, at 12:MM for the order within a day
  int minute = 0;
  double scale = 1.0;      // multiplies every time (and divides the rate)
  double scale_b = -1;     // bm/b's own scale when >= 0
  bool dirty = false;
  std::uint64_t throttle = 0;  // the clock-event reasons of gpu/device_state/end
  std::uint64_t seed = 1;
  std::string cpu = "Test CPU (2 threads)";
  std::string fail_b;       // bm/b fails with this message when not empty
  bool rate = true;         // bm/rate is in the run
  double mhz = 2600;        // mhz_per_cpu
  bool scaling = false;     // cpu_scaling_enabled
  double floor_s = -1;      // bm/a's counter floor_s when >= 0
};

std::string bench_json(const RunSpec& r) {
  std::mt19937_64 gen(r.seed);
  std::normal_distribution<double> noise(0.0, 0.01);
  nlohmann::json context = {
      {"date", fmt::format("2026-11-{:02d}T12:{:02d}:00+01:00", r.day, r.minute)},
      {"host_name", "test"},
      {"num_cpus", 2},
      {"mhz_per_cpu", r.mhz},
      {"cpu_scaling_enabled", r.scaling},
      {"cpu_device", r.cpu},
      {"cpu_blas", "OpenBLAS test"},
      {"cuda_devices", "CUDA driver 0, runtime 13000; no CUDA device"},
      {"gapbench_build_type", "Release"},
      {"gapbench_commit", r.commit + (r.dirty ? "-dirty" : "")}};
  nlohmann::json benchmarks = nlohmann::json::array();
  const auto add = [&](const std::string& name, double ms, bool rate) {
    for (int rep = 0; rep < 5; ++rep) {
      const double t = ms * (1 + noise(gen));
      nlohmann::json e = {{"name", name},       {"run_name", name},    {"run_type", "iteration"},
                          {"repetitions", 5},   {"repetition_index", rep},
                          {"iterations", 100},  {"real_time", t},      {"cpu_time", t},
                          {"time_unit", "ms"}};
      if (rate) e["bytes_per_s"] = 1e9 / t;
      if (name == "bm/a" && r.floor_s >= 0) e["floor_s"] = r.floor_s;
      if (name == "bm/b" && !r.fail_b.empty()) {
        e = {{"name", name}, {"run_name", name}, {"run_type", "iteration"},
             {"error_occurred", true}, {"error_message", r.fail_b}, {"iterations", 0},
             {"real_time", 0}, {"cpu_time", 0}, {"time_unit", "ms"}};
      }
      benchmarks.push_back(e);
    }
  };
  add("bm/a", 1.0 * r.scale, false);
  add("bm/b", 2.0 * (r.scale_b >= 0 ? r.scale_b : r.scale), false);
  if (r.rate) add("bm/rate", 1.0 * r.scale, true);
  benchmarks.push_back({{"name", "gpu/device_state/end/iterations:1"},
                        {"run_name", "gpu/device_state/end/iterations:1"},
                        {"run_type", "iteration"},
                        {"iterations", 1},
                        {"real_time", 1.0},
                        {"cpu_time", 1.0},
                        {"time_unit", "ns"},
                        {"sm_clock_mhz", 1980.0},
                        {"throttle_reasons", static_cast<double>(r.throttle)}});
  return nlohmann::json{{"context", context}, {"benchmarks", benchmarks}}.dump(1);
}

class History : public ::testing::Test {
 protected:
  TempDir dir{"gapbench_history"};
  TempDir capture{"gapbench_history_out"};
  fs::path db() const { return dir.path() / "h.sqlite"; }

  fs::path write_run(const RunSpec& r, const std::string& name) {
    const fs::path p = dir.path() / name;
    write_text(p, bench_json(r));
    return p;
  }
  CliResult cli(std::vector<std::string> args) {
    args.insert(args.begin() + 2, {"--db", db().string()});
    return run_command(dir.path(), capture.path(), kExe, args);
  }
  // Adds `n` runs of commits c00..c(n-1), one a day, through the CLI.
  void add_series(int n, double scale, int first_day = 1, std::uint64_t seed = 100) {
    for (int i = 0; i < n; ++i) {
      RunSpec r;
      r.commit = fmt::format("c{:011x}", first_day + i);
      r.day = 1 + (first_day + i - 1) / 24;
      r.minute = (first_day + i - 1) % 24;
      r.scale = scale;
      r.seed = seed + i;
      const fs::path p = write_run(r, fmt::format("run{}.json", first_day + i));
      const CliResult res = cli({"history", "add", p.string(), "--commit-date",
                                 fmt::format("2026-11-{:02d}T{:02d}:00:00Z", r.day, r.minute)});
      ASSERT_EQ(res.exit_code, 0) << res.err;
    }
  }
};

std::size_t count_lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(HistoryDates, UtcDates) {
  EXPECT_EQ(utc_date("2026-11-28T00:22:09+00:00").value(), "2026-11-28T00:22:09Z");
  EXPECT_EQ(utc_date("2026-11-28T00:22:09+01:30").value(), "2026-11-27T22:52:09Z");
  EXPECT_EQ(utc_date("2026-11-28T23:00:00-02:00").value(), "2026-11-29T01:00:00Z");
  EXPECT_EQ(utc_date("2026-11-28 10:00:00.25Z").value(), "2026-11-28T10:00:00Z");
  EXPECT_FALSE(utc_date("yesterday"));
  EXPECT_FALSE(utc_date("2026-13-01T00:00:00Z"));
  EXPECT_FALSE(utc_date("2026-02-30T00:00:00Z")) << "not carried over to March";
  EXPECT_FALSE(utc_date("2026-02-01T00:00:00+99:00"));
}

// check's verdict on synthetic histories: a window of 10 per-run medians and a new run, each with
// normal noise of sd `noise` on its median, over 4000 seeds, the defaults (threshold 5%, 3 robust
// sd). One run cannot be both sensitive and specific when a run's own noise is large: at 3% a 12%
// step is 4 sd, and a one-sided test at 3 sd finds it about 80% of the time. Measured rates
// (printed; docs/history.md): 3% noise: false alarms 2.1%, 12% steps 79%; 1% noise: 0.0% and 100%.
TEST(HistoryCheckRates, WindowVerdictRates) {
  const auto rate = [](double noise_sd, double step, Verdict want) {
    std::mt19937_64 gen(12345);
    std::normal_distribution<double> noise(0.0, noise_sd);
    int hits = 0;
    const int seeds = 4000;
    for (int seed = 0; seed < seeds; ++seed) {
      std::vector<double> window;
      for (int i = 0; i < 10; ++i) window.push_back(1e-3 * (1 + noise(gen)));
      const double fresh = 1e-3 * (1 + step) * (1 + noise(gen));
      hits += judge_against_window(window, fresh, 0.05, 3.0, MetricDirection::kLowerIsBetter)
                  .verdict == want;
    }
    return static_cast<double>(hits) / seeds;
  };
  for (const double sd : {0.03, 0.01}) {
    const double false_alarms = rate(sd, 0.0, Verdict::kRegressed);
    const double found_5 = rate(sd, 0.05, Verdict::kRegressed);
    const double found_12 = rate(sd, 0.12, Verdict::kRegressed);
    const double improved_12 = rate(sd, -0.12, Verdict::kImproved);
    std::printf("check rates at %.0f%% noise: false alarms %.2f%%, 5%% step %.1f%%, 12%% step "
                "%.1f%%, -12%% step improved %.1f%%\n", 100 * sd, 100 * false_alarms,
                100 * found_5, 100 * found_12, 100 * improved_12);
    if (sd == 0.03) {
      EXPECT_LE(false_alarms, 0.035);
      EXPECT_GE(found_12, 0.70);
      EXPECT_GE(improved_12, 0.70);
    } else {
      EXPECT_LE(false_alarms, 0.005);
      EXPECT_GE(found_12, 0.99);
      EXPECT_GE(improved_12, 0.99);
    }
    EXPECT_GT(found_5, false_alarms);
  }
  // A window whose values are all equal has no noise: the threshold decides alone.
  const std::vector<double> flat(10, 1.0);
  EXPECT_EQ(judge_against_window(flat, 1.06, 0.05, 3, MetricDirection::kLowerIsBetter).verdict,
            Verdict::kRegressed);
  EXPECT_EQ(judge_against_window(flat, 1.04, 0.05, 3, MetricDirection::kLowerIsBetter).verdict,
            Verdict::kSame);
  EXPECT_EQ(judge_against_window(flat, 1.06, 0.05, 3, MetricDirection::kHigherIsBetter).verdict,
            Verdict::kImproved);
}

TEST_F(History, AddListAndDuplicate) {
  RunSpec r;
  r.dirty = true;
  const fs::path p = write_run(r, "one.json");
  CliResult res = cli({"history", "add", p.string(), "--branch", "main"});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_NE(res.out.find("added run 1"), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("device Test_CPU_2t"), std::string::npos) << res.out;
  res = cli({"history", "add", p.string()});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_NE(res.out.find("already in the history as run 1"), std::string::npos) << res.out;
  res = cli({"history", "list", "--format", "json"});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  const auto list = nlohmann::json::parse(res.out);
  ASSERT_EQ(list.at("runs").size(), 1u);
  const auto& run = list["runs"][0];
  EXPECT_EQ(run.at("commit"), "aaaaaaaaaaaa");
  EXPECT_EQ(run.at("dirty"), true);
  EXPECT_EQ(run.at("branch"), "main");
  EXPECT_EQ(run.at("run_date"), "2026-11-01T11:00:00Z");  // +01:00 in the file
  // 3 benchmarks x 5 repetitions x (real_time, cpu_time) + the rate's 5 + the device state's 4.
  EXPECT_EQ(run.at("samples"), 3 * 5 * 2 + 5 + 4);
  EXPECT_EQ(run.at("benchmarks"), 4);

  const Store store(db(), Store::Mode::kRead);
  EXPECT_EQ(store.schema_version(), kSchemaVersion);
  SeriesQuery q;
  q.pattern = "^bm/a$";
  q.include_dirty = true;
  const auto series = store.series(q);
  ASSERT_EQ(series.size(), 1u);
  ASSERT_EQ(series[0].points.size(), 1u);
  EXPECT_EQ(series[0].points[0].values.size(), 5u);
  EXPECT_NEAR(series[0].points[0].median(), 1e-3, 3e-5);  // seconds
  q.include_dirty = false;
  EXPECT_TRUE(store.series(q).empty()) << "dirty runs are left out unless asked";
}

TEST_F(History, ImportsTheStoredBaselinesOnce) {
  ASSERT_TRUE(fs::is_directory(kBaselines)) << kBaselines;
  CliResult res = cli({"history", "import", kBaselines.string()});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  res = cli({"history", "import", kBaselines.string()});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_NE(res.out.find("already in the history"), std::string::npos) << res.out;
  const Store store(db(), Store::Mode::kRead);
  const auto runs = store.runs();
  ASSERT_EQ(runs.size(), 2u);
  std::set<std::string> keys;
  for (const auto& r : runs) {
    keys.insert(r.device_key);
    EXPECT_GT(r.samples, 50) << r.device_key;
  }
  EXPECT_EQ(keys, (std::set<std::string>{"AMD_EPYC_2t", "NVIDIA_H200"}));
}

TEST_F(History, CheckVerdicts) {
  add_series(10, 1.0);
  RunSpec r;
  r.commit = "dddddddddddd";
  r.day = 20;
  r.seed = 7;
  r.scale = 1.12;
  r.scale_b = 1.01;  // within the noise and the threshold
  CliResult res = cli({"history", "check", write_run(r, "slow.json").string(), "--format", "json"});
  ASSERT_EQ(res.exit_code, 1) << res.out << res.err;
  auto j = nlohmann::json::parse(res.out);
  std::map<std::string, nlohmann::json> rows;
  for (const auto& row : j.at("benchmarks")) rows[row.at("benchmark")] = row;
  EXPECT_EQ(rows.at("bm/a").at("verdict"), "regressed");
  EXPECT_EQ(rows.at("bm/a").at("method"), "history");
  EXPECT_EQ(rows.at("bm/a").at("history"), 10);
  EXPECT_NEAR(rows.at("bm/a").at("change").get<double>(), 0.12, 0.02);
  EXPECT_EQ(rows.at("bm/b").at("verdict"), "same");

  // A rate: bytes_per_s falls by 1/1.12 - 1 = -11%: regressed (higher is better).
  res = cli({"history", "check", write_run(r, "slow.json").string(), "--metric", "bytes_per_s",
             "--format", "json"});
  ASSERT_EQ(res.exit_code, 1) << res.err;
  j = nlohmann::json::parse(res.out);
  ASSERT_EQ(j.at("benchmarks").size(), 1u);
  EXPECT_EQ(j["benchmarks"][0].at("verdict"), "regressed");

  // Faster: improved, exit 0.
  r.scale = r.scale_b = 0.85;
  res = cli({"history", "check", write_run(r, "fast.json").string()});
  EXPECT_EQ(res.exit_code, 0) << res.out << res.err;
  EXPECT_NE(res.out.find("verdict: 0 regressed, 0 newly failed, 3 improved"), std::string::npos) << res.out;

  // Per-benchmark thresholds: bm/a and bm/rate may change by 20%.
  const fs::path thresholds = dir.path() / "thresholds.json";
  write_text(thresholds, R"({"^bm/(a|rate)$": 0.2, "bm/": 0.05})");
  r.scale = 1.12;
  r.scale_b = 1.0;
  res = cli({"history", "check", write_run(r, "slow2.json").string(), "--thresholds",
             thresholds.string()});
  EXPECT_EQ(res.exit_code, 0) << res.out << res.err;
}

TEST_F(History, CheckFallsBackToTheLatestRunWithLittleHistory) {
  add_series(2, 1.0);
  RunSpec r;
  r.commit = "dddddddddddd";
  r.day = 20;
  r.scale = 1.3;
  CliResult res = cli({"history", "check", write_run(r, "new.json").string(), "--format", "json"});
  ASSERT_EQ(res.exit_code, 1) << res.err;
  const auto j = nlohmann::json::parse(res.out);
  for (const auto& row : j.at("benchmarks")) {
    if (row.at("benchmark") == "gpu/device_state/end/iterations:1") continue;
    EXPECT_EQ(row.at("method"), "latest") << row;
    EXPECT_EQ(row.at("history"), 2) << row;
    EXPECT_EQ(row.at("latest_commit"), "c00000000002") << row;
    EXPECT_TRUE(row.at("p_value").is_number()) << "5 against 5 repetitions: the U test ran";
    EXPECT_EQ(row.at("verdict"), "regressed") << row;
  }
  res = cli({"history", "check", write_run(r, "new.json").string()});
  EXPECT_NE(res.out.find("4 benchmarks had fewer than 5 earlier runs: compared with the latest"),
            std::string::npos)
      << res.out;

  // A run of another device has no history: method none, verdict same.
  r.cpu = "Other CPU (8 threads)";
  res = cli({"history", "check", write_run(r, "other.json").string(), "--format", "json"});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  const auto other = nlohmann::json::parse(res.out);
  for (const auto& row : other.at("benchmarks")) {
    EXPECT_EQ(row.at("method"), "none");
  }
}

TEST_F(History, DirtyAndThrottledRunsStayOutOfTheWindow) {
  add_series(6, 1.0);
  // Slow runs that must not shift the window: dirty ones and throttled ones.
  for (int i = 0; i < 6; ++i) {
    RunSpec r;
    r.commit = fmt::format("e{:011x}", i);
    r.day = 10;
    r.minute = i;
    r.scale = 1.5;
    r.seed = 500 + i;
    r.dirty = i % 2 == 0;
    r.throttle = i % 2 ? 0x40 : 0x1;  // HW thermal slowdown; GPU idle is not throttling
    ASSERT_EQ(cli({"history", "add", write_run(r, fmt::format("x{}.json", i)).string()}).exit_code,
              0);
  }
  CliResult res = cli({"history", "list", "--format", "json"});
  int throttled = 0;
  const auto list = nlohmann::json::parse(res.out);
  for (const auto& run : list.at("runs")) {
    throttled += run["throttled"].get<bool>() ? 1 : 0;
  }
  EXPECT_EQ(throttled, 3);
  RunSpec r;
  r.commit = "ffffffffffff";
  r.day = 20;
  r.seed = 3;
  r.scale = 1.5;
  res = cli({"history", "check", write_run(r, "new.json").string(), "--format", "json"});
  EXPECT_EQ(res.exit_code, 1) << "against the 6 clean runs at 1.0: " << res.out;
  const auto left_out = nlohmann::json::parse(res.out);
  EXPECT_EQ(left_out.at("left_out_dirty"), 3);
  EXPECT_EQ(left_out.at("left_out_throttled"), 3);
  res = cli({"history", "check", write_run(r, "new.json").string(), "--format", "json",
             "--include-dirty", "--include-throttled"});
  EXPECT_EQ(res.exit_code, 0) << "the window is now the 10 latest runs, 6 of them at 1.5: "
                              << res.out;
}

TEST_F(History, ChangesFindsAStepAndAcknowledgementClearsIt) {
  add_series(12, 1.0, 1);
  add_series(12, 1.12, 13);
  CliResult res = cli({"history", "changes", "^bm/a$", "--format", "json"});
  ASSERT_EQ(res.exit_code, 1) << res.out << res.err;
  auto j = nlohmann::json::parse(res.out);
  ASSERT_EQ(j.at("series").size(), 1u);
  const auto& changes = j["series"][0].at("changes");
  ASSERT_EQ(changes.size(), 1u) << res.out;
  EXPECT_EQ(changes[0].at("index"), 12);
  EXPECT_EQ(changes[0].at("commit"), "c0000000000d");
  EXPECT_EQ(changes[0].at("previous_commit"), "c0000000000c");
  EXPECT_EQ(changes[0].at("kind"), "regression");
  EXPECT_NEAR(changes[0].at("change").get<double>(), 0.12, 0.02);
  EXPECT_LT(changes[0].at("low").get<double>(), 0.12);
  EXPECT_GT(changes[0].at("high").get<double>(), 0.12);
  // The same seed gives the same report.
  EXPECT_EQ(cli({"history", "changes", "^bm/a$", "--format", "json"}).out, res.out);
  // The rate improves... no: it falls, a regression too; markdown is a table.
  res = cli({"history", "changes", "bm/", "--format", "markdown"});
  EXPECT_EQ(res.exit_code, 1);
  EXPECT_NE(res.out.find("| bm/a |"), std::string::npos) << res.out;

  res = cli({"history", "ack", "^bm/", "c0000000000d", "--note", "accepted: more accurate"});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  res = cli({"history", "changes", "bm/"});
  EXPECT_EQ(res.exit_code, 0) << res.out;
  EXPECT_NE(res.out.find("regression (acknowledged)"), std::string::npos) << res.out;
  // --since after the change: nothing to report.
  res = cli({"history", "changes", "bm/", "--since", "c00000000014", "--format", "json"});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  const auto since = nlohmann::json::parse(res.out);
  for (const auto& s : since.at("series")) {
    EXPECT_TRUE(s.at("changes").empty());
  }
}

TEST_F(History, ShowJsonAndCommitOrder) {
  add_series(8, 1.0);
  CliResult res = cli({"history", "show", "^bm/a$", "--format", "json"});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  const auto j = nlohmann::json::parse(res.out);
  EXPECT_EQ(j.at("schema"), "gapbench.history.show/1");
  EXPECT_EQ(j.at("unit"), "s");
  ASSERT_EQ(j.at("series").size(), 1u);
  const auto& points = j["series"][0].at("points");
  ASSERT_EQ(points.size(), 8u);
  EXPECT_EQ(points[0].at("commit"), "c00000000001");
  EXPECT_EQ(points[0].at("values").size(), 5u);
  // A given order: reversed, and one commit left out.
  const fs::path order = dir.path() / "order.txt";
  std::string text = "# newest last\n";
  for (int i = 8; i >= 2; --i) text += fmt::format("c{:011x}\n", i);
  write_text(order, text);
  res = cli({"history", "show", "^bm/a$", "--format", "json", "--order", order.string()});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  const auto ordered_json = nlohmann::json::parse(res.out);
  const auto& ordered = ordered_json["series"][0]["points"];
  ASSERT_EQ(ordered.size(), 7u);
  EXPECT_EQ(ordered[0].at("commit"), "c00000000008");
  EXPECT_NE(res.err.find("1 run of commits not in --order"), std::string::npos) << res.err;
  res = cli({"history", "show", "bm/", "--metric", "cpu_time"});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_NE(res.out.find("show: 3 series, metric cpu_time"), std::string::npos) << res.out;
}

TEST_F(History, BadInputExits2WithOneLineAndWritesNothing) {
  const fs::path not_bench = dir.path() / "notbench.json";
  write_text(not_bench, R"({"rows": [1, 2, 3]})");
  const fs::path truncated = dir.path() / "truncated.json";
  write_text(truncated, bench_json(RunSpec{}).substr(0, 300));
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"history", "add", not_bench.string()},
           {"history", "add", truncated.string()},
           {"history", "add", (dir.path() / "missing.json").string()},
           {"history", "import", (dir.path() / "nodir").string()},
           {"history", "list"},
           {"history", "show", "bm/"},
           {"history", "add", write_run(RunSpec{}, "ok.json").string(), "--commit-date",
            "last week"}}) {
    const CliResult res = cli(args);
    EXPECT_EQ(res.exit_code, 2) << args[1] << ": " << res.out << res.err;
    EXPECT_EQ(count_lines(res.err), 1u) << res.err;
    EXPECT_FALSE(fs::exists(db())) << args[1] << " created the database";
  }
  // With a database: an unknown metric, a bad regex, a bad format, a bad order file.
  add_series(3, 1.0);
  const auto before = fs::file_size(db());
  const fs::path order = dir.path() / "order.txt";
  write_text(order, "not-a-commit\n");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"history", "show", "bm/", "--metric", "no_such_metric"},
           {"history", "changes", "--metric", "s1"},
           {"history", "check", write_run(RunSpec{}, "ok.json").string(), "--metric", "mystery"},
           {"history", "check", not_bench.string()},
           {"history", "show", "bm/(", "--format", "json"},
           {"history", "list", "--format", "yaml"},
           {"history", "show", "bm/", "--order", order.string()},
           {"history", "changes", "--since", "0123456789ab"},
           {"history", "changes", "--since", "c0"},
           {"history", "changes", "--significance", "0"},
           {"history", "check", write_run(RunSpec{}, "ok.json").string(), "--window", "0"},
           {"history", "check", write_run(RunSpec{}, "ok.json").string(), "--noise-factor", "-1"},
           {"history", "ack", "bm/", "c00000000001", "--metric", "bogus"},
           {"history", "ack", "bm/(", "c00000000001"},
           {"history", "ack", "bm/", "c0000000000"},
           {"history", "ack", "bm/", "0123456789ab"}}) {
    const CliResult res = cli(args);
    EXPECT_EQ(res.exit_code, 2) << args[1] << " " << args.back() << ": " << res.out << res.err;
    EXPECT_EQ(count_lines(res.err), 1u) << res.err;
    EXPECT_TRUE(res.out.empty()) << res.out;
  }
  EXPECT_EQ(fs::file_size(db()), before);
}

TEST_F(History, CheckOfAStoredRunLooksOnlyAtTheRunsBeforeIt) {
  add_series(8, 1.0, 1);
  add_series(8, 1.3, 9);  // a 30% step at commit 9, stored
  // Commit 9's run judged again: against commits 1-8 (a regression), not 10-16.
  RunSpec r;
  r.commit = fmt::format("c{:011x}", 9);
  r.day = 1;
  r.minute = 8;
  r.scale = 1.3;
  r.seed = 100;
  const fs::path p = write_run(r, "run9.json");  // the same file add_series stored
  CliResult res = cli({"history", "check", p.string(), "--format", "json"});
  ASSERT_EQ(res.exit_code, 1) << res.out << res.err;
  const auto j = nlohmann::json::parse(res.out);
  for (const auto& row : j.at("benchmarks")) {
    if (row.at("benchmark") != "bm/a") continue;
    EXPECT_EQ(row.at("history"), 8);
    EXPECT_EQ(row.at("verdict"), "regressed");
    EXPECT_EQ(row.at("latest_commit"), "c00000000008");
  }
}

TEST_F(History, CheckReportsFailedAndMissingBenchmarks) {
  add_series(6, 1.0);
  RunSpec r;
  r.commit = "dddddddddddd";
  r.day = 20;
  r.fail_b = "CUDA out of memory";
  r.rate = false;
  CliResult res = cli({"history", "check", write_run(r, "broken.json").string(), "--format",
                       "json"});
  ASSERT_EQ(res.exit_code, 1) << "bm/b ran on every earlier run and fails now: " << res.out;
  auto j = nlohmann::json::parse(res.out);
  EXPECT_EQ(j.at("newly_failed"), 1);
  EXPECT_EQ(j.at("missing"), nlohmann::json::array({"bm/rate"}));
  bool seen = false;
  for (const auto& row : j.at("benchmarks")) {
    if (row.at("benchmark") != "bm/b") continue;
    seen = true;
    EXPECT_EQ(row.at("method"), "failed");
    EXPECT_EQ(row.at("error"), "CUDA out of memory");
    EXPECT_EQ(row.at("verdict"), "newly failed");
  }
  EXPECT_TRUE(seen) << res.out;
  res = cli({"history", "check", write_run(r, "broken.json").string()});
  EXPECT_NE(res.out.find("newly failed: CUDA out of memory"), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("1 benchmark of the device's latest earlier run are not in this run"),
            std::string::npos)
      << res.out;
}

TEST_F(History, ChangesHandleSeriesFromZeroAndSinceInSeriesThatStartLater) {
  // floor_s steps from 0 to 2e-3 at commit 9: no relative step, still a regression.
  for (int i = 1; i <= 16; ++i) {
    RunSpec r;
    r.commit = fmt::format("c{:011x}", i);
    r.minute = i;
    r.seed = 40 + i;
    r.floor_s = i < 9 ? 0.0 : 2e-3;
    r.scale = i < 12 ? 1.0 : 1.3;  // bm/a's time steps at commit 12
    r.rate = i >= 5;               // bm/rate starts at commit 5, steps at 12
    ASSERT_EQ(cli({"history", "add", write_run(r, fmt::format("z{}.json", i)).string(),
                   "--commit-date", fmt::format("2026-11-01T00:{:02d}:00Z", i)})
                  .exit_code,
              0);
  }
  CliResult res = cli({"history", "changes", "bm/a", "--metric", "floor_s", "--format", "json"});
  ASSERT_EQ(res.exit_code, 1) << res.out << res.err;
  auto j = nlohmann::json::parse(res.out);
  ASSERT_EQ(j.at("series").at(0).at("changes").size(), 1u) << res.out;
  const auto& zero = j["series"][0]["changes"][0];
  EXPECT_EQ(zero.at("commit"), "c00000000009");
  EXPECT_TRUE(zero.at("change").is_null());
  EXPECT_EQ(zero.at("kind"), "regression");
  // --since c00000000003: bm/rate has no run of it, and its step at 12 is still reported.
  res = cli({"history", "changes", "bm/rate", "--since", "c00000000003", "--format", "json"});
  ASSERT_EQ(res.exit_code, 1) << res.out << res.err;
  j = nlohmann::json::parse(res.out);
  ASSERT_EQ(j.at("series").at(0).at("changes").size(), 1u) << res.out;
  EXPECT_EQ(j["series"][0]["changes"][0].at("commit"), "c0000000000c");
  res = cli({"history", "changes", "bm/rate", "--since", "c0000000000d", "--format", "json"});
  ASSERT_EQ(res.exit_code, 0) << res.out << res.err;
}

TEST_F(History, FingerprintKeepsTheClockOnlyWithoutFrequencyScaling) {
  const auto fingerprint = [&](double mhz, bool scaling, const std::string& name) {
    RunSpec r;
    r.mhz = mhz;
    r.scaling = scaling;
    return run_facts(read_benchmark_file(write_run(r, name), "BENCH"), {}).fingerprint;
  };
  EXPECT_EQ(fingerprint(2596, false, "f1.json"), fingerprint(2604, false, "f2.json"));
  EXPECT_NE(fingerprint(2596, false, "f3.json"), fingerprint(3400, false, "f4.json"));
  EXPECT_EQ(fingerprint(1200, true, "f5.json"), fingerprint(3400, true, "f6.json"));
}

TEST_F(History, RefusesAFileThatIsNotAHistoryAndLeavesItAlone) {
  const fs::path other = dir.path() / "other.sqlite";
  ASSERT_EQ(std::system(("sqlite3 " + shell_quote(other.string()) +
                         " 'CREATE TABLE runs(x); INSERT INTO runs VALUES(1)'")
                            .c_str()),
            0);
  const auto before = read_file(other);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"history", "list", "--db", other.string()},
           {"history", "add", write_run(RunSpec{}, "a.json").string(), "--db", other.string()}}) {
    const CliResult res = run_command(dir.path(), capture.path(), kExe, args);
    EXPECT_EQ(res.exit_code, 2) << res.err;
    EXPECT_NE(res.err.find("not a gapbench history database"), std::string::npos) << res.err;
  }
  EXPECT_EQ(read_file(other), before);
  const fs::path empty = dir.path() / "empty.sqlite";
  write_text(empty, "");
  const CliResult res = run_command(dir.path(), capture.path(), kExe,
                                    {"history", "list", "--db", empty.string()});
  EXPECT_EQ(res.exit_code, 2);
  EXPECT_EQ(fs::file_size(empty), 0u) << "a read wrote the file";
}

TEST_F(History, MigratesAnOlderSchemaAndRefusesANewerOne) {
  { const Store v1(db(), Store::Mode::kWrite, 1); EXPECT_EQ(v1.schema_version(), 1); }
  {
    Store store(db(), Store::Mode::kWrite);
    EXPECT_EQ(store.schema_version(), kSchemaVersion);
    EXPECT_EQ(store.acknowledge({0, "bm/", "real_time", "", "abcdef1", "ok", ""}), 1);
  }
  const std::string bump =
      "sqlite3 " + shell_quote(db().string()) + " 'PRAGMA user_version = 99'";
  ASSERT_EQ(std::system(bump.c_str()), 0);
  const CliResult res = cli({"history", "list"});
  EXPECT_EQ(res.exit_code, 2);
  EXPECT_NE(res.err.find("schema version 99 is newer"), std::string::npos) << res.err;
}

// Forks gapbench with `env` ("NAME=value") added; stdout and stderr to files in `capture`.
pid_t spawn(const fs::path& capture, const std::string& tag, const std::vector<std::string>& args,
            const std::vector<std::string>& env) {
  std::vector<std::string> argv_text = {kExe};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  const std::string out = (capture / (tag + ".out")).string();
  const std::string err = (capture / (tag + ".err")).string();
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (const std::string& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    for (auto& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out_fd < 0 || err_fd < 0) ::_exit(127);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    ::execv(kExe, argv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits until `path` holds `text` (the hooks announce themselves on stderr), at most 20 s.
bool wait_for_text(const fs::path& path, const std::string& text) {
  for (int i = 0; i < 2000; ++i) {
    if (read_file(path).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST_F(History, TwoWritersThatOverlapBothSucceed) {
  add_series(1, 1.0);  // the database exists, so both writers only add
  RunSpec r1, r2;
  r1.commit = "111111111111";
  r2.commit = "222222222222";
  const fs::path p1 = write_run(r1, "w1.json"), p2 = write_run(r2, "w2.json");
  // Writer 1 holds its write transaction open 1.5 s; writer 2 starts inside that time.
  const pid_t w1 = spawn(capture.path(), "w1",
                         {"history", "add", "--db", db().string(), p1.string()},
                         {"GAPBENCH_TEST_HOLD_AT=history-transaction:1500"});
  ASSERT_TRUE(wait_for_text(capture.path() / "w1.err", "holding at history-transaction"));
  const auto start = std::chrono::steady_clock::now();
  const pid_t w2 =
      spawn(capture.path(), "w2", {"history", "add", "--db", db().string(), p2.string()}, {});
  int s1 = 0, s2 = 0;
  ASSERT_EQ(::waitpid(w2, &s2, 0), w2);
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(::waitpid(w1, &s1, 0), w1);
  EXPECT_TRUE(WIFEXITED(s1) && WEXITSTATUS(s1) == 0) << read_file(capture.path() / "w1.err");
  EXPECT_TRUE(WIFEXITED(s2) && WEXITSTATUS(s2) == 0) << read_file(capture.path() / "w2.err");
  EXPECT_GT(waited, 0.5) << "writer 2 did not wait for writer 1's lock";
  const Store store(db(), Store::Mode::kRead);
  EXPECT_EQ(store.runs().size(), 3u);
}

TEST_F(History, AWriterKilledMidInsertLeavesAllOrNothing) {
  add_series(1, 1.0);
  RunSpec r;
  r.commit = "333333333333";
  const fs::path p = write_run(r, "killed.json");
  const pid_t pid = spawn(capture.path(), "k", {"history", "add", "--db", db().string(),
                                                 p.string()},
                          {"GAPBENCH_TEST_PAUSE_AT=history-insert"});
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, WUNTRACED), pid);
  ASSERT_TRUE(WIFSTOPPED(status)) << read_file(capture.path() / "k.err");
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  {
    const Store store(db(), Store::Mode::kRead);
    ASSERT_EQ(store.runs().size(), 1u) << "the killed run left a part of itself";
    SeriesQuery q;
    q.pattern = "bm/";
    for (const auto& s : store.series(q)) EXPECT_EQ(s.points.size(), 1u) << s.benchmark;
  }
  // Added again, it is whole.
  const CliResult res = cli({"history", "add", p.string()});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  const Store store(db(), Store::Mode::kRead);
  const auto runs = store.runs();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs.back().samples, runs.front().samples);
}

}  // namespace
}  // namespace gapbench::test
