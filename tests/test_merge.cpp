// `gapbench merge`: shard directories made by splitting an unsharded run's rows by the shard
// rule (shard.hpp, assign_shards) merge back into the unsharded rows, text for text; and every
// refusal writes nothing.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gapbench/error.hpp"
#include "gapbench/propagate/propagate.hpp"
#include "gapbench/sweep/merge.hpp"
#include "gapbench/sweep/plan.hpp"
#include "gapbench/sweep/runner.hpp"
#include "gapbench/sweep/shard.hpp"
#include "gapbench/text.hpp"
#include "test_support.hpp"

namespace gapbench {
namespace {
namespace fs = std::filesystem;
using test::TempDir;
using test::write_text;

nlohmann::json read_json(const fs::path& path) { return nlohmann::json::parse(read_file(path)); }
void write_json(const fs::path& path, const nlohmann::json& j) { write_text(path, j.dump(2)); }

// The stored command of the shards the tests make (what `sweep --shard I/N --out ROOT` records).
std::string shard_command(const std::string& kind, const fs::path& root, std::int64_t i,
                          std::int64_t n) {
  const std::string flags = kind == "sweep" ? "--T 64,128 --seeds 3" : "--T 16,24 --seeds 3";
  return fmt::format("gapbench {} {} --shard {}/{} --out {}", kind, flags, i, n, root.string());
}

// Splits the unsharded run in `full` into `n` shard directories ROOT/shard-I-of-N: each holds
// the rows (and values) of its units by assign_shards, and the run's meta.json plus "shard".
std::vector<fs::path> split_into_shards(const fs::path& full, const fs::path& root,
                                        std::int64_t n) {
  const nlohmann::json meta = read_json(full / "meta.json");
  const bool sweep = meta.at("schema") == kSweepSchema;
  std::vector<WorkUnit> units;
  if (sweep) {
    const SweepPlan plan = plan_from_json(meta.at("plan"));
    units = sweep_units(plan, expand_plan(plan));
  } else {
    const propagate::PropagatePlan plan = propagate::plan_from_json(meta.at("plan"));
    units = propagate_units(plan, propagate::expand_plan(plan));
  }
  const std::vector<std::int64_t> shard_of = assign_shards(units, n);
  std::map<std::pair<std::string, std::string>, std::int64_t> by_key;
  for (std::size_t u = 0; u < units.size(); ++u) {
    by_key[{std::to_string(units[u].point), std::to_string(units[u].index)}] = shard_of[u];
  }
  // Both files start with the key: point, then index (sweep) or run (propagate).
  const auto split_file = [&](const std::string& name) {
    const std::vector<std::string> lines = split_lines(read_file(full / name));
    std::vector<std::string> texts(static_cast<std::size_t>(n), lines.at(0) + '\n');
    for (std::size_t l = 1; l < lines.size(); ++l) {
      const std::vector<std::string> f = split(lines[l], ',');
      texts[static_cast<std::size_t>(by_key.at({f.at(0), f.at(1)}))] += lines[l] + '\n';
    }
    return texts;
  };
  const std::vector<std::string> rows = split_file("rows.csv");
  const bool values = fs::exists(full / "values.csv");
  const std::vector<std::string> vals = values ? split_file("values.csv") : rows;
  std::vector<fs::path> dirs;
  for (std::int64_t i = 0; i < n; ++i) {
    const fs::path dir = root / shard_dir_name(Shard{i, n, ""});
    fs::create_directories(dir);
    write_text(dir / "rows.csv", rows[static_cast<std::size_t>(i)]);
    if (values) write_text(dir / "values.csv", vals[static_cast<std::size_t>(i)]);
    nlohmann::json m = meta;
    m["shard"] = {{"index", i}, {"count", n}, {"source", fmt::format("--shard {}/{}", i, n)}};
    m["cuda_visible_devices"] = nullptr;
    m["command"] = shard_command(sweep ? "sweep" : "propagate", root, i, n);
    write_json(dir / "meta.json", m);
    dirs.push_back(dir);
  }
  return dirs;
}

SweepRequest small_sweep(const fs::path& out, std::uint64_t seed = 0) {
  SweepRequest req;
  req.plan.Ts = {64, 128};
  req.plan.seeds = 3;
  req.plan.seed = seed;
  req.plan.all_values = true;
  req.out = out;
  req.backend = BackendChoice::kCpu;
  req.command_line = "test_merge";
  return req;
}

propagate::PropagateRequest small_propagate(const fs::path& out) {
  propagate::PropagateRequest req;
  req.plan.Ts = {16, 24};
  req.plan.gammas = {0.5};
  req.plan.Ls = {2};
  req.plan.seeds = 3;
  req.plan.first_index = 5;
  req.out = out;
  req.backend = BackendChoice::kCpu;
  req.command_line = "test_merge";
  return req;
}

// What a merge did: its exit code (or -1 when it threw UsageError), the message, stderr, stdout.
struct MergeOutcome {
  int code = -1;
  std::string error, err, out;
};

MergeOutcome merge(const std::vector<fs::path>& dirs, const fs::path& out,
                   void (*options)(MergeRequest&) = nullptr) {
  MergeRequest req;
  req.dirs = dirs;
  req.out = out;
  req.command_line = "gapbench merge";
  if (options) options(req);
  MergeOutcome r;
  std::ostringstream text;
  testing::internal::CaptureStderr();
  try {
    r.code = run_merge(req, text);
  } catch (const UsageError& e) {
    r.error = e.what();
  }
  r.err = testing::internal::GetCapturedStderr();
  r.out = text.str();
  return r;
}

// Nothing of a merge into `out`: no directory, and no temporary one beside it.
void expect_nothing_written(const fs::path& out) {
  EXPECT_FALSE(fs::exists(out)) << out;
  for (const auto& e : fs::directory_iterator(out.parent_path())) {
    EXPECT_EQ(e.path().filename().string().find(out.filename().string() + ".tmp-"),
              std::string::npos)
        << e.path();
  }
}

// A merge that is refused (UsageError) with a message holding every one of `parts`.
void expect_refused(const MergeOutcome& r, const fs::path& out,
                    const std::vector<std::string>& parts) {
  EXPECT_EQ(r.code, -1) << "not refused; stderr: " << r.err;
  for (const std::string& part : parts) {
    EXPECT_NE(r.error.find(part), std::string::npos) << "'" << part << "' not in: " << r.error;
  }
  EXPECT_EQ(r.error.find('\n'), std::string::npos) << "not one line: " << r.error;
  expect_nothing_written(out);
}

// An unsharded run in TMP/full (a sweep, or a propagate), split into `kShards` shard
// directories in TMP/runs; merges go to TMP/merged.
template <bool kSweep, std::int64_t kShards>
class MergeFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ostringstream quiet;
    if constexpr (kSweep) {
      ASSERT_EQ(run_sweep(small_sweep(m_full), quiet), 0);
    } else {
      ASSERT_EQ(propagate::run_sweep(small_propagate(m_full), quiet), 0);
    }
    m_shards = split_into_shards(m_full, m_root, kShards);
  }
  TempDir m_tmp{"gapbench_merge"};
  const fs::path m_full = m_tmp.path() / "full";
  const fs::path m_root = m_tmp.path() / "runs";
  const fs::path m_out = m_tmp.path() / "merged";
  std::vector<fs::path> m_shards;
};
using MergeSweep = MergeFixture<true, 3>;
using MergePropagate = MergeFixture<false, 2>;

