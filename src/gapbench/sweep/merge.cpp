#include "gapbench/sweep/merge.hpp"

#include <fmt/format.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "gapbench/build_info.hpp"
#include "gapbench/error.hpp"
#include "gapbench/propagate/propagate.hpp"
#include "gapbench/sweep/plan.hpp"
#include "gapbench/sweep/results.hpp"
#include "gapbench/sweep/rows.hpp"
#include "gapbench/sweep/runner.hpp"
#include "gapbench/sweep/shard.hpp"
#include "gapbench/text.hpp"

namespace gapbench {
namespace fs = std::filesystem;
namespace {

using Key = std::pair<int, std::uint32_t>;  // (point, index) or (point, run)

// A message of the library's readers ("--resume: ...", "--T: ...") restated for a merge input:
// "DIR: '<dir>': ..." without the flag, which is not one of merge's.
[[noreturn]] void rethrow_naming(const fs::path& dir, const UsageError& e) {
  std::string what = e.what();
  const std::size_t colon = what.find(": ");
  if (what.rfind("--", 0) == 0 && colon != std::string::npos) what = what.substr(colon + 2);
  throw UsageError(fmt::format("DIR: '{}': {}", dir.string(), what));
}

template <typename F>
auto naming(const fs::path& dir, F f) {
  try {
    return f();
  } catch (const UsageError& e) {
    rethrow_naming(dir, e);
  }
}

bool is_shard_name(const std::string& name) {
  const std::size_t of = name.find("-of-");
  const auto digits = [](const std::string& s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  return name.rfind("shard-", 0) == 0 && of != std::string::npos &&
         digits(name.substr(6, of - 6)) && digits(name.substr(of + 4));
}

// The shard directories the DIR arguments name: each a results directory (it has a meta.json)
// or a directory of shard-*-of-* directories, those taken in name order. A shard directory
// without a meta.json there (a start that died before writing it) is left out, so it counts as
// absent, and said on stderr.
std::vector<fs::path> shard_paths(const std::vector<fs::path>& dirs) {
  if (dirs.empty()) {
    throw UsageError(
        "DIR: no directory given; name the shard directories, or the directory that holds them");
  }
  std::vector<fs::path> paths;
  for (const fs::path& dir : dirs) {
    std::error_code ec;
    if (!fs::exists(dir, ec)) {
      throw UsageError(fmt::format("DIR: '{}' does not exist", dir.string()));
    }
    if (fs::exists(dir / kMetaJson, ec)) {
      paths.push_back(dir);
      continue;
    }
    std::vector<fs::path> children;
    bool any = false;
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
      if (!e.is_directory(ec) || !is_shard_name(e.path().filename().string())) continue;
      any = true;
      if (fs::exists(e.path() / kMetaJson, ec)) {
        children.push_back(e.path());
      } else {
        std::cerr << fmt::format("merge: '{}' has no {}; counted as absent\n", e.path().string(),
                                 kMetaJson);
      }
    }
    if (children.empty()) {
      throw UsageError(fmt::format(
          "DIR: '{}' is not a gapbench results directory (no {}) and holds no shard-*-of-* "
          "directories{}",
          dir.string(), kMetaJson, any ? " with one" : ""));
    }
    std::sort(children.begin(), children.end());
    paths.insert(paths.end(), children.begin(), children.end());
  }
  return paths;
}

// One shard directory, its meta.json checked.
struct ShardDir {
  fs::path dir;
  nlohmann::json meta;
  std::string kind;  // "sweep", "propagate"
  Shard shard;
  // Filled by read_rows: the complete keys in its rows.csv, and its rows.
  std::set<Key> keys;
  std::int64_t rows = 0;
};

// `meta`'s object `object`'s string `key` ("backend", "device"), or "?" when it has none.
std::string meta_text(const nlohmann::json& meta, const char* object, const char* key) {
  const nlohmann::json o = meta.value(object, nlohmann::json::object());
  const nlohmann::json v = o.is_object() ? o.value(key, nlohmann::json()) : nlohmann::json();
  return v.is_string() ? v.get<std::string>() : "?";
}

ShardDir read_shard(const fs::path& dir) {
  const fs::path meta_path = dir / kMetaJson;
  ShardDir s{dir, {}, {}, {}, {}, 0};
  try {
    s.meta = nlohmann::json::parse(read_file(meta_path));
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(fmt::format("DIR: {} is not valid JSON ({})", meta_path.string(), e.what()));
  }
  const nlohmann::json schema =
      s.meta.is_object() ? s.meta.value("schema", nlohmann::json()) : nlohmann::json();
  if (schema == kSweepSchema) s.kind = "sweep";
  if (schema == propagate::kPropagateSchema) s.kind = "propagate";
  if (s.kind.empty()) {
    throw UsageError(fmt::format(
        "DIR: '{}' is not a gapbench sweep or propagate directory ({} has schema {}; this "
        "gapbench merges {} and {})",
        dir.string(), meta_path.string(), schema.dump(), kSweepSchema,
        propagate::kPropagateSchema));
  }
  // Types, RNG layout and plan_hash, as a resume checks them (nothing locked or written).
  naming(dir, [&] { return read_resume_meta(dir, schema.get<std::string>(), s.kind); });
  const nlohmann::json shard = s.meta.value("shard", nlohmann::json());
  if (shard.is_null()) {
    throw UsageError(fmt::format(
        "DIR: '{}' is not a shard (its {} has no \"shard\"); a {} run without --shard is whole "
        "and needs no merge",
        dir.string(), kMetaJson, s.kind));
  }
  const auto integer = [&](const char* key) {
    const nlohmann::json v = shard.is_object() ? shard.value(key, nlohmann::json()) : nullptr;
    return v.is_number_integer() ? v.get<std::int64_t>() : std::int64_t{-1};
  };
  s.shard.index = integer("index");
  s.shard.count = integer("count");
  if (s.shard.index < 0 || s.shard.count > kMaxShards || s.shard.index >= s.shard.count) {
    throw UsageError(fmt::format(
        "DIR: {}: \"shard\" is {}, not {{\"index\": I, \"count\": N}} with 0 <= I < N <= {}",
        meta_path.string(), shard.dump(), kMaxShards));
  }
  s.shard.source = shard.value("source", std::string());
  return s;
}

// The shards are of one command, plan and count, each once. Returns them by index.
std::map<std::int64_t, const ShardDir*> check_one_run(const std::vector<ShardDir>& shards) {
  const ShardDir& first = shards.front();
  const std::string hash = plan_hash(first.meta.at("plan"));
  std::map<std::int64_t, const ShardDir*> by_index;
  for (const ShardDir& s : shards) {
    const std::string a = first.dir.string(), b = s.dir.string();
    if (s.kind != first.kind) {
      throw UsageError(
          fmt::format("DIR: '{}' is a {} and '{}' a {}; merge the shards of one command", a,
                      first.kind, b, s.kind));
    }
    const std::string other = plan_hash(s.meta.at("plan"));
    if (other != hash) {
      throw UsageError(fmt::format(
          "DIR: '{}' and '{}' are shards of two plans (plan_hash {} and {}); merge the shards of "
          "one plan",
          a, b, hash, other));
    }
    if (s.shard.count != first.shard.count) {
      throw UsageError(
          fmt::format("DIR: '{}' is a shard of {} and '{}' a shard of {}; merge the "
                      "shards of one split",
                      a, first.shard.count, b, s.shard.count));
    }
    const auto [at, fresh] = by_index.emplace(s.shard.index, &s);
    if (!fresh) {
      throw UsageError(fmt::format("DIR: '{}' and '{}' are both shard {}/{}; give each shard once",
                                   at->second->dir.string(), b, s.shard.index, s.shard.count));
    }
  }
  return by_index;
}

bool inside(const fs::path& path, const fs::path& dir) {
  const auto [d, p] = std::mismatch(dir.begin(), dir.end(), path.begin(), path.end());
  return d == dir.end();
}

// --out is neither an input nor inside a shard, and new (or, with --force, an earlier merge's).
void check_out(const MergeRequest& req, const std::vector<ShardDir>& shards) {
  if (req.out.empty()) throw UsageError("--out: give the directory to write the merge into");
  std::error_code ec;
  const fs::path out = fs::weakly_canonical(req.out, ec);
  for (const ShardDir& s : shards) {
    if (inside(out, fs::weakly_canonical(s.dir, ec))) {
      throw UsageError(fmt::format(
          "--out: '{}' is the shard directory '{}' or inside it; write the merge elsewhere",
          req.out.string(), s.dir.string()));
    }
  }
  for (const fs::path& dir : req.dirs) {
    if (out == fs::weakly_canonical(dir, ec)) {
      throw UsageError(
          fmt::format("--out: '{}' is the input directory '{}'; write the merge "
                      "elsewhere",
                      req.out.string(), dir.string()));
    }
  }
  if (!fs::exists(req.out, ec)) return;
  if (!req.force) {
    throw UsageError(fmt::format(
        "--out: '{}' exists already; choose another directory, or replace an earlier merge with "
        "--force",
        req.out.string()));
  }
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(read_file(req.out / kMetaJson));
  } catch (const nlohmann::json::exception&) {
  }
  if (!meta.is_object() || !meta.contains("merged_from")) {
    throw UsageError(fmt::format(
        "--force: '{}' is not the output of a merge (no \"merged_from\" in its {}); --force "
        "replaces only those",
        req.out.string(), kMetaJson));
  }
}

// "abc (shards 0, 2), def (shard 1)": the values of one meta field and the shards with each, in
// the order of their lowest shard; "" when the shards agree.
std::string mixed(const std::vector<ShardDir>& shards, const char* object, const char* key) {
  std::map<std::string, std::vector<std::int64_t>> by_value;
  for (const ShardDir& s : shards) {
    by_value[meta_text(s.meta, object, key)].push_back(s.shard.index);
  }
  if (by_value.size() < 2) return "";
  std::vector<std::pair<std::vector<std::int64_t>, std::string>> groups;
  for (auto& [value, ids] : by_value) {
    std::sort(ids.begin(), ids.end());
    groups.emplace_back(ids, value);
  }
  std::sort(groups.begin(), groups.end());
  std::string text;
  for (const auto& [ids, value] : groups) {
    text += fmt::format("{}{} (shard{} {})", text.empty() ? "" : ", ", value,
                        ids.size() > 1 ? "s" : "", fmt::join(ids, ", "));
  }
  return fmt::format("{} {}", key, text);
}

void check_mixed(const std::vector<ShardDir>& shards, bool allow_mixed) {
  std::string both;
  for (const std::string& m :
       {mixed(shards, "build", "commit"), mixed(shards, "backend", "device")}) {
    if (!m.empty()) both += (both.empty() ? "" : "; ") + m;
  }
  if (both.empty()) return;
  if (!allow_mixed) {
    throw UsageError(fmt::format(
        "--allow-mixed: the shards differ in {}; their rows may differ in the last bits: rerun "
        "them alike, or merge anyway with --allow-mixed",
        both));
  }
  std::cerr << "merge: the shards differ in " << both << " (--allow-mixed)\n";
}

// The plan of the shards, expanded: its rows layout and which shard each unit belongs to.
class PlanShape {
 public:
  PlanShape(const ShardDir& first, std::int64_t count) {
    const nlohmann::json& plan = first.meta.at("plan");
    std::vector<WorkUnit> units;
    naming(first.dir, [&] {
      nlohmann::json written;
      if (first.kind == "sweep") {
        m_sweep = plan_from_json(plan);
        written = plan_to_json(m_sweep);
        m_sweep_points = expand_plan(m_sweep);
        m_layout = sweep_layout(m_sweep, m_sweep_points);
        units = sweep_units(m_sweep, m_sweep_points);
        m_points = static_cast<int>(m_sweep_points.size());
        m_runs = m_sweep.seeds;
        m_values = m_sweep.all_values;
      } else {
        m_propagate = propagate::plan_from_json(plan);
        written = propagate::plan_to_json(m_propagate);
        m_propagate_points = propagate::expand_plan(m_propagate);
        m_layout = propagate::rows_layout(m_propagate, m_propagate_points);
        units = propagate_units(m_propagate, m_propagate_points);
        m_points = static_cast<int>(m_propagate_points.size());
        m_first_run = m_propagate.first_index;
        m_runs = m_propagate.seeds;
      }
      // Read back as written, or the rows would be checked against another plan.
      if (written != plan) {
        throw UsageError("its plan does not read back as written (another gapbench wrote it)");
      }
      return 0;
    });
    m_shard_of = assign_shards(units, count);
    m_units.assign(static_cast<std::size_t>(count), 0);
    for (const std::int64_t s : m_shard_of) ++m_units[static_cast<std::size_t>(s)];
  }
  PlanShape(const PlanShape&) = delete;
  PlanShape& operator=(const PlanShape&) = delete;

