#include "gapbench/compare/compare.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <system_error>

#include "gapbench/compare/mann_whitney.hpp"
#include "gapbench/error.hpp"

namespace gapbench {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}


// Seconds per unit of Google Benchmark's "time_unit"; 0 when the unit is unknown.
double seconds_per(const std::string& unit) {
  if (unit == "ns") return 1e-9;
  if (unit == "us") return 1e-6;
  if (unit == "ms") return 1e-3;
  if (unit == "s") return 1.0;
  return 0.0;
}

// The U test needs at least this many values per side to be able to reach p < 0.05 (two-sided,
// 4 against 4 gives at best 2 / C(8, 4) = 0.029; 3 against 3 only 0.1).
constexpr std::size_t kMinUTestSamples = 4;

// The samples of one benchmark (one run_name) in one file.
struct Group {
  std::vector<double> iterations;  // one value per repetition
  std::optional<double> median_aggregate;
  std::vector<std::string> errors;  // error_message of the entries with error_occurred
  bool lacks_metric = false;        // an entry without the metric
  // The samples to compare: the repetitions, else the median aggregate; empty if neither.
  std::vector<double> samples() const {
    if (!iterations.empty()) return iterations;
    if (median_aggregate) return {*median_aggregate};
    return {};
  }
};

// The benchmarks of a file grouped by run_name, in the order they first appear.
struct Groups {
  std::vector<std::string> order;
  std::map<std::string, Group> by_name;
  bool any_metric = false;  // some entry reports the metric
};

// Field `key` of benchmark `name` has the wrong type: UsageError naming the file and the field.
[[noreturn]] void wrong_type(const BenchmarkFile& file, const std::string& name, const char* key,
                             const nlohmann::json& value, const char* want) {
  throw UsageError(fmt::format("{}: benchmark '{}' has \"{}\" of type {}, not {}", file.label, name,
                               key, value.type_name(), want));
}

// String field `key` of an entry, `fallback` when absent; any other type is refused.
std::string string_field(const nlohmann::json& entry, const char* key, const std::string& fallback,
                         const BenchmarkFile& file, const std::string& name) {
  const auto it = entry.find(key);
  if (it == entry.end()) return fallback;
  if (!it->is_string()) wrong_type(file, name, key, *it, "a string");
  return it->get<std::string>();
}

// The metric's value in one entry, in seconds for times; nullopt when the entry lacks it (or holds
// null: a non-finite counter). Any other non-number is refused: a mistyped file must not pass as
// one whose benchmarks lack the metric.
std::optional<double> metric_value(const nlohmann::json& entry, const std::string& metric,
                                   const BenchmarkFile& file, const std::string& name) {
  const auto it = entry.find(metric);
  if (it == entry.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) wrong_type(file, name, metric.c_str(), *it, "a number");
  const double value = it->get<double>();
  if (!is_time_metric(metric)) return value;
  // Google Benchmark 1.7.1 always writes time_unit; its default unit is ns.
  const std::string unit_name = string_field(entry, "time_unit", "ns", file, name);
  const double scale = seconds_per(unit_name);
  if (scale == 0) {
    throw UsageError(fmt::format("{}: benchmark '{}' has an unknown time_unit '{}'", file.label,
                                 name, unit_name));
  }
  return value * scale;
}

// The "name" of benchmark entry `i`; UsageError naming the file when the entry has none.
std::string entry_name(const BenchmarkFile& file, std::size_t i) {
  const nlohmann::json& entry = file.benchmarks[i];
  const auto name = entry.is_object() ? entry.find("name") : entry.end();
  if (!entry.is_object() || name == entry.end() || !name->is_string()) {
    throw UsageError(
        fmt::format("{}: benchmark entry {} is not an object with a \"name\"", file.label, i));
  }
  return name->get<std::string>();
}

