#include "gapbench/history/analysis.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <set>

#include "gapbench/error.hpp"

namespace gapbench::history {
namespace {

std::string percent(double fraction) {
  return std::isfinite(fraction) ? fmt::format("{:+.1f}%", 100 * fraction) : "n/a";
}

std::string direction_name(MetricDirection d) {
  return d == MetricDirection::kLowerIsBetter ? "lower_is_better" : "higher_is_better";
}

}  // namespace

std::string render_table(const std::vector<std::vector<std::string>>& rows, Format format) {
  if (rows.empty()) return "";
  std::vector<std::size_t> width(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (format == Format::kMarkdown) {
      out += "|";
      for (const auto& cell : rows[r]) out += " " + cell + " |";
      out += "\n";
      if (r == 0) {
        out += "|";
        for (std::size_t c = 0; c < width.size(); ++c) out += c ? " ---: |" : " --- |";
        out += "\n";
      }
      continue;
    }
    std::string line;
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      const std::string& cell = rows[r][c];
      if (c) line += "  ";
      // The first column left-aligned, the numbers right-aligned.
      line += c == 0 ? cell + std::string(width[c] - cell.size(), ' ')
                     : std::string(width[c] - cell.size(), ' ') + cell;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

namespace {

// 1.4826 x the median absolute deviation: the sd of normal data, robust to outliers.
double robust_sd(const std::vector<double>& values, double center) {
  std::vector<double> deviations;
  for (const double v : values) deviations.push_back(std::fabs(v - center));
  return 1.4826 * median_of(deviations);
}

std::vector<double> medians(const Series& series) {
  std::vector<double> out;
  for (const Point& p : series.points) out.push_back(p.median());
  return out;
}

std::string short_commit(const std::string& commit) { return commit.substr(0, 12); }

}  // namespace

Format parse_format(const std::string& name) {
  if (name == "text") return Format::kText;
  if (name == "markdown") return Format::kMarkdown;
  if (name == "json") return Format::kJson;
  throw UsageError(fmt::format("--format {}: use text, markdown or json", name));
}

bool same_commit(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return false;
  const std::size_t n = std::min(a.size(), b.size());
  return a.compare(0, n, b, 0, n) == 0;
}

void check_commit_flag(const std::string& commit, const std::string& flag) {
  static const std::regex hex("[0-9a-f]{7,40}");
  if (!std::regex_match(commit, hex)) {
    throw UsageError(fmt::format(
        "{} {}: not a commit; give 7 to 40 hex digits of its hash (git rev-parse --short=12)",
        flag, commit));
  }
}

std::vector<std::string> read_commit_order(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError(fmt::format("--order {}: cannot be read", path));
  static const std::regex hex("[0-9a-f]{7,40}");
  std::vector<std::string> order;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    line.erase(0, line.find_first_not_of(" \t\r"));
    line.erase(line.find_last_not_of(" \t\r") + 1);
    if (line.empty() || line[0] == '#') continue;
    if (!std::regex_match(line, hex)) {
      throw UsageError(fmt::format(
          "--order {}: line {} is not a commit hash ('{}'); write one per line, oldest first "
          "(git rev-list --reverse --first-parent main)",
          path, number, line));
    }
    order.push_back(line);
  }
  if (order.empty()) throw UsageError(fmt::format("--order {}: lists no commit", path));
  return order;
}

std::size_t apply_commit_order(std::vector<Series>& series,
                               const std::vector<std::string>& order) {
  std::set<std::int64_t> dropped;
  for (Series& s : series) {
    std::vector<std::pair<std::size_t, Point>> placed;
    for (Point& p : s.points) {
      const auto at = std::find_if(order.begin(), order.end(),
                                   [&](const std::string& c) { return same_commit(c, p.commit); });
      if (at == order.end()) {
        dropped.insert(p.run_id);
        continue;
      }
      placed.emplace_back(static_cast<std::size_t>(at - order.begin()), std::move(p));
    }
    std::stable_sort(placed.begin(), placed.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    s.points.clear();
    for (auto& [place, p] : placed) s.points.push_back(std::move(p));
  }
  std::erase_if(series, [](const Series& s) { return s.points.empty(); });
  return dropped.size();
}

// --- changes -------------------------------------------------------------------------------

std::size_t ChangesReport::tested() const {
  return static_cast<std::size_t>(
      std::count_if(series.begin(), series.end(), [](const auto& s) { return s.tested; }));
}

std::size_t ChangesReport::unacknowledged_regressions() const {
  std::size_t n = 0;
  for (const auto& s : series) {
    for (const Change& c : s.changes) n += c.regression && !c.acknowledged;
  }
  return n;
}

ChangesReport find_changes(const std::vector<Series>& series, const std::string& metric,
                           const ChangesOptions& options,
                           const std::vector<Acknowledgement>& acknowledgements) {
  if (!(options.fdr > 0 && options.fdr < 1)) {
    throw UsageError(fmt::format("--fdr {}: must lie strictly between 0 and 1", options.fdr));
  }
  const double significance = options.e_divisive.significance;
  if (!(significance > 0 && significance < 1)) {
    throw UsageError(
        fmt::format("--significance {}: must lie strictly between 0 and 1", significance));
  }
  // Where --since falls in history order: its line in --order, else its first run's date.
  std::optional<std::size_t> since_rank;
  std::optional<std::string> since_date;
  const auto rank_of = [&](const std::string& commit) -> std::optional<std::size_t> {
    for (std::size_t r = 0; r < options.order.size(); ++r) {
      if (same_commit(options.order[r], commit)) return r;
    }
    return std::nullopt;
  };
  if (!options.since.empty()) {
    check_commit_flag(options.since, "--since");
    if (!options.since_date.empty()) since_date = options.since_date;
    for (const Series& s : series) {
      for (const Point& p : s.points) {
        if (!same_commit(p.commit, options.since)) continue;
        if (!since_date || p.order_date() < *since_date) since_date = p.order_date();
      }
    }
    if (!options.order.empty()) since_rank = rank_of(options.since);
    if (!since_date || (!options.order.empty() && !since_rank)) {
      throw UsageError(fmt::format("--since {}: no run of that commit in the series selected",
                                   options.since));
    }
  }
  // Whether a change whose first point is `p` is reported under --since.
  const auto reported = [&](const Point& p) {
    if (options.since.empty()) return true;
    if (since_rank) return rank_of(p.commit).value_or(0) >= *since_rank;
    return p.order_date() >= *since_date;
  };
  ChangesReport report;
  report.metric = metric;
  report.direction = known_direction(metric);
  report.options = options;
  const std::size_t min_points = 2 * options.e_divisive.min_segment;
  std::size_t tested = 0;
  for (const Series& s : series) tested += s.points.size() >= min_points;
  // Benjamini–Hochberg's smallest threshold is fdr / m: the permutation p-values, at least
  // 1 / (R + 1), must be able to reach below it, with room to spare (x 10). Capped for time:
  // a real change runs every permutation (a null series stops early).
  const double wanted = std::ceil(10.0 * static_cast<double>(std::max<std::size_t>(tested, 1)) /
                                  options.fdr);
  EDivisiveOptions e = options.e_divisive;
  e.permutations = std::max(e.permutations, static_cast<std::size_t>(std::min(wanted, 99999.0)));
  report.permutations = e.permutations;
  std::vector<double> first_p;
  for (const Series& s : series) {
    SeriesChanges sc;
    sc.series = &s;
    report.series.push_back(sc);
  }
  std::vector<EDivisiveResult> results(series.size());
  std::vector<std::vector<double>> series_medians(series.size());
  for (std::size_t i = 0; i < series.size(); ++i) {
    if (series[i].points.size() < min_points) continue;
    series_medians[i] = medians(series[i]);
    results[i] = e_divisive(series_medians[i], e);
    report.series[i].tested = true;
    report.series[i].first_p_value = results[i].first_p_value;
    first_p.push_back(results[i].first_p_value);
  }
  const std::vector<bool> rejected = benjamini_hochberg(first_p, options.fdr);
  std::size_t k = 0;
  for (std::size_t i = 0; i < series.size(); ++i) {
    SeriesChanges& sc = report.series[i];
    if (!sc.tested) continue;
    sc.discovered = rejected[k++];
    if (!sc.discovered) continue;
    const Series& s = series[i];
    const std::vector<double>& m = series_medians[i];
    const auto& cps = results[i].change_points;
    for (std::size_t c = 0; c < cps.size(); ++c) {
      const std::size_t start = c ? cps[c - 1].index : 0;
      const std::size_t end = c + 1 < cps.size() ? cps[c + 1].index : m.size();
      const std::size_t at = cps[c].index;
      if (!reported(s.points[at])) continue;
      Change change;
      change.index = at;
      change.commit = s.points[at].commit;
      change.previous_commit = s.points[at - 1].commit;
      change.p_value = cps[c].p_value;
      const std::span<const double> before = std::span(m).subspan(start, at - start);
      const std::span<const double> after = std::span(m).subspan(at, end - at);
      if (median_of({before.begin(), before.end()}) != 0) {
        change.step = estimate_step(before, after, 0.95, 2000, e.seed + at);
      } else {
        // From zero: no relative step (null in JSON); the direction from the medians.
        change.step.after = median_of({after.begin(), after.end()});
        change.step.change = change.step.low = change.step.high =
            std::numeric_limits<double>::quiet_NaN();
      }
      const double delta = change.step.after - change.step.before;
      change.regression = report.direction == MetricDirection::kLowerIsBetter ? delta > 0
                                                                              : delta < 0;
      for (const Acknowledgement& ack : acknowledgements) {
        const bool device = ack.device.empty() || ack.device == s.fingerprint ||
                            ack.device == s.device_key;
        if (ack.metric == metric && device && same_commit(ack.commit, change.commit) &&
            std::regex_search(s.benchmark, std::regex(ack.pattern))) {
          change.acknowledged = true;
          change.acknowledgement_note = ack.note;
        }
      }
      sc.changes.push_back(change);
    }
  }
  return report;
}

namespace {

nlohmann::json change_json(const Change& c) {
  return {{"index", c.index},
          {"commit", c.commit},
          {"previous_commit", c.previous_commit},
          {"before", finite_or_null(c.step.before)},
          {"after", finite_or_null(c.step.after)},
          {"change", finite_or_null(c.step.change)},
          {"low", finite_or_null(c.step.low)},
          {"high", finite_or_null(c.step.high)},
          {"p_value", c.p_value},
          {"kind", c.regression ? "regression" : "improvement"},
          {"acknowledged", c.acknowledged},
          {"note", c.acknowledgement_note}};
}

std::string change_kind(const Change& c) {
  std::string kind = c.regression ? "regression" : "improvement";
  if (c.acknowledged) kind += " (acknowledged)";
  return kind;
}

}  // namespace

std::string render_changes(const ChangesReport& report, Format format) {
  const bool time = is_time_metric(report.metric);
  std::size_t found = 0, series_with = 0;
  for (const auto& s : report.series) {
    found += s.changes.size();
    series_with += !s.changes.empty();
  }
  if (format == Format::kJson) {
    nlohmann::json j = {{"schema", "gapbench.history.changes/1"},
                        {"metric", report.metric},
                        {"direction", direction_name(report.direction)},
                        {"fdr", report.options.fdr},
                        {"significance", report.options.e_divisive.significance},
                        {"permutations", report.permutations},
                        {"seed", report.options.e_divisive.seed},
                        {"since", report.options.since},
                        {"series_tested", report.tested()},
                        {"unacknowledged_regressions", report.unacknowledged_regressions()},
                        {"exit_code", report.exit_code()}};
    j["series"] = nlohmann::json::array();
    for (const auto& s : report.series) {
      if (!s.tested) continue;
      nlohmann::json changes = nlohmann::json::array();
      for (const Change& c : s.changes) changes.push_back(change_json(c));
      j["series"].push_back({{"benchmark", s.series->benchmark},
                             {"device", s.series->device_key},
                             {"fingerprint", s.series->fingerprint},
                             {"points", s.series->points.size()},
                             {"first_p_value", s.first_p_value},
                             {"discovered", s.discovered},
                             {"changes", changes}});
    }
    return j.dump(2) + "\n";
  }
  std::vector<std::vector<std::string>> rows = {
      {"benchmark", "device", "commits", "before", "after", "change", "95% interval", "p",
       "kind"}};
  for (const auto& s : report.series) {
    for (const Change& c : s.changes) {
      rows.push_back({s.series->benchmark, s.series->device_key,
                      fmt::format("{}..{}", short_commit(c.previous_commit), short_commit(c.commit)),
                      format_metric_value(c.step.before, time), format_metric_value(c.step.after, time),
                      percent(c.step.change),
                      fmt::format("[{}, {}]", percent(c.step.low), percent(c.step.high)),
                      fmt::format("{:.2g}", c.p_value), change_kind(c)});
    }
  }
  std::string out;
  if (format == Format::kMarkdown) out += "### Performance changes (`gapbench history changes`)\n\n";
  if (found) out += render_table(rows, format);
  if (format == Format::kMarkdown) out += "\n";
  out += fmt::format(
      "changes: {} in {} of {} series ({} tested with >= {} runs; metric {}; E-divisive, "
      "significance {:g}, up to {} permutations, seed {}; false discovery rate {:g} over the "
      "series); {} unacknowledged regression{}\n",
      found, series_with, report.series.size(), report.tested(),
      2 * report.options.e_divisive.min_segment, report.metric,
      report.options.e_divisive.significance, report.permutations,
      report.options.e_divisive.seed, report.options.fdr, report.unacknowledged_regressions(),
      report.unacknowledged_regressions() == 1 ? "" : "s");
  return out;
}

// --- check ---------------------------------------------------------------------------------

std::vector<std::pair<std::string, double>> read_thresholds(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError(fmt::format("--thresholds {}: cannot be read", path));
  nlohmann::ordered_json doc;  // keys in the file's order: the first match wins
  try {
    doc = nlohmann::ordered_json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(fmt::format("--thresholds {}: not JSON: {}", path, e.what()));
  }
  if (!doc.is_object()) {
    throw UsageError(fmt::format(
        "--thresholds {}: must be a JSON object {{\"REGEX\": fraction, ...}}", path));
  }
  std::vector<std::pair<std::string, double>> out;
  for (const auto& [pattern, value] : doc.items()) {
    if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() < 0) {
      throw UsageError(fmt::format("--thresholds {}: \"{}\" must map to a fraction >= 0", path,
                                   pattern));
    }
    try {
      std::regex check(pattern);
    } catch (const std::regex_error& e) {
      throw UsageError(fmt::format("--thresholds {}: \"{}\" is not a regular expression: {}",
                                   path, pattern, e.what()));
    }
    out.emplace_back(pattern, value.get<double>());
  }
  return out;
}

std::size_t CheckReport::count(Verdict v) const {
  return static_cast<std::size_t>(
      std::count_if(rows.begin(), rows.end(), [v](const CheckRow& r) { return r.verdict == v; }));
}

WindowVerdict judge_against_window(const std::vector<double>& window, double new_median,
                                   double threshold, double noise_factor,
                                   MetricDirection direction) {
  WindowVerdict v;
  v.baseline = median_of(window);
  const double sd = robust_sd(window, v.baseline);
  v.noise = v.baseline != 0 ? sd / std::fabs(v.baseline) : 0;
  v.change = v.baseline != 0 ? new_median / v.baseline - 1 : 0;
  const bool outside = std::fabs(new_median - v.baseline) > noise_factor * sd;
  v.verdict = judge_change(v.change, threshold, outside, direction);
  return v;
}

CheckReport check_run(const Store& store, const RunFacts& run, const CheckOptions& options) {
  CheckReport report;
  report.metric = options.metric;
  CompareOptions compare;  // the fallback's options, checked as `compare` checks them
  compare.metric = options.metric;
  compare.threshold = options.threshold;
  compare.alpha = options.alpha;
  check_compare_options(compare);
  report.direction = *metric_direction(options.metric);
  if (options.window < 1) throw UsageError("--window: must be at least 1");
  if (!std::isfinite(options.noise_factor) || options.noise_factor < 0) {
    throw UsageError(fmt::format("--noise-factor {}: must be a finite number >= 0 (robust sd)",
                                 options.noise_factor));
  }
  report.options = options;
  report.device_key = run.device_key;
  report.fingerprint = run.fingerprint;
  report.commit = run.commit;
  report.dirty = run.dirty;
  report.throttled = run.throttled;
  const std::optional<std::int64_t> self = store.find_run(run.content_hash);
  report.already_stored = self.has_value();
  for (const RunRow& r : store.runs()) {
    if (r.fingerprint != run.fingerprint || (self && r.id == *self)) continue;
    report.left_out_dirty += r.dirty && !options.include_dirty;
    report.left_out_throttled += r.throttled && !r.dirty && !options.include_throttled;
  }

  SeriesQuery query;
  query.metric = options.metric;
  query.device = run.fingerprint;
  query.include_dirty = options.include_dirty;
  query.include_throttled = options.include_throttled;
  // The earlier runs of each benchmark: those before the run in history order (before it when
  // it is stored; else by date, a run of the same date first when its run date is earlier).
  const std::pair<std::string, std::string> new_key = {
      run.commit_date.empty() ? run.run_date : run.commit_date, run.run_date};
  std::map<std::string, std::vector<const Point*>> earlier;
  const std::vector<Series> all = store.series(query);
  const Point* latest = nullptr;  // the device's latest earlier run, of any benchmark
  for (const Series& s : all) {
    std::vector<const Point*>& points = earlier[s.benchmark];
    for (const Point& p : s.points) {
      if (self ? p.run_id == *self : std::pair(p.order_date(), p.run_date) >= new_key) break;
      points.push_back(&p);
    }
    if (points.empty()) continue;
    const Point* last = points.back();
    if (!latest || std::pair(last->order_date(), last->run_date) >
                       std::pair(latest->order_date(), latest->run_date)) {
      latest = last;
    }
  }
  std::set<std::string> in_run;
  for (const BenchmarkSamples& b : run.benchmarks) in_run.insert(b.name);
  if (latest) {
    for (const Series& s : all) {
      const auto& points = earlier[s.benchmark];
      const bool in_latest = std::any_of(points.begin(), points.end(), [&](const Point* p) {
        return p->run_id == latest->run_id;
      });
      if (in_latest && !in_run.count(s.benchmark)) report.missing.push_back(s.benchmark);
    }
  }

  bool any_metric = false;
  for (const BenchmarkSamples& b : run.benchmarks) {
    std::vector<const Point*> window = earlier[b.name];
    if (window.size() > options.window) window.erase(window.begin(), window.end() - options.window);
    CheckRow row;
    row.benchmark = b.name;
    row.history = window.size();
    const auto values = b.metrics.find(options.metric);
    if (values == b.metrics.end() || values->second.empty()) {
      if (b.errors.empty()) continue;  // the benchmark does not report this metric
      row.method = "failed";
      row.error = b.errors.front();
      // It ran before on this device: it is broken now, which counts as a regression.
      if (!window.empty()) ++report.newly_failed;
      if (!window.empty()) row.latest_commit = window.back()->commit;
      report.rows.push_back(row);
      continue;
    }
    any_metric = true;
    row.new_median = median_of(values->second);
    row.threshold = options.threshold;
    for (const auto& [pattern, value] : options.thresholds) {
      if (std::regex_search(b.name, std::regex(pattern))) {
        row.threshold = value;
        break;
      }
    }
    if (window.empty()) {
      row.method = "none";
      report.rows.push_back(row);
      continue;
    }
    row.latest_commit = window.back()->commit;
    if (window.size() < options.min_history) {
      // Too little history for a window: the two-sample verdict against the latest run.
      row.method = "latest";
      compare.threshold = row.threshold;
      const BenchmarkComparison c = compare_samples(b.name, window.back()->values,
                                                    values->second, compare, report.direction);
      row.baseline = c.base_median;
      row.change = c.change;
      row.p_value = c.p_value;
      row.verdict = c.verdict;
      report.rows.push_back(row);
      continue;
    }
    row.method = "history";
    std::vector<double> m;
    for (const Point* p : window) m.push_back(p->median());
    const WindowVerdict v = judge_against_window(m, row.new_median, row.threshold,
                                                 options.noise_factor, report.direction);
    row.baseline = v.baseline;
    row.noise = v.noise;
    row.change = v.change;
    row.verdict = v.verdict;
    report.rows.push_back(row);
  }
  if (!any_metric && report.rows.empty()) {
    throw UsageError(fmt::format(
        "--metric {}: no benchmark of the run reports it (see `gapbench history check --help`)",
        options.metric));
  }
  return report;
}

std::string render_check(const CheckReport& report, Format format) {
  const bool time = is_time_metric(report.metric);
  const auto regressed = report.count(Verdict::kRegressed);
  const auto improved = report.count(Verdict::kImproved);
  std::map<std::string, std::size_t> by_method;
  for (const CheckRow& r : report.rows) by_method[r.method]++;
  const std::size_t same = report.count(Verdict::kSame) - by_method["failed"];
  if (format == Format::kJson) {
    nlohmann::json rows = nlohmann::json::array();
    for (const CheckRow& r : report.rows) {
      const bool failed = r.method == "failed";
      rows.push_back({{"benchmark", r.benchmark},
                      {"method", r.method},
                      {"history", r.history},
                      {"baseline", failed ? nlohmann::json() : finite_or_null(r.baseline)},
                      {"noise", failed ? nlohmann::json() : finite_or_null(r.noise)},
                      {"new_median", failed ? nlohmann::json() : finite_or_null(r.new_median)},
                      {"change", failed ? nlohmann::json() : finite_or_null(r.change)},
                      {"threshold", r.threshold},
                      {"p_value", r.p_value ? nlohmann::json(*r.p_value) : nlohmann::json()},
                      {"latest_commit", r.latest_commit},
                      {"error", r.error},
                      {"verdict", failed ? (r.history ? "newly failed" : "failed")
                                         : to_string(r.verdict)}});
    }
    nlohmann::json j = {{"schema", "gapbench.history.check/1"},
                        {"metric", report.metric},
                        {"direction", direction_name(report.direction)},
                        {"device", report.device_key},
                        {"fingerprint", report.fingerprint},
                        {"commit", report.commit},
                        {"dirty", report.dirty},
                        {"throttled", report.throttled},
                        {"window", report.options.window},
                        {"min_history", report.options.min_history},
                        {"noise_factor", report.options.noise_factor},
                        {"left_out_dirty", report.left_out_dirty},
                        {"left_out_throttled", report.left_out_throttled},
                        {"benchmarks", rows},
                        {"missing", report.missing},
                        {"regressed", regressed},
                        {"improved", improved},
                        {"newly_failed", report.newly_failed},
                        {"exit_code", report.exit_code()}};
    return j.dump(2) + "\n";
  }
  std::vector<std::vector<std::string>> rows = {
      {"benchmark", "history", "baseline", "new", "change", "noise", "threshold", "verdict"}};
  for (const CheckRow& r : report.rows) {
    const bool failed = r.method == "failed";
    const bool newly_failed = failed && r.history > 0;
    // Markdown (a pull-request comment) shows what changed; text shows every row.
    if (format == Format::kMarkdown && r.verdict == Verdict::kSame && !newly_failed) continue;
    if (failed) {
      rows.push_back({r.benchmark, fmt::format("{} runs", r.history), "-", "-", "-", "-", "-",
                      (newly_failed ? "newly failed: " : "failed: ") + r.error});
      continue;
    }
    const bool none = r.method == "none";
    const std::string history = r.method == "history"  ? fmt::format("{} runs", r.history)
                                : r.method == "latest" ? "latest " + short_commit(r.latest_commit)
                                                       : "none";
    const std::string noise = r.method == "history" ? fmt::format("{:.1f}%", 100 * r.noise)
                              : r.p_value           ? fmt::format("p {:.2g}", *r.p_value)
                                                    : "-";
    rows.push_back({r.benchmark, history, none ? "-" : format_metric_value(r.baseline, time),
                    format_metric_value(r.new_median, time), none ? "-" : percent(r.change),
                    noise, fmt::format("{:g}%", 100 * r.threshold), to_string(r.verdict)});
  }
  std::string out;
  if (format == Format::kMarkdown) {
    out += fmt::format("### Performance check of `{}` on {} (`gapbench history check`)\n\n",
                       short_commit(report.commit) + (report.dirty ? "-dirty" : ""),
                       report.device_key);
  }
  if (rows.size() > 1) out += render_table(rows, format);
  if (format == Format::kMarkdown) {
    if (rows.size() == 1) {
      out += fmt::format("\nNo benchmark regressed, improved or newly failed ({} checked).\n",
                         report.rows.size());
    }
    out += "\n";
  }
  if (report.throttled) out += "check: note: this run's device throttled (see `history list`)\n";
  if (by_method["latest"]) {
    out += fmt::format(
        "check: note: {} benchmark{} had fewer than {} earlier runs: compared with the latest "
        "run (U test over the repetitions)\n",
        by_method["latest"], by_method["latest"] == 1 ? "" : "s", report.options.min_history);
  }
  if (by_method["none"]) {
    out += fmt::format("check: note: {} benchmark{} had no earlier run on this device\n",
                       by_method["none"], by_method["none"] == 1 ? "" : "s");
  }
  if (by_method["failed"]) {
    out += fmt::format("check: note: {} benchmark{} failed in this run, {} of them newly\n",
                       by_method["failed"], by_method["failed"] == 1 ? "" : "s",
                       report.newly_failed);
  }
  if (!report.missing.empty()) {
    out += fmt::format(
        "check: note: {} benchmark{} of the device's latest earlier run are not in this run "
        "(not judged), e.g. {}\n",
        report.missing.size(), report.missing.size() == 1 ? "" : "s", report.missing.front());
  }
  if (report.left_out_dirty || report.left_out_throttled) {
    out += fmt::format(
        "check: note: left out: {} earlier dirty run{} (--include-dirty) and {} throttled "
        "(--include-throttled)\n",
        report.left_out_dirty, report.left_out_dirty == 1 ? "" : "s", report.left_out_throttled);
  }
  out += fmt::format(
      "verdict: {} regressed, {} newly failed, {} improved, {} same (metric {}; against the "
      "median of the last {} runs of device {} [{}]: beyond the threshold and {:g} robust sd)\n",
      regressed, report.newly_failed, improved, same, report.metric, report.options.window,
      report.device_key, report.fingerprint, report.options.noise_factor);
  return out;
}

// --- show ----------------------------------------------------------------------------------

std::string render_show(const std::vector<Series>& series, const ChangesReport& changes,
                        Format format) {
  const bool time = !series.empty() && is_time_metric(series.front().metric);
  const std::string metric = series.empty() ? "" : series.front().metric;
  if (format == Format::kJson) {
    const auto d = metric_direction(metric);
    nlohmann::json j = {{"schema", "gapbench.history.show/1"},
                        {"metric", metric},
                        {"unit", time ? "s" : ""},
                        {"direction", d ? direction_name(*d) : "none"}};
    j["series"] = nlohmann::json::array();
    for (std::size_t i = 0; i < series.size(); ++i) {
      const Series& s = series[i];
      nlohmann::json points = nlohmann::json::array();
      for (const Point& p : s.points) {
        points.push_back({{"run_id", p.run_id},
                          {"commit", p.commit},
                          {"commit_date", p.commit_date},
                          {"run_date", p.run_date},
                          {"dirty", p.dirty},
                          {"throttled", p.throttled},
                          {"values", p.values},
                          {"median", p.median()}});
      }
      nlohmann::json cs = nlohmann::json::array();
      if (i < changes.series.size()) {
        for (const Change& c : changes.series[i].changes) cs.push_back(change_json(c));
      }
      j["series"].push_back({{"benchmark", s.benchmark},
                             {"device", s.device_key},
                             {"fingerprint", s.fingerprint},
                             {"device_description", s.device_description},
                             {"points", points},
                             {"changes", cs}});
    }
    return j.dump(2) + "\n";
  }
  std::string out;
  for (std::size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    out += fmt::format("{}{} on {} [{}], {}:\n", format == Format::kMarkdown ? "#### " : "",
                       s.benchmark, s.device_key, s.fingerprint, s.metric);
    if (format == Format::kMarkdown) out += "\n";
    std::vector<std::vector<std::string>> rows = {
        {"commit", "date", "runs' median", "reps", "min", "max", "flags"}};
    for (std::size_t k = 0; k < s.points.size(); ++k) {
      const Point& p = s.points[k];
      std::string flags;
      if (p.dirty) flags += "dirty ";
      if (p.throttled) flags += "throttled ";
      if (i < changes.series.size()) {
        for (const Change& c : changes.series[i].changes) {
          if (c.index == k) flags += "<- " + change_kind(c) + " " + percent(c.step.change);
        }
      }
      while (!flags.empty() && flags.back() == ' ') flags.pop_back();
      const auto [lo, hi] = std::minmax_element(p.values.begin(), p.values.end());
      rows.push_back({short_commit(p.commit),
                      (p.commit_date.empty() ? p.run_date : p.commit_date).substr(0, 10),
                      format_metric_value(p.median(), time), std::to_string(p.values.size()),
                      format_metric_value(*lo, time), format_metric_value(*hi, time), flags});
    }
    out += render_table(rows, format) + "\n";
  }
  out += fmt::format("show: {} series, metric {}\n", series.size(), metric);
  return out;
}

}  // namespace gapbench::history