  const RowsLayout& layout() const { return m_layout; }
  bool values() const { return m_values; }
  // The shard of unit `key`, or none when it is not a unit of the plan. Units are in plan order,
  // point-major (shard.hpp), so a key's unit is found by position.
  std::optional<std::int64_t> shard_of(const Key& key) const {
    const auto [point, run] = key;
    if (point < 0 || point >= m_points || run < m_first_run || run >= m_first_run + m_runs) {
      return std::nullopt;
    }
    return m_shard_of[static_cast<std::size_t>(point * m_runs + (run - m_first_run))];
  }
  std::int64_t units(std::int64_t shard) const { return m_units[static_cast<std::size_t>(shard)]; }
  std::size_t rows_per_key(int point) const {
    const auto& r = m_layout.rows_per_key;
    return r.empty() ? 1 : static_cast<std::size_t>(r[static_cast<std::size_t>(point)]);
  }

 private:
  SweepPlan m_sweep;
  std::vector<PlannedPoint> m_sweep_points;
  propagate::PropagatePlan m_propagate;
  std::vector<propagate::PlannedNetwork> m_propagate_points;
  RowsLayout m_layout;  // refers to the points above
  int m_points = 0;
  std::int64_t m_first_run = 0;
  std::int64_t m_runs = 0;
  bool m_values = false;
  std::vector<std::int64_t> m_shard_of;
  std::vector<std::int64_t> m_units;
};

// A line of rows.csv or values.csv, with the key it sorts by.
struct Line {
  std::tuple<int, std::uint32_t, int> order;  // (point, run, layer) or (point, index, rank)
  std::string text;
  bool operator<(const Line& o) const { return order < o.order; }
};

// The whole lines of `file` after its header, which must be `header` (an empty file, or part of
// the header, has none: a start that died). Refuses a torn last line.
std::vector<std::string> body_lines(const fs::path& file, const std::string& header,
                                    const std::string& kind, const fs::path& dir) {
  const std::string text = fs::exists(file) ? read_file(file) : std::string();
  if (header.compare(0, text.size(), text) == 0) return {};
  const std::size_t end = text.find('\n');
  if (end == std::string::npos || text.substr(0, end + 1) != header) {
    throw UsageError(fmt::format(
        "DIR: {}:1: the header is not the one this plan writes ({}); the shard belongs to "
        "another plan or version",
        file.string(),
        header_difference(split(text.substr(0, end), ','),
                          split(header.substr(0, header.size() - 1), ','))));
  }
  if (text.back() != '\n') {
    throw UsageError(fmt::format(
        "DIR: {}:{}: a torn line (no newline: the run was killed while writing it); resume the "
        "shard (gapbench {} --resume {}) to drop it",
        file.string(), std::count(text.begin(), text.end(), '\n') + 1, kind, dir.string()));
  }
  std::vector<std::string> lines = split_lines(text);
  lines.erase(lines.begin());
  return lines;
}

// Reads and checks the rows of shard `s` into `rows`; `seen` holds where every key met so far
// is ("file:line"), so a key in two shards is refused.
void read_rows(ShardDir& s, const PlanShape& shape, std::vector<Line>& rows,
               std::map<Key, std::string>& seen) {
  const fs::path file = s.dir / kRowsCsv;
  const RowsLayout& layout = shape.layout();
  const std::string header = csv_line(layout.columns);
  const std::vector<std::string> lines = body_lines(file, header, s.kind, s.dir);
  std::optional<Key> group;
  std::size_t position = 0;
  const auto where = [&](std::size_t i) { return fmt::format("{}:{}", file.string(), i + 2); };
  const auto close_group = [&](std::size_t i) {
    if (group && position < shape.rows_per_key(group->first)) {
      throw UsageError(fmt::format("DIR: {}: the rows of ({}, {}) stop after {} of {}", where(i),
                                   group->first, group->second, position,
                                   shape.rows_per_key(group->first)));
    }
    if (group) s.keys.insert(*group);
    group.reset();
  };
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::vector<std::string> fields = split(lines[i], ',');
    if (fields.size() != layout.columns.size()) {
      throw UsageError(fmt::format("DIR: {}: {} fields, the header has {}", where(i), fields.size(),
                                   layout.columns.size()));
    }
    RowFields row;
    for (std::size_t c = 0; c < fields.size(); ++c) row[layout.columns[c]] = fields[c];
    const auto point = parse_index<int>(row[layout.point_column]);
    const auto run = parse_index<std::uint32_t>(row[layout.run_column]);
    const std::optional<std::int64_t> shard =
        point && run ? shape.shard_of({*point, *run}) : std::nullopt;
    if (!shard) {
      throw UsageError(fmt::format("DIR: {}: ({}, {}) is not a key of the plan", where(i),
                                   row[layout.point_column], row[layout.run_column]));
    }
    const Key key{*point, *run};
    if (*shard != s.shard.index) {
      throw UsageError(fmt::format("DIR: {}: ({}, {}) is a unit of shard {}, not of this shard {}",
                                   where(i), key.first, key.second, *shard, s.shard.index));
    }
    if (group != key || position >= shape.rows_per_key(key.first)) {
      close_group(i);
      const auto [at, fresh] = seen.emplace(key, where(i));
      if (!fresh) {
        throw UsageError(fmt::format("DIR: {}: ({}, {}) is also at {}", where(i), key.first,
                                     key.second, at->second));
      }
      group = key;
      position = 0;
    }
    if (layout.row_problem) {
      const std::string problem =
          layout.row_problem(key.first, key.second, static_cast<int>(position), row);
      if (!problem.empty()) throw UsageError(fmt::format("DIR: {}: {}", where(i), problem));
    }
    rows.push_back({{key.first, key.second, static_cast<int>(position)}, lines[i]});
    ++position;
    ++s.rows;
  }
  close_group(lines.size());
}