Groups group_benchmarks(const BenchmarkFile& file, const std::string& metric) {
  Groups groups;
  for (std::size_t i = 0; i < file.benchmarks.size(); ++i) {
    const nlohmann::json& entry = file.benchmarks[i];
    const std::string name = entry_name(file, i);
    const std::string run_name = string_field(entry, "run_name", name, file, name);
    if (!groups.by_name.count(run_name)) groups.order.push_back(run_name);
    Group& group = groups.by_name[run_name];
    const auto error = entry.find("error_occurred");
    if (error != entry.end() && !error->is_boolean()) {
      wrong_type(file, name, "error_occurred", *error, "a boolean");
    }
    if (error != entry.end() && error->get<bool>()) {
      group.errors.push_back(string_field(entry, "error_message", "error_occurred", file, name));
      continue;
    }
    const std::string run_type = string_field(entry, "run_type", "iteration", file, name);
    const bool median = run_type == "aggregate" &&
                        string_field(entry, "aggregate_name", "", file, name) == "median";
    if (run_type != "iteration" && !median) continue;  // mean, stddev, cv: not samples
    const std::optional<double> value = metric_value(entry, metric, file, run_name);
    if (!value) {
      group.lacks_metric = true;
      continue;
    }
    groups.any_metric = true;
    if (median) {
      group.median_aggregate = *value;
    } else {
      group.iterations.push_back(*value);
    }
  }
  return groups;
}

// Why a group has no samples.
std::string skip_reason(const Group& group, const std::string& metric) {
  if (!group.errors.empty()) return "error: " + group.errors.front();
  if (group.lacks_metric) return fmt::format("does not report {} (absent or not finite)", metric);
  return "no iteration or median entry";
}


double relative_change(double base, double fresh) {
  if (base == 0) return fresh == 0 ? 0.0 : std::copysign(INFINITY, fresh);
  return fresh / base - 1;
}

bool compared_context_key(const std::string& key) {
  static const std::set<std::string> keys = {
      "cpu_device",          "gpu_device",         "num_cpus",          "mhz_per_cpu",
      "gapbench_build_type", "library_build_type", "cuda_architectures"};
  return keys.count(key) > 0 || key.rfind("device", 0) == 0;
}

std::vector<ContextDifference> context_differences(const nlohmann::json& base,
                                                   const nlohmann::json& fresh) {
  std::set<std::string> keys;
  for (const auto& [key, value] : base.items()) keys.insert(key);
  for (const auto& [key, value] : fresh.items()) keys.insert(key);
  std::vector<ContextDifference> differences;
  for (const std::string& key : keys) {
    if (!compared_context_key(key)) continue;
    const nlohmann::json b = base.contains(key) ? base[key] : nlohmann::json();
    const nlohmann::json n = fresh.contains(key) ? fresh[key] : nlohmann::json();
    if (b != n) differences.push_back({key, b, n});
  }
  return differences;
}

