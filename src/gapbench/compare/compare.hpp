// `gapbench compare`: the regression verdict between two Google Benchmark JSON files.
//
// Benchmarks are matched by run_name. The samples of a benchmark are its "iteration" entries (one
// per repetition); a benchmark with aggregates only (--benchmark_report_aggregates_only) has its
// "median" aggregate as its one sample; entries with error_occurred are skipped. Per benchmark in
// both files: the medians, the relative change, a two-sided Mann–Whitney U test over the
// repetitions, and a verdict: regressed (improved) when p < alpha and the change is worse (better)
// than the threshold in the metric's direction. With fewer than 4 samples on a side the U test
// cannot reach p < 0.05, and the threshold on the medians decides alone.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gapbench {

// Whether a smaller or a larger value of a metric is the better one.
enum class MetricDirection { kLowerIsBetter, kHigherIsBetter };

// The direction of `metric` from its name: real_time, cpu_time, names ending in "_s" or
// "s_per_pass" are times (lower is better); names ending in "_per_s" or "per_second" and
// "pct_of_copy_bw" are rates (higher is better). Unknown: nullopt.
std::optional<MetricDirection> metric_direction(const std::string& metric);

// Whether `metric` is one of Google Benchmark's times (real_time, cpu_time: in seconds here).
bool is_time_metric(const std::string& metric);

// `value` as JSON, null where it is not finite (NaN, infinities).
nlohmann::json finite_or_null(double value);

// A value of a metric with its unit: times scaled to ns/us/ms/s, counters as they are (4 digits).
std::string format_metric_value(double value, bool is_time);

// The direction of `metric`, or UsageError naming --metric when it has none.
MetricDirection known_direction(const std::string& metric);

// The table of known directions, for --help and for the error naming --metric.
std::string metric_direction_help();

// The settings of a comparison. threshold and alpha are fractions (0.05 = 5%).
struct CompareOptions {
  std::string metric = "real_time";  // real_time, cpu_time or a user counter
  double threshold = 0.05;           // relative change of the medians that counts (>= 0)
  double alpha = 0.05;               // significance level of the U test, in (0, 1)
};

// Throws UsageError naming --metric, --threshold or --alpha when an option is unusable.
void check_compare_options(const CompareOptions& options);

// A parsed Google Benchmark JSON file: `label` names it in messages ("BASE 'a.json'").
struct BenchmarkFile {
  std::string path;
  std::string label;
  nlohmann::json context;     // an object, empty when the file has none
  nlohmann::json benchmarks;  // a non-empty array
};

// Parses `text` (the contents of `path`). The bare NaN and [-]Infinity that Google Benchmark writes
// for non-finite counters are read as null (the entry then lacks that value). Throws UsageError
// naming `label` when the text is not JSON (malformed or truncated), not an object with a
// "benchmarks" array, or that array is empty.
BenchmarkFile parse_benchmark_json(const std::string& text, const std::string& path,
                                   const std::string& label);

// Reads and parses `path`; UsageError naming `label` and the path when it cannot be read.
BenchmarkFile read_benchmark_file(const std::filesystem::path& path, const std::string& label);

// Every sample of every benchmark of a file, for the performance history: per run_name (in the
// order of first appearance), per numeric field of its entries other than Google Benchmark's
// bookkeeping (iterations, repetitions, indices, threads), the values of its repetitions, times
// (real_time, cpu_time) in seconds. A benchmark with aggregates only has its "median" aggregate
// as its one sample; entries with error_occurred give their messages instead. Throws UsageError
// (naming the file) for a malformed entry, as compare_benchmarks does.
struct BenchmarkSamples {
  std::string name;
  std::map<std::string, std::vector<double>> metrics;
  std::vector<std::string> errors;
};
std::vector<BenchmarkSamples> benchmark_samples(const BenchmarkFile& file);

// The median of `values` (not empty).
double median_of(std::vector<double> values);

enum class Verdict { kSame, kImproved, kRegressed };
const char* to_string(Verdict verdict);

// One benchmark present in both files. Medians are in seconds for real_time and cpu_time (which
// Google Benchmark writes in its time_unit), in the counter's own unit otherwise.
struct BenchmarkComparison {
  std::string name;
  double base_median = 0;
  double new_median = 0;
  double change = 0;              // new_median / base_median - 1
  std::optional<double> p_value;  // two-sided U test; nullopt when a side has < 4 samples
  std::size_t n_base = 0;
  std::size_t n_new = 0;
  Verdict verdict = Verdict::kSame;
  bool u_test() const { return p_value.has_value(); }
};

// The comparison of one benchmark's samples (both non-empty): medians, change, the U test when
// both sides have at least 4 samples, and the verdict, as compare_benchmarks judges each one.
BenchmarkComparison compare_samples(const std::string& name, const std::vector<double>& base,
                                    const std::vector<double>& fresh,
                                    const CompareOptions& options, MetricDirection direction);

// The verdict of a relative change: regressed (improved) when `significant` and the change is
// worse (better) than `threshold` in the metric's direction; same otherwise.
Verdict judge_change(double change, double threshold, bool significant,
                     MetricDirection direction);

// A benchmark left out: it failed (error_occurred) or lacks the metric, in one file or both.
struct SkippedBenchmark {
  std::string name;
  std::string side;  // "base", "new" or "both"
  std::string reason;
};

// A context key whose values differ (null where a file lacks the key).
struct ContextDifference {
  std::string key;
  nlohmann::json base_value;
  nlohmann::json new_value;
};

struct CompareReport {
  std::string base_path, new_path;
  CompareOptions options;
  MetricDirection direction = MetricDirection::kLowerIsBetter;
  bool metric_is_time = true;                   // real_time or cpu_time: medians in seconds
  std::vector<BenchmarkComparison> benchmarks;  // in the base file's order
  std::vector<std::string> only_in_base, only_in_new;
  std::vector<SkippedBenchmark> skipped;
  std::vector<ContextDifference> context_differences;
  nlohmann::json base_context, new_context;  // the two files' contexts, as read

  // The names of the benchmarks with `verdict`, in the base file's order.
  std::vector<std::string> names_with(Verdict verdict) const;
  std::vector<std::string> regressed() const;
  std::size_t count(Verdict verdict) const;
  int exit_code() const { return regressed().empty() ? 0 : 1; }  // 1: something regressed
};

// Compares two parsed files. The context keys compared are the devices ("cpu_device",
// "gpu_device" and every key starting with "device"), "num_cpus", "mhz_per_cpu", the build types
// and "cuda_architectures". Throws UsageError for bad options, a malformed entry or time_unit
// (naming the file), a metric no benchmark reports (naming --metric), or no benchmark that both
// files can compare.
CompareReport compare_benchmarks(const BenchmarkFile& base_file, const BenchmarkFile& new_file,
                                 const CompareOptions& options);

// The human report: one row per benchmark (name, medians with units, change %, p-value, verdict),
// the benchmarks on one side only, the skipped ones, context warnings, and last the one-line
// verdict "verdict: N regressed, M improved, K same (threshold 5%, alpha 0.05)[: names]".
std::string render_compare_table(const CompareReport& report);

// The machine report (see `gapbench compare --help`): base, new, metric, direction, unit,
// threshold, alpha, context_differences [{key, base, new}], benchmarks [{name, base_median,
// new_median, change, p_value (null without U test), n_base, n_new, verdict, u_test}],
// only_in_base, only_in_new, skipped [{name, side, reason}], verdict {regressed [names],
// improved, same, exit_code}.
nlohmann::json compare_report_json(const CompareReport& report);

}  // namespace gapbench