// Reads and checks the values.csv of shard `s` into `values`, keeping the values of its matrices
// that have a row (a run killed between the two appends leaves values without a row).
void read_values(const ShardDir& s, const PlanShape& shape, std::vector<Line>& values) {
  const fs::path file = s.dir / kValuesCsv;
  if (!fs::exists(file) && !s.keys.empty()) {
    throw UsageError(
        fmt::format("DIR: {}: missing; the plan writes it (all_values)", file.string()));
  }
  const std::vector<std::string> lines = body_lines(file, kValuesHeader, s.kind, s.dir);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const ValuesLine v = parse_values_line(lines[i]);
    if (!v.problem.empty()) {
      throw UsageError(fmt::format("DIR: {}:{}: {}", file.string(), i + 2, v.problem));
    }
    if (shape.shard_of({v.point, v.index}) != s.shard.index) {
      throw UsageError(fmt::format("DIR: {}:{}: ({}, {}) is not a unit of this shard {}",
                                   file.string(), i + 2, v.point, v.index, s.shard.index));
    }
    if (s.keys.count({v.point, v.index})) values.push_back({{v.point, v.index, v.rank}, lines[i]});
  }
}

// `command` split into its words, a word in single quotes (main.cpp's quoting) kept whole.
std::vector<std::string> words(const std::string& command) {
  std::vector<std::string> out;
  std::string word;
  bool quoted = false, any = false;
  for (const char c : command) {
    if (c == '\'') quoted = !quoted;
    if (c == ' ' && !quoted) {
      if (any) out.push_back(word);
      word.clear();
      any = false;
      continue;
    }
    word += c;
    any = true;
  }
  if (any) out.push_back(word);
  return out;
}