TEST_F(MergeSweep, MergedRowsAndValuesAreTheUnshardedOnesTextForText) {
  // Every shard holds rows (6 matrices of unequal cost over 3 shards), so the split is a test.
  for (const fs::path& s : m_shards) ASSERT_GT(split_lines(read_file(s / "rows.csv")).size(), 1u);
  const MergeOutcome r = merge({m_root}, m_out);
  ASSERT_EQ(r.code, 0) << r.error << r.err;
  EXPECT_EQ(read_file(m_out / "rows.csv"), read_file(m_full / "rows.csv"));
  EXPECT_EQ(read_file(m_out / "values.csv"), read_file(m_full / "values.csv"));
  EXPECT_NE(r.out.find("6 rows in " + (m_out / "rows.csv").string()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("s1"), std::string::npos) << "no summary table: " << r.out;

  const nlohmann::json full = read_json(m_full / "meta.json");
  const nlohmann::json meta = read_json(m_out / "meta.json");
  EXPECT_EQ(meta.at("status"), "complete");
  EXPECT_EQ(meta.at("rows"), 6);
  EXPECT_EQ(meta.at("plan"), full.at("plan"));
  EXPECT_EQ(meta.at("plan_hash"), full.at("plan_hash"));
  EXPECT_EQ(meta.at("schema"), kSweepSchema);
  EXPECT_EQ(meta.at("command"), "gapbench merge");
  EXPECT_EQ(meta.at("shard_count"), 3);
  EXPECT_TRUE(meta.at("merged").is_string());
  EXPECT_FALSE(meta.contains("shard"));
  EXPECT_FALSE(meta.contains("cuda_visible_devices"));
  EXPECT_FALSE(meta.contains("missing_shards"));
  const nlohmann::json& from = meta.at("merged_from");
  ASSERT_EQ(from.size(), 3u);
  std::int64_t rows = 0;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(from[i].at("index"), i);
    EXPECT_EQ(from[i].at("dir"), m_shards[i].string());
    EXPECT_EQ(from[i].at("commit"), full.at("build").at("commit"));
    EXPECT_EQ(from[i].at("device"), full.at("backend").at("device"));
    EXPECT_EQ(from[i].at("status"), "complete");
    EXPECT_TRUE(from[i].at("cuda_visible_devices").is_null());
    rows += from[i].at("rows").get<std::int64_t>();
  }
  EXPECT_EQ(rows, 6);
  // The merged directory reads back as a sweep: every row checked against the plan.
  EXPECT_EQ(open_sweep_for_resume(m_out).size(), 6u);
}