std::string format_p_value(const std::optional<double>& p) {
  if (!p) return "-";
  return *p < 1e-3 ? fmt::format("{:.1e}", *p) : fmt::format("{:.4f}", *p);
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

std::string direction_name(MetricDirection d) {
  return d == MetricDirection::kLowerIsBetter ? "lower is better" : "higher is better";
}

// Google Benchmark writes a non-finite counter as a bare NaN, Infinity or -Infinity (as Python's
// json module does and accepts), which strict JSON parsers refuse. Outside strings no JSON token
// starts with 'N' or 'I', so these literals are found by tracking string boundaries alone, and
// become null: a value the file does not have.
std::string null_non_finite_literals(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];  // an escaped character, '"' included
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    const std::size_t start = c == '-' ? i + 1 : i;
    bool replaced = false;
    for (const std::string literal : {"NaN", "Infinity"}) {
      if (text.compare(start, literal.size(), literal) == 0) {
        out += "null";
        i = start + literal.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

// Google Benchmark's bookkeeping fields: numbers that are not measurements.
bool bookkeeping_field(const std::string& key) {
  static const std::set<std::string> keys = {"family_index", "per_family_instance_index",
                                             "repetitions", "repetition_index", "threads",
                                             "iterations"};
  return keys.count(key) > 0;
}

}  // namespace

bool is_time_metric(const std::string& metric) {
  return metric == "real_time" || metric == "cpu_time";
}

nlohmann::json finite_or_null(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json();
}

std::string format_metric_value(double value, bool is_time) {
  if (!is_time) return fmt::format("{:.4g}", value);
  const double magnitude = std::fabs(value);
  if (magnitude >= 1 || value == 0) return fmt::format("{:.4g} s", value);
  if (magnitude >= 1e-3) return fmt::format("{:.4g} ms", value * 1e3);
  if (magnitude >= 1e-6) return fmt::format("{:.4g} us", value * 1e6);
  return fmt::format("{:.4g} ns", value * 1e9);
}

double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

std::vector<BenchmarkSamples> benchmark_samples(const BenchmarkFile& file) {
  std::vector<BenchmarkSamples> out;
  std::map<std::string, std::size_t> index;
  std::vector<std::map<std::string, double>> medians;  // the median aggregates, per benchmark
  for (std::size_t i = 0; i < file.benchmarks.size(); ++i) {
    const nlohmann::json& entry = file.benchmarks[i];
    const std::string name = entry_name(file, i);
    const std::string run_name = string_field(entry, "run_name", name, file, name);
    if (!index.count(run_name)) {
      index[run_name] = out.size();
      out.push_back({run_name, {}, {}});
      medians.emplace_back();
    }
    const std::size_t at = index[run_name];
    const auto error = entry.find("error_occurred");
    if (error != entry.end() && !error->is_boolean()) {
      wrong_type(file, name, "error_occurred", *error, "a boolean");
    }
    if (error != entry.end() && error->get<bool>()) {
      out[at].errors.push_back(string_field(entry, "error_message", "error_occurred", file, name));
      continue;
    }
    const std::string run_type = string_field(entry, "run_type", "iteration", file, name);
    const bool median = run_type == "aggregate" &&
                        string_field(entry, "aggregate_name", "", file, name) == "median";
    if (run_type != "iteration" && !median) continue;
    for (const auto& [key, value] : entry.items()) {
      // Times must be numbers (null: not finite); other non-numbers are labels and names.
      if (is_time_metric(key) && !value.is_number() && !value.is_null()) {
        wrong_type(file, run_name, key.c_str(), value, "a number");
      }
      if (!value.is_number() || bookkeeping_field(key)) continue;
      const std::optional<double> v = metric_value(entry, key, file, run_name);
      if (!v || !std::isfinite(*v)) continue;
      if (median) {
        medians[at][key] = *v;
      } else {
        out[at].metrics[key].push_back(*v);
      }
    }
  }
  for (std::size_t at = 0; at < out.size(); ++at) {
    for (const auto& [key, value] : medians[at]) {
      if (!out[at].metrics.count(key)) out[at].metrics[key] = {value};
    }
  }
  return out;
}

std::optional<MetricDirection> metric_direction(const std::string& metric) {
  // Rates first: "bytes_per_s" also ends in "_s".
  if (ends_with(metric, "_per_s") || ends_with(metric, "per_second") ||
      metric == "pct_of_copy_bw") {
    return MetricDirection::kHigherIsBetter;
  }
  if (is_time_metric(metric) || ends_with(metric, "_s") || ends_with(metric, "s_per_pass")) {
    return MetricDirection::kLowerIsBetter;
  }
  return std::nullopt;
}

std::string metric_direction_help() {
  return "Metrics (--metric) and their directions:\n"
         "  real_time (default), cpu_time        time, lower is better (Google Benchmark's "
         "time_unit, shown scaled)\n"
         "  *_s, *s_per_pass                     time in seconds, lower is better\n"
         "  *_per_s, *per_second, pct_of_copy_bw rate, higher is better\n"
         "Other counters (s1, gap, passes_over_A, converged, rel_err_s2, ...) have no direction "
         "and are refused.";
}

MetricDirection known_direction(const std::string& metric) {
  const std::optional<MetricDirection> direction = metric_direction(metric);
  if (!direction) {
    throw UsageError(fmt::format(
        "--metric {}: unknown direction (is more better or worse?); use real_time, cpu_time, a "
        "time counter ending in _s or s_per_pass, or a rate ending in _per_s or per_second, or "
        "pct_of_copy_bw",
        metric));
  }
  return *direction;
}

void check_compare_options(const CompareOptions& options) {
  known_direction(options.metric);
  if (!std::isfinite(options.threshold) || options.threshold < 0) {
    throw UsageError(fmt::format("--threshold {}: must be a finite fraction >= 0 (0.05 means 5%)",
                                 options.threshold));
  }
  if (!(options.alpha > 0 && options.alpha < 1)) {
    throw UsageError(fmt::format("--alpha {}: must lie strictly between 0 and 1", options.alpha));
  }
}

BenchmarkFile parse_benchmark_json(const std::string& text, const std::string& path,
                                   const std::string& label) {
  BenchmarkFile file;
  file.path = path;
  file.label = label;
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw UsageError(fmt::format("{}: the file is empty", label));
  }
  const std::string strict = null_non_finite_literals(text);
  nlohmann::json doc;
  // The last key read, to name the field when a value is refused (1e400: out_of_range.406).
  std::string last_key;
  const nlohmann::json::parser_callback_t note_key =
      [&last_key](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        if (event == nlohmann::json::parse_event_t::key && parsed.is_string()) {
          last_key = parsed.get<std::string>();
        }
        return true;
      };
  try {
    doc = nlohmann::json::parse(strict, note_key);
  } catch (const nlohmann::json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at ...": keep the part after "] ".
    std::string what = e.what();
    if (const auto cut = what.find("] "); cut != std::string::npos) what.erase(0, cut + 2);
    const bool truncated = e.byte >= strict.size();
    throw UsageError(fmt::format("{}: malformed JSON{}: {}", label,
                                 truncated ? " (it ends early: truncated?)" : "", what));
  } catch (const nlohmann::json::exception& e) {
    std::string what = e.what();
    if (const auto cut = what.find("] "); cut != std::string::npos) what.erase(0, cut + 2);
    throw UsageError(
        fmt::format("{}: unusable JSON value{}: {}", label,
                    last_key.empty() ? "" : fmt::format(" after field \"{}\"", last_key), what));
  }
  if (!doc.is_object() || !doc.contains("benchmarks") || !doc["benchmarks"].is_array()) {
    throw UsageError(fmt::format(
        "{}: no \"benchmarks\" array; is it Google Benchmark JSON (--benchmark_out)?", label));
  }
  file.benchmarks = doc["benchmarks"];
  if (file.benchmarks.empty()) throw UsageError(fmt::format("{}: holds no benchmarks", label));
  for (std::size_t i = 0; i < file.benchmarks.size(); ++i) entry_name(file, i);
  if (doc.contains("context") && !doc["context"].is_object()) {
    throw UsageError(fmt::format("{}: \"context\" is of type {}, not an object", label,
                                 doc["context"].type_name()));
  }
  file.context = doc.contains("context") ? doc["context"] : nlohmann::json::object();
  return file;
}