std::string quote(const std::string& word) {
  const bool plain = !word.empty() && word.find_first_of(" \t'\"$\\") == std::string::npos;
  return plain ? word : "'" + word + "'";
}

// The command that runs shard `index` of `count` again: the stored command of shard `model`, its
// --shard value replaced (added when there is none) and its --out kept (a sharded run writes
// OUT/shard-I-of-N; an --out naming a shard directory itself gets the new shard's name), or
// --out `parent` added when it has none; with `resume`, --out becomes --resume `resume`.
// Textual: the words of the command as main.cpp quoted them.
std::string rerun_command(const ShardDir& model, std::int64_t index, std::int64_t count,
                          const std::optional<fs::path>& resume = std::nullopt) {
  std::vector<std::string> w = words(model.meta.value("command", std::string("gapbench")));
  bool has_shard = false, has_out = false;
  for (std::size_t i = 0; i < w.size(); ++i) {
    // The value: the next word, or after '=' in the same word.
    const std::size_t eq = w[i].find('=');
    std::string flag = w[i].substr(0, eq);
    if ((flag != "--shard" && flag != "--out") || (eq == std::string::npos && i + 1 == w.size())) {
      continue;
    }
    std::string value = eq == std::string::npos ? w[i + 1] : w[i].substr(eq + 1);
    if (flag == "--shard") {
      value = fmt::format("{}/{}", index, count);
      has_shard = true;
    } else {
      const bool quoted = value.size() > 1 && value.front() == '\'' && value.back() == '\'';
      fs::path dir = quoted ? value.substr(1, value.size() - 2) : value;
      if (is_shard_name(dir.filename().string())) {
        dir = dir.parent_path() / shard_dir_name(Shard{index, count, ""});
      }
      if (resume) flag = "--resume", dir = *resume;
      value = quote(dir.string());
      has_out = true;
    }
    if (eq == std::string::npos) {
      w[i] = flag;
      w[++i] = value;
    } else {
      w[i] = flag + "=" + value;
    }
  }
  if (!has_shard) w.push_back(fmt::format("--shard {}/{}", index, count));
  if (!has_out) {
    w.push_back(resume ? "--resume " + quote(resume->string())
                       : "--out " + quote(model.dir.parent_path().string()));
  }
  std::string line;
  for (const std::string& word : w) line += (line.empty() ? "" : " ") + word;
  return line;
}