TEST_F(MergeSweep, ShardDirectoriesGivenOneByOneInAnyOrderMergeAlike) {
  const MergeOutcome r = merge({m_shards[2], m_shards[0], m_shards[1]}, m_out);
  ASSERT_EQ(r.code, 0) << r.error << r.err;
  EXPECT_EQ(read_file(m_out / "rows.csv"), read_file(m_full / "rows.csv"));
}

TEST_F(MergeSweep, AnAbsentShardIsNamedWithTheCommandThatRunsItAndNothingIsWritten) {
  fs::remove_all(m_shards[1]);
  const MergeOutcome r = merge({m_root}, m_out);
  EXPECT_EQ(r.code, 1) << r.error;
  EXPECT_NE(r.err.find("shard 1 of 3 missing or incomplete"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("  shard 1 (absent): " + shard_command("sweep", m_root, 1, 3) + "\n"),
            std::string::npos)
      << r.err;
  expect_nothing_written(m_out);
}

TEST_F(MergeSweep, AShardDirectoryWithoutMetaJsonCountsAsAbsent) {
  fs::remove(m_shards[1] / "meta.json");  // a start that died before writing it
  const MergeOutcome r = merge({m_root}, m_out);
  EXPECT_EQ(r.code, 1) << r.error;
  EXPECT_NE(r.err.find("'" + m_shards[1].string() + "' has no meta.json; counted as absent"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("  shard 1 (absent): "), std::string::npos) << r.err;
  expect_nothing_written(m_out);
  fs::remove_all(m_shards[0]);
  fs::remove(m_shards[2] / "meta.json");
  expect_refused(merge({m_root}, m_out), m_out, {"holds no shard-*-of-* directories with one"});
}

TEST_F(MergeSweep, AnIncompleteShardIsNamedWithItsResumeCommand) {
  nlohmann::json meta = read_json(m_shards[2] / "meta.json");
  meta["status"] = "interrupted";
  write_json(m_shards[2] / "meta.json", meta);
  // Shard 0 says complete but lost its last row: incomplete too.
  std::vector<std::string> lines = split_lines(read_file(m_shards[0] / "rows.csv"));
  lines.pop_back();
  std::string text;
  for (const std::string& l : lines) text += l + '\n';
  write_text(m_shards[0] / "rows.csv", text);
  const MergeOutcome r = merge({m_root}, m_out);
  EXPECT_EQ(r.code, 1) << r.error;
  EXPECT_NE(r.err.find("shards 0, 2 of 3 missing or incomplete"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("gapbench sweep --resume " + m_shards[2].string() + "\n"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("shard 2 (status interrupted,"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("shard 0 (status complete, "), std::string::npos) << r.err;
  expect_nothing_written(m_out);
}

TEST_F(MergeSweep, PartialMergesWhatIsThereAndSaysWhatIsMissing) {
  const std::size_t shard1_rows = split_lines(read_file(m_shards[1] / "rows.csv")).size() - 1;
  fs::remove_all(m_shards[1]);
  const MergeOutcome r = merge({m_root}, m_out, [](MergeRequest& q) { q.partial = true; });
  ASSERT_EQ(r.code, 0) << r.error << r.err;
  EXPECT_NE(r.err.find(fmt::format("{} units missing", shard1_rows)), std::string::npos) << r.err;
  const nlohmann::json meta = read_json(m_out / "meta.json");
  EXPECT_EQ(meta.at("status"), "partial");
  EXPECT_EQ(meta.at("missing_shards"), nlohmann::json::array({1}));
  EXPECT_EQ(meta.at("missing_units"), shard1_rows);
  EXPECT_EQ(meta.at("rows"), 6 - shard1_rows);
  EXPECT_EQ(meta.at("merged_from").size(), 2u);
  EXPECT_EQ(split_lines(read_file(m_out / "rows.csv")).size(), 7 - shard1_rows);
}

TEST_F(MergeSweep, ShardsOfTwoPlansAreRefusedNamingBoth) {
  std::ostringstream quiet;
  ASSERT_EQ(run_sweep(small_sweep(m_tmp.path() / "other_full", 7), quiet), 0);
  const std::vector<fs::path> other =
      split_into_shards(m_tmp.path() / "other_full", m_tmp.path() / "other", 3);
  expect_refused(merge({m_shards[0], other[1], m_shards[2]}, m_out), m_out,
                 {"DIR: ", "two plans", m_shards[0].string(), other[1].string()});
}

TEST_F(MergeSweep, AnEditedPlanIsRefused) {
  nlohmann::json meta = read_json(m_shards[1] / "meta.json");
  meta["plan"]["seeds"] = 4;  // plan_hash no longer matches
  write_json(m_shards[1] / "meta.json", meta);
  expect_refused(merge({m_root}, m_out), m_out, {"DIR: ", "plan_hash", m_shards[1].string()});
}

TEST_F(MergeSweep, ADuplicatedShardIsRefusedNamingBoth) {
  const fs::path copy = m_tmp.path() / "copy";
  fs::copy(m_shards[0], copy);
  expect_refused(merge({m_root, copy}, m_out), m_out,
                 {"both shard 0/3", m_shards[0].string(), copy.string()});
}

TEST_F(MergeSweep, ShardsOfAnotherCountAreRefused) {
  const std::vector<fs::path> two = split_into_shards(m_full, m_tmp.path() / "two", 2);
  expect_refused(merge({m_shards[0], two[1]}, m_out), m_out, {"a shard of 3", "a shard of 2"});
}

struct CorruptCase {
  const char* name;
  // Changes the rows.csv text of shard 1 (given shard 0's rows.csv text).
  std::string (*edit)(const std::string& rows, const std::string& shard0_rows);
  std::vector<std::string> parts;
};
void PrintTo(const CorruptCase& c, std::ostream* os) { *os << c.name; }

// The fields of line `line` of `rows`, with field `field` (by the header) set to `value`.
std::string with_field(const std::string& rows, std::size_t line, const std::string& field,
                       const std::string& value) {
  std::vector<std::string> lines = split_lines(rows);
  const std::vector<std::string> header = split(lines.at(0), ',');
  std::vector<std::string> f = split(lines.at(line), ',');
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == field) f[i] = value;
  }
  lines[line] = csv_line(f).substr(0, csv_line(f).size() - 1);
  std::string text;
  for (const std::string& l : lines) text += l + '\n';
  return text;
}

class MergeCorrupt : public MergeSweep, public ::testing::WithParamInterface<CorruptCase> {};

TEST_P(MergeCorrupt, IsRefusedNamingTheFileAndLine) {
  const fs::path rows = m_shards[1] / "rows.csv";
  write_text(rows, GetParam().edit(read_file(rows), read_file(m_shards[0] / "rows.csv")));
  const MergeOutcome r = merge({m_root}, m_out);
  expect_refused(r, m_out, GetParam().parts);
  EXPECT_NE(r.error.find(rows.string() + ":"), std::string::npos) << r.error;
}

INSTANTIATE_TEST_SUITE_P(
    Rows, MergeCorrupt,
    ::testing::Values(
        CorruptCase{"plan_column",
                    [](const std::string& rows, const std::string&) {
                      return with_field(rows, 1, "T", "100");
                    },
                    {"rows.csv:2: plan: column T"}},
        CorruptCase{"unparseable",
                    [](const std::string& rows, const std::string&) {
                      return with_field(rows, 1, "s1", "abc");
                    },
                    {"rows.csv:2: field"}},
        CorruptCase{"torn",
                    [](const std::string& rows, const std::string&) { return rows + "0,0,1"; },
                    {"torn line", "--resume"}},
        CorruptCase{"columns",
                    [](const std::string& rows, const std::string&) { return rows + "1,2,3\n"; },
                    {"fields, the header has"}},
        CorruptCase{"another_shards_row",
                    [](const std::string& rows, const std::string& shard0) {
                      return rows + split_lines(shard0).at(1) + '\n';
                    },
                    {"is a unit of shard 0, not of this shard 1"}},
        CorruptCase{"outside_the_plan",
                    [](const std::string& rows, const std::string&) {
                      return with_field(rows, 1, "index", "9");
                    },
                    {"rows.csv:2: (", "9) is not a key of the plan"}},
        CorruptCase{"duplicate",
                    [](const std::string& rows, const std::string&) {
                      return rows + split_lines(rows).at(1) + '\n';
                    },
                    {"is also at", "rows.csv:2"}},
        CorruptCase{"header",
                    [](const std::string& rows, const std::string&) {
                      return "point,seed" + rows.substr(rows.find('\n'));
                    },
                    {"rows.csv:1: the header", "column 2 is 'seed'"}}),
    [](const ::testing::TestParamInfo<CorruptCase>& info) { return info.param.name; });

TEST_F(MergeSweep, AValuesLineThatDoesNotParseIsRefused) {
  const fs::path values = m_shards[2] / "values.csv";
  write_text(values, read_file(values) + "1,2,x,0.5\n");
  expect_refused(merge({m_root}, m_out), m_out, {values.string() + ":", "not point,index,rank"});
}

TEST_F(MergeSweep, WhatIsNotAShardIsRefused) {
  expect_refused(merge({}, m_out), m_out, {"DIR: no directory given"});
  expect_refused(merge({m_tmp.path() / "nowhere"}, m_out), m_out, {"does not exist"});
  const fs::path plain = m_tmp.path() / "plain";
  fs::create_directories(plain);
  write_text(plain / "notes.txt", "hello\n");
  expect_refused(merge({plain}, m_out), m_out,
                 {"is not a gapbench results directory (no meta.json)", plain.string()});
  write_text(plain / "meta.json", "{ not json");
  expect_refused(merge({plain}, m_out), m_out, {"is not valid JSON"});
  write_text(plain / "meta.json", R"({"schema": "other/1", "plan": {}})");
  expect_refused(merge({plain}, m_out), m_out, {"is not a gapbench sweep or propagate"});
  // A whole sweep is not a shard.
  expect_refused(merge({m_full}, m_out), m_out, {"is not a shard", "needs no merge"});
  nlohmann::json meta = read_json(m_shards[0] / "meta.json");
  meta["threads"] = "four";
  write_json(m_shards[0] / "meta.json", meta);
  expect_refused(merge({m_root}, m_out), m_out, {"\"threads\" is not an integer"});
}

TEST_F(MergeSweep, OutInsideAnInputOrExistingIsRefused) {
  const MergeOutcome inside = merge({m_root}, m_shards[1] / "merged");
  EXPECT_EQ(inside.code, -1);
  EXPECT_NE(inside.error.find("--out: "), std::string::npos) << inside.error;
  EXPECT_NE(inside.error.find(m_shards[1].string()), std::string::npos) << inside.error;
  EXPECT_FALSE(fs::exists(m_shards[1] / "merged"));
  const MergeOutcome same = merge({m_root}, m_root);
  EXPECT_NE(same.error.find("--out: "), std::string::npos) << same.error;

  fs::create_directories(m_out);
  write_text(m_out / "keep.txt", "mine\n");
  MergeOutcome r = merge({m_root}, m_out);
  EXPECT_NE(r.error.find("--out: '" + m_out.string() + "' exists already"), std::string::npos)
      << r.error;
  r = merge({m_root}, m_out, [](MergeRequest& q) { q.force = true; });
  EXPECT_NE(r.error.find("is not the output of a merge"), std::string::npos) << r.error;
  EXPECT_EQ(read_file(m_out / "keep.txt"), "mine\n");

  // --force replaces an earlier merge's output.
  fs::remove_all(m_out);
  ASSERT_EQ(merge({m_root}, m_out).code, 0);
  write_text(m_out / "rows.csv", "stale\n");
  r = merge({m_root}, m_out, [](MergeRequest& q) { q.force = true; });
  ASSERT_EQ(r.code, 0) << r.error;
  EXPECT_EQ(read_file(m_out / "rows.csv"), read_file(m_full / "rows.csv"));
}

TEST_F(MergeSweep, MixedCommitsAreRefusedUnlessAllowed) {
  nlohmann::json meta = read_json(m_shards[2] / "meta.json");
  meta["build"]["commit"] = "deadbeef";
  write_json(m_shards[2] / "meta.json", meta);
  expect_refused(merge({m_root}, m_out), m_out, {"--allow-mixed", "commit", "deadbeef (shard 2)"});
  const MergeOutcome r = merge({m_root}, m_out, [](MergeRequest& q) { q.allow_mixed = true; });
  ASSERT_EQ(r.code, 0) << r.error;
  EXPECT_NE(r.err.find("deadbeef (shard 2)"), std::string::npos) << r.err;
  EXPECT_EQ(read_json(m_out / "meta.json").at("merged_from").at(2).at("commit"), "deadbeef");
  EXPECT_EQ(read_file(m_out / "rows.csv"), read_file(m_full / "rows.csv"));
}

TEST_F(MergeSweep, MixedDevicesAreReportedAndMergedWithAllowMixed) {
  nlohmann::json meta = read_json(m_shards[0] / "meta.json");
  meta["backend"]["device"] = "NVIDIA H200";
  write_json(m_shards[0] / "meta.json", meta);
  expect_refused(merge({m_root}, m_out), m_out, {"--allow-mixed", "device NVIDIA H200 (shard 0)"});
  const MergeOutcome r = merge({m_root}, m_out, [](MergeRequest& q) { q.allow_mixed = true; });
  ASSERT_EQ(r.code, 0) << r.error;
  EXPECT_NE(r.err.find("device NVIDIA H200 (shard 0), "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" (shards 1, 2)"), std::string::npos) << r.err;
  EXPECT_EQ(read_json(m_out / "meta.json").at("merged_from").at(0).at("device"), "NVIDIA H200");
}

TEST_F(MergeSweep, MixedSchemasAreRefused) {
  std::ostringstream quiet;
  ASSERT_EQ(propagate::run_sweep(small_propagate(m_tmp.path() / "prop_full"), quiet), 0);
  const std::vector<fs::path> prop =
      split_into_shards(m_tmp.path() / "prop_full", m_tmp.path() / "prop", 3);
  expect_refused(merge({m_shards[0], prop[1]}, m_out), m_out, {"is a sweep", "a propagate"});
}

TEST_F(MergePropagate, MergedRowsAreTheUnshardedOnesTextForText) {
  for (const fs::path& s : m_shards) ASSERT_GT(split_lines(read_file(s / "rows.csv")).size(), 1u);
  const MergeOutcome r = merge({m_root}, m_out);
  ASSERT_EQ(r.code, 0) << r.error << r.err;
  EXPECT_EQ(read_file(m_out / "rows.csv"), read_file(m_full / "rows.csv"));
  EXPECT_FALSE(fs::exists(m_out / "values.csv"));
  const nlohmann::json meta = read_json(m_out / "meta.json");
  EXPECT_EQ(meta.at("schema"), propagate::kPropagateSchema);
  EXPECT_EQ(meta.at("status"), "complete");
  EXPECT_EQ(meta.at("networks"), 6);  // 2 points x 3 runs, 3 rows each
  EXPECT_NE(r.out.find("18 rows in"), std::string::npos) << r.out;
}

TEST_F(MergePropagate, AnIncompleteShardIsResumedWithItsFlags) {
  nlohmann::json meta = read_json(m_shards[0] / "meta.json");
  meta["status"] = "interrupted";
  write_json(m_shards[0] / "meta.json", meta);
  fs::remove_all(m_shards[1]);
  const MergeOutcome r = merge({m_shards[0]}, m_out);
  EXPECT_EQ(r.code, 1) << r.error;
  EXPECT_NE(r.err.find("shards 0, 1 of 2 missing or incomplete"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("gapbench propagate --T 16,24 --seeds 3 --shard 0/2 --resume " +
                       m_shards[0].string() + "\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(shard_command("propagate", m_root, 1, 2) + "\n"), std::string::npos)
      << r.err;
  expect_nothing_written(m_out);
}

TEST_F(MergePropagate, ANetworkWithALayerMissingIsRefused) {
  const fs::path rows = m_shards[1] / "rows.csv";
  std::vector<std::string> lines = split_lines(read_file(rows));
  lines.erase(lines.begin() + 2);  // layer 1 of the first network
  std::string text;
  for (const std::string& l : lines) text += l + '\n';
  write_text(rows, text);
  expect_refused(merge({m_root}, m_out), m_out, {rows.string() + ":3: plan: column layer"});
}

TEST(PropagatePlanJson, ReadsBackEveryField) {
  propagate::PropagatePlan plan;
  plan.Ts = {16, 32};
  plan.ds = {8, 40};
  plan.Ls = {1, 4};
  plan.inputs = {InputKind::kGaussian, InputKind::kIsometric};
  plan.variants = {propagate::Variant::kSkip, propagate::Variant::kScaledSkip};
  plan.sources = {propagate::AttentionSource::kAttention};
  plan.fixes = {Fix::kCenter};
  plan.layernorm = true;
  plan.law = EntryLaw::kLognormal;
  plan.beta = 0.75;
  plan.dk = 6;
  plan.sigma_v = 1.5;
  plan.seed = 0xfffffffffffULL;
  plan.first_index = 9;
  plan.seeds = 2;
  const nlohmann::json j = propagate::plan_to_json(plan);
  EXPECT_EQ(propagate::plan_to_json(propagate::plan_from_json(j)), j);
  EXPECT_EQ(propagate::plan_from_json(j).ds, plan.ds);
  nlohmann::json other = j;
  other["max_layers"] = 8;
  EXPECT_THROW(propagate::plan_from_json(other), UsageError);
  other = j;
  other.erase("sigma_v");
  EXPECT_THROW(propagate::plan_from_json(other), UsageError);
}

// ---- the CLI -------------------------------------------------------------------------------

TEST_F(MergeSweep, TheCliMergesAndRefusesWithExitCodes) {
  const TempDir capture("gapbench_merge_cli");
  test::CliResult r = test::run_command(m_tmp.path(), capture.path(), GAPBENCH_EXE,
                                        {"merge", m_root.string(), "--out", m_out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(m_out / "rows.csv"), read_file(m_full / "rows.csv"));
  EXPECT_EQ(read_json(m_out / "meta.json").at("command"),
            fmt::format("{} merge {} --out {}", GAPBENCH_EXE, m_root.string(), m_out.string()));
  r = test::run_command(m_tmp.path(), capture.path(), GAPBENCH_EXE,
                        {"merge", m_full.string(), "--out", "elsewhere"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "gapbench: error: DIR: '" + m_full.string() +
                       "' is not a shard (its meta.json has no \"shard\"); a sweep run without "
                       "--shard is whole and needs no merge\n");
  fs::remove_all(m_shards[0]);
  r = test::run_command(m_tmp.path(), capture.path(), GAPBENCH_EXE,
                        {"merge", m_root.string(), "--out", "elsewhere"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("shard 0 of 3 missing"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(m_tmp.path() / "elsewhere"));
  r = test::run_command(m_tmp.path(), capture.path(), GAPBENCH_EXE, {"merge", "--out", "x"});
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace gapbench