BenchmarkFile read_benchmark_file(const std::filesystem::path& path, const std::string& label) {
  const std::string described = fmt::format("{} file '{}'", label, path.string());
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw UsageError(fmt::format("{}: no such file", described));
  }
  if (std::filesystem::is_directory(path, ec)) {
    throw UsageError(fmt::format("{}: is a directory", described));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) throw UsageError(fmt::format("{}: cannot be opened", described));
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) throw UsageError(fmt::format("{}: cannot be read", described));
  return parse_benchmark_json(text, path.string(), described);
}

BenchmarkComparison compare_samples(const std::string& name, const std::vector<double>& base,
                                    const std::vector<double>& fresh,
                                    const CompareOptions& options, MetricDirection direction) {
  BenchmarkComparison c;
  c.name = name;
  c.base_median = median_of(base);
  c.new_median = median_of(fresh);
  c.change = relative_change(c.base_median, c.new_median);
  c.n_base = base.size();
  c.n_new = fresh.size();
  if (c.n_base >= kMinUTestSamples && c.n_new >= kMinUTestSamples) {
    c.p_value = mann_whitney_p_value(base, fresh);
  }
  // Without a U test (too few samples) the threshold on the medians decides alone.
  const bool significant = !c.p_value || *c.p_value < options.alpha;
  c.verdict = judge_change(c.change, options.threshold, significant, direction);
  return c;
}