// Shards to run again: absent, or there but not complete.
struct Missing {
  std::int64_t index = 0;
  std::string why;
  std::string command;
  std::int64_t units = 0;  // of its units, those not in its rows
};

std::vector<Missing> missing_shards(const std::map<std::int64_t, const ShardDir*>& by_index,
                                    std::int64_t count, const PlanShape& shape) {
  const ShardDir& model = *by_index.begin()->second;
  std::vector<Missing> missing;
  for (std::int64_t i = 0; i < count; ++i) {
    const auto it = by_index.find(i);
    if (it == by_index.end()) {
      missing.push_back({i, "absent", rerun_command(model, i, count), shape.units(i)});
      continue;
    }
    const ShardDir& s = *it->second;
    const std::string status = s.meta.value("status", std::string("?"));
    const auto done = static_cast<std::int64_t>(s.keys.size());
    if (status == "complete" && done >= shape.units(i)) continue;
    // A sweep resumes from its stored plan; a propagate resume takes its flags again.
    const std::string command =
        s.kind == "sweep" ? fmt::format("gapbench sweep --resume {}", quote(s.dir.string()))
                          : rerun_command(s, i, count, s.dir);
    missing.push_back({i, fmt::format("status {}, {} of {} units", status, done, shape.units(i)),
                       command, shape.units(i) - done});
  }
  return missing;
}

