// `gapbench history`: the performance history (src/gapbench/history/, docs/history.md).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <set>

#include "gapbench/cli/commands.hpp"
#include "gapbench/compare/compare.hpp"
#include "gapbench/error.hpp"
#include "gapbench/history/analysis.hpp"
#include "gapbench/history/store.hpp"

namespace gapbench::cli {
namespace {

namespace fs = std::filesystem;
using namespace gapbench::history;

// --db's default: GAPBENCH_HISTORY_DB, else results/history/history.sqlite.
std::string default_database() {
  const char* env = std::getenv("GAPBENCH_HISTORY_DB");
  return env && *env ? env : kDefaultDatabase;
}

struct HistoryFlags {
  std::string db = default_database();
  std::string format = "text";
  std::string metric = "real_time";
  std::string device;
  std::string order;
  bool include_dirty = false, include_throttled = false;
};

// The series a query selects, in the given commit order when there is one; UsageError naming
// --metric when none of the stored samples has it.
std::vector<Series> select_series(const Store& store, const HistoryFlags& flags,
                                  const std::string& pattern) {
  SeriesQuery query;
  query.metric = flags.metric;
  query.pattern = pattern;
  query.device = flags.device;
  query.include_dirty = flags.include_dirty;
  query.include_throttled = flags.include_throttled;
  std::vector<Series> series = store.series(query);
  if (series.empty()) {
    const std::vector<std::string> metrics = store.metrics();
    if (std::find(metrics.begin(), metrics.end(), flags.metric) == metrics.end()) {
      std::string known;
      for (const auto& m : metrics) known += (known.empty() ? "" : ", ") + m;
      throw UsageError(fmt::format("--metric {}: no stored run reports it (stored: {})",
                                   flags.metric, known.empty() ? "none" : known));
    }
  }
  if (!flags.order.empty()) {
    const std::size_t dropped = apply_commit_order(series, read_commit_order(flags.order));
    if (dropped) {
      std::cerr << fmt::format("history: {} run{} of commits not in --order {} left out\n",
                               dropped, dropped == 1 ? "" : "s", flags.order);
    }
  }
  return series;
}

void add_db_flag(CLI::App* sub, HistoryFlags& flags) {
  sub->add_option("--db", flags.db,
                  "the history database (SQLite; default: $GAPBENCH_HISTORY_DB, else "
                  "results/history/history.sqlite)")
      ->capture_default_str();
}

void add_format_flag(CLI::App* sub, HistoryFlags& flags) {
  sub->add_option("--format", flags.format, "text, markdown (a pull-request comment) or json")
      ->capture_default_str();
}

void add_metric_flag(CLI::App* sub, HistoryFlags& flags) {
  sub->add_option("--metric", flags.metric, "real_time, cpu_time or a counter")
      ->capture_default_str();
}

// The runs left out by default, dirty and throttled ones, let in (check, changes; show draws
// every run, marking those).
void add_exclusion_flags(CLI::App* sub, HistoryFlags& flags) {
  sub->add_flag("--include-dirty", flags.include_dirty,
                "include runs built from uncommitted changes (left out by default)");
  sub->add_flag("--include-throttled", flags.include_throttled,
                "include runs whose device throttled (left out by default)");
}

// The flags that select series (show, changes).
void add_selection_flags(CLI::App* sub, HistoryFlags& flags) {
  add_metric_flag(sub, flags);
  sub->add_option("--device", flags.device, "only this device (a key or a fingerprint)");
  sub->add_option("--order", flags.order,
                  "a file of commits, oldest first (git rev-list --reverse --first-parent "
                  "main): the order of commits; default: by commit date");
}

// Reads and checks every file before anything is written: a bad one leaves the database as it
// was (not even created).
std::vector<std::pair<std::string, RunFacts>> read_runs(const std::vector<std::string>& paths,
                                                        const RunOverrides& overrides) {
  std::vector<std::pair<std::string, RunFacts>> runs;
  for (const std::string& path : paths) {
    const BenchmarkFile file = read_benchmark_file(path, "BENCH");
    runs.emplace_back(path, run_facts(file, overrides));
  }
  return runs;
}

void report_added(const std::string& source, const RunFacts& run, std::int64_t id, bool added) {
  if (!added) {
    std::cout << fmt::format("history: {} is already in the history as run {}\n", source, id);
    return;
  }
  const auto failed = std::count_if(run.benchmarks.begin(), run.benchmarks.end(),
                                    [](const BenchmarkSamples& b) { return b.metrics.empty(); });
  std::cout << fmt::format(
      "history: added run {} from {}: device {} [{}], commit {}{}, {} benchmarks ({} failed or "
      "skipped), {} samples{}\n",
      id, source, run.device_key, run.fingerprint, run.commit, run.dirty ? "-dirty" : "",
      run.benchmarks.size(), failed, run.sample_count(), run.throttled ? " (throttled)" : "");
}

// Adds the runs read, each in its own transaction, and says what became of each.
int add_runs(const std::string& db, const std::vector<std::pair<std::string, RunFacts>>& runs) {
  Store store(db, Store::Mode::kWrite);
  for (const auto& [source, run] : runs) {
    const auto [id, added] = store.add_run(run, source);
    report_added(source, run, id, added);
  }
  return 0;
}

Command add_add(CLI::App& history, std::shared_ptr<HistoryFlags> flags) {
  CLI::App* sub = history.add_subcommand(
      "add", "add runs of gapbench_bench (--benchmark_out JSON) to the history, each in one "
             "transaction (a file already there is not added twice)");
  auto paths = std::make_shared<std::vector<std::string>>();
  auto overrides = std::make_shared<RunOverrides>();
  sub->add_option("BENCH", *paths, "Google Benchmark JSON files")->required();
  sub->add_option("--commit", overrides->commit, "the commit (default: the context's "
                                                 "gapbench_commit; -dirty marks a dirty tree)");
  sub->add_option("--branch", overrides->branch, "the branch the commit is on");
  sub->add_option("--commit-date", overrides->commit_date,
                  "ISO 8601 (default: `git show -s --format=%cI COMMIT` where the commit is "
                  "known, else the run's date orders it)");
  add_db_flag(sub, *flags);
  return [flags, paths, overrides]() {
    return add_runs(flags->db, read_runs(*paths, *overrides));
  };
}

Command add_import(CLI::App& history, std::shared_ptr<HistoryFlags> flags) {
  CLI::App* sub = history.add_subcommand(
      "import", "add every Google Benchmark JSON file under DIR (recursively; other JSON files "
                "are skipped): rebuilds the history from stored runs, e.g. results/baselines");
  auto dirs = std::make_shared<std::vector<std::string>>();
  sub->add_option("DIR", *dirs, "directories")->required();
  add_db_flag(sub, *flags);
  return [flags, dirs]() {
    std::vector<std::string> files;
    for (const std::string& dir : *dirs) {
      std::error_code ec;
      if (!fs::is_directory(dir, ec)) {
        throw UsageError(fmt::format("DIR {}: not a directory", dir));
      }
      for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
        if (entry.is_regular_file() && entry.path().extension() == ".json") {
          files.push_back(entry.path().string());
        }
      }
    }
    std::sort(files.begin(), files.end());
    std::vector<std::pair<std::string, RunFacts>> runs;
    for (const std::string& path : files) {
      try {
        const BenchmarkFile file = read_benchmark_file(path, "BENCH");
        runs.emplace_back(path, run_facts(file, {}));
      } catch (const UsageError& e) {
        // The reason without the label that names the file again.
        std::string reason = e.what();
        const std::string label = fmt::format("BENCH file '{}': ", path);
        if (reason.rfind(label, 0) == 0) reason.erase(0, label.size());
        std::cout << fmt::format("history: skipped {}: {}\n", path, reason);
      }
    }
    if (runs.empty()) {
      throw UsageError(fmt::format("DIR: no gapbench_bench JSON file under {}",
                                   fmt::join(*dirs, ", ")));
    }
    return add_runs(flags->db, runs);
  };
}

Command add_list(CLI::App& history, std::shared_ptr<HistoryFlags> flags) {
  CLI::App* sub = history.add_subcommand("list", "the runs in the history, in history order");
  add_db_flag(sub, *flags);
  add_format_flag(sub, *flags);
  return [flags]() {
    const Format format = parse_format(flags->format);
    const Store store(flags->db, Store::Mode::kRead);
    const std::vector<RunRow> runs = store.runs();
    if (format == Format::kJson) {
      nlohmann::json j = nlohmann::json::array();
      for (const RunRow& r : runs) {
        j.push_back({{"id", r.id}, {"device", r.device_key}, {"fingerprint", r.fingerprint},
                     {"device_description", r.device_description}, {"commit", r.commit},
                     {"dirty", r.dirty}, {"branch", r.branch}, {"commit_date", r.commit_date},
                     {"run_date", r.run_date}, {"build_type", r.build_type},
                     {"throttled", r.throttled}, {"throttle_reason", r.throttle_reason},
                     {"source", r.source}, {"benchmarks", r.benchmarks},
                     {"samples", r.samples}});
      }
      std::cout << nlohmann::json{{"schema", "gapbench.history.list/1"}, {"runs", j}}.dump(2)
                << '\n';
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {
        {"run", "device", "fingerprint", "commit", "branch", "date", "benchmarks", "samples",
         "flags"}};
    for (const RunRow& r : runs) {
      rows.push_back({std::to_string(r.id), r.device_key, r.fingerprint,
                      r.commit + (r.dirty ? "-dirty" : ""), r.branch.empty() ? "-" : r.branch,
                      r.commit_date.empty() ? r.run_date : r.commit_date,
                      std::to_string(r.benchmarks), std::to_string(r.samples),
                      r.throttled ? "throttled (" + r.throttle_reason + ")" : ""});
    }
    std::cout << render_table(rows, format);
    std::cout << fmt::format("list: {} runs in {} (schema version {})\n", runs.size(),
                             flags->db, store.schema_version());
    return 0;
  };
}

Command add_show(CLI::App& history, std::shared_ptr<HistoryFlags> flags) {
  CLI::App* sub = history.add_subcommand(
      "show", "a benchmark's metric across commits, per device: every run's median, its "
              "repetitions' range, its flags (dirty, throttled: shown and marked) and the change "
              "points (--format json: what `plot.py --history` draws)");
  auto pattern = std::make_shared<std::string>();
  sub->add_option("REGEX", *pattern, "benchmarks whose name this regular expression finds")
      ->required();
  add_db_flag(sub, *flags);
  add_format_flag(sub, *flags);
  add_selection_flags(sub, *flags);
  return [flags, pattern]() {
    const Format format = parse_format(flags->format);
    flags->include_dirty = flags->include_throttled = true;  // drawn, and marked
    const Store store(flags->db, Store::Mode::kRead);
    const std::vector<Series> series = select_series(store, *flags, *pattern);
    if (series.empty()) {
      throw UsageError(fmt::format("REGEX {}: no stored benchmark matches (with --metric {})",
                                   *pattern, flags->metric));
    }
    ChangesReport changes;
    if (metric_direction(flags->metric)) {
      changes = find_changes(series, flags->metric, {}, store.acknowledgements());
    }
    std::cout << render_show(series, changes, format);
    return 0;
  };
}

Command add_check(CLI::App& history, std::shared_ptr<HistoryFlags> flags) {
  CLI::App* sub = history.add_subcommand(
      "check", "the verdict of a run against the median of the last N runs of its device "
               "fingerprint (exit 1 when something regressed)");
  auto path = std::make_shared<std::string>();
  auto options = std::make_shared<CheckOptions>();
  auto thresholds = std::make_shared<std::string>();
  sub->add_option("NEW", *path, "the run to judge (Google Benchmark JSON)")->required();
  sub->add_option("--window", options->window, "the last N runs")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  sub->add_option("--min-history", options->min_history,
                  "fewer runs than this: compare with the latest run instead (U test)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  sub->add_option("--threshold", options->threshold, "relative change that counts (0.05 = 5%)")
      ->capture_default_str();
  sub->add_option("--thresholds", *thresholds,
                  "per-benchmark thresholds: a JSON object {\"REGEX\": fraction}, first match wins");
  sub->add_option("--noise-factor", options->noise_factor,
                  "the change must also exceed this many robust sd of the window's medians")
      ->capture_default_str();
  add_db_flag(sub, *flags);
  add_format_flag(sub, *flags);
  add_metric_flag(sub, *flags);
  add_exclusion_flags(sub, *flags);
  sub->footer(metric_direction_help() +
              "\nExit codes: 0 nothing regressed, 1 something regressed, 2 bad input.\n");
  return [flags, path, options, thresholds]() {
    const Format format = parse_format(flags->format);
    options->metric = flags->metric;
    options->include_dirty = flags->include_dirty;
    options->include_throttled = flags->include_throttled;
    if (!thresholds->empty()) options->thresholds = read_thresholds(*thresholds);
    const BenchmarkFile file = read_benchmark_file(*path, "NEW");
    const RunFacts run = run_facts(file, {}, false);  // a run whose benchmarks all failed too
    const Store store(flags->db, Store::Mode::kRead);
    const CheckReport report = check_run(store, run, *options);
    std::cout << render_check(report, format);
    return report.exit_code();
  };
}

Command add_changes(CLI::App& history, std::shared_ptr<HistoryFlags> flags) {
  CLI::App* sub = history.add_subcommand(
      "changes", "change points in every series (E-divisive means, permutation test, false "
                 "discovery rate over the series); exit 1 on an unacknowledged regression");
  auto pattern = std::make_shared<std::string>();
  auto options = std::make_shared<ChangesOptions>();
  sub->add_option("REGEX", *pattern, "only benchmarks whose name this finds (default: all)");
  sub->add_option("--since", options->since, "report only changes at or after this commit");
  sub->add_option("--fdr", options->fdr, "false discovery rate over the series")
      ->capture_default_str();
  sub->add_option("--significance", options->e_divisive.significance,
                  "p-value up to which further change points in a series are kept")
      ->capture_default_str();
  sub->add_option("--seed", options->e_divisive.seed, "the permutations' seed (reproducible)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  add_db_flag(sub, *flags);
  add_format_flag(sub, *flags);
  add_selection_flags(sub, *flags);
  add_exclusion_flags(sub, *flags);
  sub->footer("\nExit codes: 0 no unacknowledged regression, 1 one or more, 2 bad input.\n");
  return [flags, pattern, options]() {
    const Format format = parse_format(flags->format);
    const Store store(flags->db, Store::Mode::kRead);
    const std::vector<Series> series = select_series(store, *flags, *pattern);
    if (!flags->order.empty()) options->order = read_commit_order(flags->order);
    if (!options->since.empty()) {
      // --since by date: its first run in the whole history, whichever benchmarks it ran
      // (find_changes checks the flag).
      for (const RunRow& r : store.runs()) {
        const std::string& date = r.commit_date.empty() ? r.run_date : r.commit_date;
        if (same_commit(r.commit, options->since) &&
            (options->since_date.empty() || date < options->since_date)) {
          options->since_date = date;
        }
      }
    }
    if (series.empty()) {
      throw UsageError(fmt::format(
          "REGEX '{}': no run to search (dirty and throttled runs are left out: "
          "--include-dirty, --include-throttled)",
          *pattern));
    }
    const ChangesReport report =
        find_changes(series, flags->metric, *options, store.acknowledgements());
    std::cout << render_changes(report, format);
    return report.exit_code();
  };
}

Command add_ack(CLI::App& history, std::shared_ptr<HistoryFlags> flags) {
  CLI::App* sub = history.add_subcommand(
      "ack", "accept a change: `changes` marks it acknowledged and no longer fails on it");
  auto ack = std::make_shared<Acknowledgement>();
  sub->add_option("REGEX", ack->pattern, "the benchmarks (a regular expression)")->required();
  sub->add_option("COMMIT", ack->commit, "the commit where the change happened")->required();
  sub->add_option("--note", ack->note, "why it is accepted");
  add_db_flag(sub, *flags);
  add_metric_flag(sub, *flags);
  sub->add_option("--device", flags->device, "only on this device (key or fingerprint)");
  return [flags, ack]() {
    try {
      std::regex check(ack->pattern);
    } catch (const std::regex_error& e) {
      throw UsageError(fmt::format("REGEX '{}': not a regular expression: {}", ack->pattern,
                                   e.what()));
    }
    known_direction(flags->metric);  // the metric needs a direction, as for changes
    check_commit_flag(ack->commit, "COMMIT");
    Store store(flags->db, Store::Mode::kRead);
    // The commit must name one commit of the history.
    std::set<std::string> matches;
    for (const RunRow& r : store.runs()) {
      if (same_commit(r.commit, ack->commit)) matches.insert(r.commit);
    }
    if (matches.size() != 1) {
      throw UsageError(fmt::format("COMMIT {}: {} in the history; give {}", ack->commit,
                                   matches.empty() ? "no run of it" : "ambiguous",
                                   matches.empty() ? "a commit `history list` shows"
                                                   : "more of its digits"));
    }
    ack->metric = flags->metric;
    ack->device = flags->device;
    const std::int64_t id = store.acknowledge(*ack);
    std::cout << fmt::format("history: acknowledgement {}: {} at {} ({})\n", id, ack->pattern,
                             ack->commit, ack->metric);
    return 0;
  };
}

}  // namespace

Command add_history_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "history", "the performance history: every benchmark run kept per device and commit in "
                 "SQLite, checks against the recent runs, change points (docs/history.md)");
  sub->require_subcommand(1);
  auto flags = std::make_shared<HistoryFlags>();
  auto commands = std::make_shared<std::map<std::string, Command>>();
  (*commands)["add"] = add_add(*sub, flags);
  (*commands)["import"] = add_import(*sub, flags);
  (*commands)["list"] = add_list(*sub, flags);
  (*commands)["show"] = add_show(*sub, flags);
  (*commands)["check"] = add_check(*sub, flags);
  (*commands)["changes"] = add_changes(*sub, flags);
  (*commands)["ack"] = add_ack(*sub, flags);
  return [sub, commands]() {
    for (const CLI::App* child : sub->get_subcommands()) {
      return commands->at(child->get_name())();
    }
    return 2;
  };
}

}  // namespace gapbench::cli