Verdict judge_change(double change, double threshold, bool significant,
                     MetricDirection direction) {
  if (!significant) return Verdict::kSame;
  const bool lower_better = direction == MetricDirection::kLowerIsBetter;
  if (lower_better ? change > threshold : change < -threshold) return Verdict::kRegressed;
  if (lower_better ? change < -threshold : change > threshold) return Verdict::kImproved;
  return Verdict::kSame;
}

const char* to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::kRegressed:
      return "regressed";
    case Verdict::kImproved:
      return "improved";
    case Verdict::kSame:
      break;
  }
  return "same";
}

std::vector<std::string> CompareReport::names_with(Verdict verdict) const {
  std::vector<std::string> names;
  for (const auto& b : benchmarks) {
    if (b.verdict == verdict) names.push_back(b.name);
  }
  return names;
}

std::vector<std::string> CompareReport::regressed() const {
  return names_with(Verdict::kRegressed);
}

std::size_t CompareReport::count(Verdict verdict) const {
  return static_cast<std::size_t>(
      std::count_if(benchmarks.begin(), benchmarks.end(),
                    [verdict](const BenchmarkComparison& b) { return b.verdict == verdict; }));
}

CompareReport compare_benchmarks(const BenchmarkFile& base_file, const BenchmarkFile& new_file,
                                 const CompareOptions& options) {
  check_compare_options(options);
  CompareReport report;
  report.base_path = base_file.path;
  report.new_path = new_file.path;
  report.options = options;
  report.direction = *metric_direction(options.metric);
  report.metric_is_time = is_time_metric(options.metric);

  const Groups base = group_benchmarks(base_file, options.metric);
  const Groups fresh = group_benchmarks(new_file, options.metric);
  if (!base.any_metric && !fresh.any_metric) {
    throw UsageError(fmt::format("--metric {}: no benchmark in {} or {} reports it", options.metric,
                                 base_file.label, new_file.label));
  }

  for (const std::string& name : base.order) {
    const Group& b = base.by_name.at(name);
    const std::vector<double> base_samples = b.samples();
    const auto other = fresh.by_name.find(name);
    if (other == fresh.by_name.end()) {
      if (base_samples.empty()) {
        report.skipped.push_back({name, "base", skip_reason(b, options.metric)});
      } else {
        report.only_in_base.push_back(name);
      }
      continue;
    }
    const std::vector<double> new_samples = other->second.samples();
    if (base_samples.empty() || new_samples.empty()) {
      const char* side = base_samples.empty() ? (new_samples.empty() ? "both" : "base") : "new";
      const Group& reason_group = base_samples.empty() ? b : other->second;
      report.skipped.push_back({name, side, skip_reason(reason_group, options.metric)});
      continue;
    }
    const BenchmarkComparison c =
        compare_samples(name, base_samples, new_samples, options, report.direction);
    report.benchmarks.push_back(c);
  }
  for (const std::string& name : fresh.order) {
    if (base.by_name.count(name)) continue;
    const Group& n = fresh.by_name.at(name);
    if (n.samples().empty()) {
      report.skipped.push_back({name, "new", skip_reason(n, options.metric)});
    } else {
      report.only_in_new.push_back(name);
    }
  }
  if (report.benchmarks.empty()) {
    throw UsageError(fmt::format(
        "no benchmark in common between {} and {}{}", base_file.label, new_file.label,
        report.skipped.empty() ? "" : fmt::format(" ({} skipped)", report.skipped.size())));
  }
  report.context_differences = context_differences(base_file.context, new_file.context);
  report.base_context = base_file.context;
  report.new_context = new_file.context;
  return report;
}