std::string shard_list(const std::vector<Missing>& missing, std::int64_t count) {
  std::vector<std::int64_t> ids;
  for (const Missing& m : missing) ids.push_back(m.index);
  return fmt::format("shard{} {} of {}", ids.size() > 1 ? "s" : "", fmt::join(ids, ", "), count);
}

// The merged meta.json: the lowest shard's, less what is of one shard, with the merge's own.
nlohmann::json merged_meta(const std::map<std::int64_t, const ShardDir*>& by_index,
                           const std::vector<Missing>& missing, std::int64_t count,
                           const MergeRequest& req) {
  nlohmann::json meta = by_index.begin()->second->meta;
  for (const char* key : {"shard", "cuda_visible_devices", "resumes", "error"}) meta.erase(key);
  meta["status"] = missing.empty() ? "complete" : "partial";
  meta["command"] = req.command_line;
  meta["merged"] = utc_now_iso();
  std::optional<std::string> started, finished;
  nlohmann::json from = nlohmann::json::array();
  std::int64_t keys = 0, rows = 0;
  for (const auto& [index, s] : by_index) {
    const nlohmann::json start = s->meta.value("started", nlohmann::json());
    const nlohmann::json finish = s->meta.value("finished", nlohmann::json());
    if (start.is_string() && (!started || start.get<std::string>() < *started)) started = start;
    if (finish.is_string() && (!finished || finish.get<std::string>() > *finished)) {
      finished = finish;
    }
    keys += static_cast<std::int64_t>(s->keys.size());
    rows += s->rows;
    from.push_back(
        {{"dir", s->dir.string()},
         {"index", index},
         {"host", s->meta.value("host", nlohmann::json())},
         {"device", meta_text(s->meta, "backend", "device")},
         {"commit", meta_text(s->meta, "build", "commit")},
         {"threads", s->meta.value("threads", nlohmann::json())},
         {"cuda_visible_devices", s->meta.value("cuda_visible_devices", nlohmann::json())},
         {"rows", s->rows},
         {"status", s->meta.value("status", nlohmann::json())},
         {"command", s->meta.value("command", nlohmann::json())}});
  }
  if (started) meta["started"] = *started;
  meta["finished"] = finished ? nlohmann::json(*finished) : nlohmann::json();
  // What an unsharded run counts: rows for a sweep, networks for propagate.
  if (meta.contains("networks")) {
    meta["networks"] = keys;
  } else {
    meta["rows"] = rows;
  }
  if (!missing.empty()) {
    nlohmann::json ids = nlohmann::json::array();
    std::int64_t units = 0;
    for (const Missing& m : missing) ids.push_back(m.index), units += m.units;
    meta["missing_shards"] = ids;
    meta["missing_units"] = units;
  }
  meta["shard_count"] = count;
  meta["merged_from"] = from;
  return meta;
}

