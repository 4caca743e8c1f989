// What `gapbench history` reports from the store: the table of a series across commits (show),
// the verdict of a new run against the recent history (check), and the change points of every
// series (changes); each as text, markdown (for a pull-request comment) or JSON. The method and
// its measured rates: docs/history.md.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "gapbench/compare/compare.hpp"
#include "gapbench/history/change_points.hpp"
#include "gapbench/history/store.hpp"

namespace gapbench::history {

enum class Format { kText, kMarkdown, kJson };
Format parse_format(const std::string& name);  // UsageError naming --format

// Rows of cells (the first the header) as aligned text, or as a markdown table.
std::string render_table(const std::vector<std::vector<std::string>>& rows, Format format);

// The order of commits given by a file (one commit per line, oldest first, e.g. `git rev-list
// --reverse --first-parent main`): the points of each series sorted by their commit's place,
// runs of one commit in history order, and the points of unlisted commits dropped. A listed
// commit matches a stored one when either is a prefix of the other. Returns the runs dropped.
std::vector<std::string> read_commit_order(const std::string& path);  // UsageError naming --order
std::size_t apply_commit_order(std::vector<Series>& series, const std::vector<std::string>& order);

// Whether two abbreviations of commits name the same commit (one is a prefix of the other).
bool same_commit(const std::string& a, const std::string& b);

// A commit given on the command line (--since, ack's COMMIT): 7 to 40 hex digits, else
// UsageError naming `flag`.
void check_commit_flag(const std::string& commit, const std::string& flag);

// --- changes -------------------------------------------------------------------------------

struct ChangesOptions {
  EDivisiveOptions e_divisive;  // its permutations are raised with the number of series
  double fdr = 0.05;            // Benjamini–Hochberg level over the series' first p-values
  std::string since;            // report only changes at or after this commit; empty: all
  std::vector<std::string> order;  // the --order list, which places `since`; empty: by date
  // Where `since` falls by date when it has no run in the series given (the CLI looks it up in
  // every run of the history); empty: found in the series.
  std::string since_date;
};

struct Change {
  std::size_t index = 0;  // the first point after the change
  std::string commit, previous_commit;
  StepEstimate step;
  double p_value = 1;
  bool regression = false;
  bool acknowledged = false;
  std::string acknowledgement_note;
};

struct SeriesChanges {
  const Series* series = nullptr;
  double first_p_value = 1;
  bool tested = false;       // long enough (2 x min_segment points)
  bool discovered = false;   // its first p-value passes the false-discovery-rate correction
  std::vector<Change> changes;
};

struct ChangesReport {
  std::string metric;
  MetricDirection direction = MetricDirection::kLowerIsBetter;
  ChangesOptions options;
  std::size_t permutations = 0;  // the most per test, as raised for the number of series
  std::vector<SeriesChanges> series;
  std::size_t tested() const;
  std::size_t unacknowledged_regressions() const;
  int exit_code() const { return unacknowledged_regressions() ? 1 : 0; }
};

// The change points of every series. --since C keeps the changes whose first point is not
// earlier than C in history order (C's first run by date, or C's line in --order), in every
// series, whether or not it has a run of C. Throws UsageError for options out of range or a
// --since commit no series holds.
ChangesReport find_changes(const std::vector<Series>& series, const std::string& metric,
                           const ChangesOptions& options,
                           const std::vector<Acknowledgement>& acknowledgements);
std::string render_changes(const ChangesReport& report, Format format);

// --- check ---------------------------------------------------------------------------------

struct CheckOptions {
  std::string metric = "real_time";
  double threshold = 0.05;  // the default relative change that counts
  // Per-benchmark thresholds: the first pattern found in the name (ECMAScript regex) wins.
  std::vector<std::pair<std::string, double>> thresholds;
  std::size_t window = 10;      // the last N runs of the history
  std::size_t min_history = 5;  // fewer: the fallback, compare against the latest run
  double noise_factor = 3;      // the change must also exceed this many robust sd of the window
  double alpha = 0.05;          // the fallback's U test
  bool include_dirty = false, include_throttled = false;
};

// The verdict of a run's median against the medians of earlier runs (`window`, not empty):
// baseline = their median, noise = 1.4826 x their median absolute deviation (a robust sd),
// change = new_median / baseline - 1; regressed (improved) when the change is worse (better)
// than `threshold` in the metric's direction and |new_median - baseline| > noise_factor x noise.
struct WindowVerdict {
  double baseline = 0;
  double noise = 0;  // relative to the baseline
  double change = 0;
  Verdict verdict = Verdict::kSame;
};
WindowVerdict judge_against_window(const std::vector<double>& window, double new_median,
                                   double threshold, double noise_factor,
                                   MetricDirection direction);

// Reads a thresholds file: a JSON object {"REGEX": fraction, ...}, in order of precedence.
std::vector<std::pair<std::string, double>> read_thresholds(const std::string& path);

struct CheckRow {
  std::string benchmark;
  // "history" (window of N), "latest" (fallback: compare), "none" (no earlier run), "failed"
  // (the benchmark failed in the run: `error`)
  std::string method;
  std::string error;
  std::size_t history = 0;  // eligible runs in the window
  double baseline = 0;      // median of the window's medians, or the latest run's median
  double noise = 0;         // robust sd of the window's medians (1.4826 MAD), relative
  double new_median = 0;
  double change = 0;
  double threshold = 0;
  std::optional<double> p_value;  // the fallback's U test
  std::string latest_commit;
  Verdict verdict = Verdict::kSame;
};

struct CheckReport {
  std::string metric, device_key, fingerprint, commit;
  bool dirty = false, throttled = false;
  MetricDirection direction = MetricDirection::kLowerIsBetter;
  CheckOptions options;
  bool already_stored = false;  // the run is in the history: left out of its own window
  std::size_t left_out_dirty = 0, left_out_throttled = 0;  // earlier runs of the device
  std::vector<CheckRow> rows;
  // Benchmarks that failed in the run but succeeded in its window: counted as regressions.
  std::size_t newly_failed = 0;
  // Benchmarks of the device's latest earlier run that the run lacks (a filter, or a removed
  // benchmark): listed, not judged.
  std::vector<std::string> missing;
  std::size_t count(Verdict v) const;
  int exit_code() const { return count(Verdict::kRegressed) || newly_failed ? 1 : 0; }
};

// The window of each benchmark holds the runs before NEW in history order: before it when NEW
// is stored, else those whose commit (or run) date is earlier than NEW's.
CheckReport check_run(const Store& store, const RunFacts& run, const CheckOptions& options);
std::string render_check(const CheckReport& report, Format format);

// --- show ----------------------------------------------------------------------------------

// The series with their change points (schema gapbench.history.show/1, what the plot package's
// history figure reads), or a table per series.
std::string render_show(const std::vector<Series>& series, const ChangesReport& changes,
                        Format format);

}  // namespace gapbench::history