std::string render_compare_table(const CompareReport& report) {
  const CompareOptions& o = report.options;
  std::string out =
      fmt::format("metric {} ({}), median of repetitions; base '{}' vs new '{}'\n", o.metric,
                  direction_name(report.direction), report.base_path, report.new_path);
  struct Row {
    std::string name, base, fresh, change, p, verdict;
  };
  std::vector<Row> rows = {{"benchmark", "base", "new", "change", "p-value", "verdict"}};
  for (const auto& b : report.benchmarks) {
    rows.push_back({b.name, format_metric_value(b.base_median, report.metric_is_time),
                    format_metric_value(b.new_median, report.metric_is_time),
                    fmt::format("{:+.1f}%", 100 * b.change), format_p_value(b.p_value),
                    std::string(to_string(b.verdict)) + (b.u_test() ? "" : " (no U test: n < 4)")});
  }
  std::size_t w[5] = {0, 0, 0, 0, 0};
  for (const Row& r : rows) {
    w[0] = std::max(w[0], r.name.size());
    w[1] = std::max(w[1], r.base.size());
    w[2] = std::max(w[2], r.fresh.size());
    w[3] = std::max(w[3], r.change.size());
    w[4] = std::max(w[4], r.p.size());
  }
  for (const Row& r : rows) {
    out += fmt::format("{:<{}}  {:>{}}  {:>{}}  {:>{}}  {:>{}}  {}\n", r.name, w[0], r.base, w[1],
                       r.fresh, w[2], r.change, w[3], r.p, w[4], r.verdict);
  }
  const auto list = [&out](const std::string& title, const std::vector<std::string>& names) {
    if (names.empty()) return;
    out += fmt::format("{} ({}):\n", title, names.size());
    for (const auto& name : names) out += "  " + name + '\n';
  };
  list(fmt::format("only in base '{}'", report.base_path), report.only_in_base);
  list(fmt::format("only in new '{}'", report.new_path), report.only_in_new);
  std::vector<std::string> skipped;
  for (const auto& s : report.skipped) {
    skipped.push_back(fmt::format("{} ({}): {}", s.name, s.side, s.reason));
  }
  list("skipped", skipped);
  for (const auto& d : report.context_differences) {
    const auto show = [](const nlohmann::json& v) { return v.is_null() ? "(absent)" : v.dump(); };
    out += fmt::format("warning: context differs: {}: base {} vs new {}\n", d.key,
                       show(d.base_value), show(d.new_value));
  }
  const std::vector<std::string> regressed = report.regressed();
  out += fmt::format(
      "verdict: {} regressed, {} improved, {} same (threshold {:g}%, alpha {:g}){}\n",
      regressed.size(), report.count(Verdict::kImproved), report.count(Verdict::kSame),
      100 * o.threshold, o.alpha, regressed.empty() ? "" : ": " + join(regressed, ", "));
  return out;
}

nlohmann::json compare_report_json(const CompareReport& report) {
  nlohmann::json j;
  j["base"] = report.base_path;
  j["new"] = report.new_path;
  j["metric"] = report.options.metric;
  j["direction"] =
      report.direction == MetricDirection::kLowerIsBetter ? "lower_is_better" : "higher_is_better";
  j["unit"] = report.metric_is_time ? "s" : "";
  j["threshold"] = report.options.threshold;
  j["alpha"] = report.options.alpha;
  j["context_differences"] = nlohmann::json::array();
  for (const auto& d : report.context_differences) {
    j["context_differences"].push_back(
        {{"key", d.key}, {"base", d.base_value}, {"new", d.new_value}});
  }
  j["benchmarks"] = nlohmann::json::array();
  for (const auto& b : report.benchmarks) {
    j["benchmarks"].push_back(
        {{"name", b.name},
         {"base_median", b.base_median},
         {"new_median", b.new_median},
         {"change", finite_or_null(b.change)},
         {"p_value", b.p_value ? nlohmann::json(*b.p_value) : nlohmann::json()},
         {"n_base", b.n_base},
         {"n_new", b.n_new},
         {"verdict", to_string(b.verdict)},
         {"u_test", b.u_test()}});
  }
  j["only_in_base"] = report.only_in_base;
  j["only_in_new"] = report.only_in_new;
  j["skipped"] = nlohmann::json::array();
  for (const auto& s : report.skipped) {
    j["skipped"].push_back({{"name", s.name}, {"side", s.side}, {"reason", s.reason}});
  }
  j["base_context"] = report.base_context;
  j["new_context"] = report.new_context;
  j["verdict"] = {{"regressed", report.names_with(Verdict::kRegressed)},
                  {"improved", report.names_with(Verdict::kImproved)},
                  {"same", report.names_with(Verdict::kSame)},
                  {"exit_code", report.exit_code()}};
  return j;
}

}  // namespace gapbench