// `header` and the lines, which it sorts by key first.
std::string joined(std::vector<Line>& lines, const std::string& header) {
  std::sort(lines.begin(), lines.end());
  std::string text = header;
  for (const Line& l : lines) text += l.text + '\n';
  return text;
}

// Writes the merge into a new directory beside `out` and renames it into place (replacing an
// earlier merge there), so `out` is never half-written.
void write_merge(const fs::path& out, const std::map<std::string, std::string>& files) {
  const fs::path target = out.has_filename() ? out : out.parent_path();
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  fs::create_directories(parent);
  const auto temporary = [&](const char* what) {
    std::string pattern = (parent / (target.filename().string() + what + "XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw Error(fmt::format("cannot create a directory in {}: {}", parent.string(),
                              std::strerror(errno)));
    }
    return fs::path(pattern);
  };
  const fs::path tmp = temporary(".tmp-");
  try {
    for (const auto& [name, text] : files) write_file_atomically(tmp / name, text);
    if (fs::exists(target)) {
      // rename(2) replaces only an empty directory: the earlier merge steps aside first, and
      // comes back when the new one cannot take its place.
      const fs::path old = temporary(".old-");
      fs::rename(target, old);
      std::error_code ec;
      fs::rename(tmp, target, ec);
      if (ec) {
        fs::rename(old, target);
        throw fs::filesystem_error("cannot rename the merge into place", tmp, target, ec);
      }
      fs::remove_all(old);
    } else {
      fs::rename(tmp, target);
    }
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace

int run_merge(const MergeRequest& req, std::ostream& out) {
  // 1. The shards' meta.json, and everything refused before a row is read.
  std::vector<ShardDir> shards;
  for (const fs::path& dir : shard_paths(req.dirs)) shards.push_back(read_shard(dir));
  const std::map<std::int64_t, const ShardDir*> by_index = check_one_run(shards);
  check_out(req, shards);
  check_mixed(shards, req.allow_mixed);
  const std::int64_t count = shards.front().shard.count;
  const PlanShape shape(*by_index.begin()->second, count);

  // 2. Every row and value, checked against its shard's units.
  std::vector<Line> rows, values;
  std::map<Key, std::string> seen;
  for (ShardDir& s : shards) read_rows(s, shape, rows, seen);
  if (shape.values()) {
    for (const ShardDir& s : shards) read_values(s, shape, values);
  }

  // 3. What is missing.
  const std::vector<Missing> missing = missing_shards(by_index, count, shape);
  if (!missing.empty() && !req.partial) {
    std::cerr << fmt::format(
        "gapbench: merge: {} missing or incomplete; nothing written; run them again, or merge "
        "what is there with --partial:\n",
        shard_list(missing, count));
    for (const Missing& m : missing) {
      std::cerr << fmt::format("  shard {} ({}): {}\n", m.index, m.why, m.command);
    }
    return 1;
  }
  if (!missing.empty()) {
    std::int64_t units = 0;
    for (const Missing& m : missing) units += m.units;
    std::cerr << fmt::format(
        "merge: --partial: {} units missing ({} missing or incomplete); meta.json says status "
        "\"partial\"\n",
        units, shard_list(missing, count));
  }

  // 4. The merged directory, written whole or not at all; rows and values sorted by key.
  std::map<std::string, std::string> files;
  files[kRowsCsv] = joined(rows, csv_line(shape.layout().columns));
  if (shape.values()) files[kValuesCsv] = joined(values, kValuesHeader);
  files[kMetaJson] = merged_meta(by_index, missing, count, req)
                         .dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
                     "\n";
  write_merge(req.out, files);
  if (shards.front().kind == "sweep") {
    std::vector<SweepRow> typed;
    for (const Line& l : rows) {
      const std::vector<std::string> f = split(l.text, ',');
      RowFields fields;
      for (std::size_t c = 0; c < f.size(); ++c) fields[shape.layout().columns[c]] = f[c];
      typed.push_back(parse_row(fields));
    }
    out << summary_table(typed);
  }
  out << fmt::format("{} rows in {}\n", rows.size(), (req.out / kRowsCsv).string());
  return 0;
}

}  // namespace gapbench
