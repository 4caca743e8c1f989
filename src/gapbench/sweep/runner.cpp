#include "gapbench/sweep/runner.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include "gapbench/build_info.hpp"
#include "gapbench/error.hpp"
#include "gapbench/rng.hpp"
#include "gapbench/sweep/stop_signals.hpp"
#include "gapbench/text.hpp"

namespace gapbench {
namespace fs = std::filesystem;
namespace {

std::string format_duration(double seconds) {
  const auto s = static_cast<long>(std::max(0.0, seconds) + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                   : fmt::format("{}:{:02}", s / 60, s % 60);
}

// Progress on stderr: a bar redrawn in place on a terminal, plain lines (at most one per 5 s and
// one per finished point) otherwise.
class Progress {
 public:
  explicit Progress(std::int64_t total)
      : m_total(total), m_tty(::isatty(STDERR_FILENO) != 0), m_start(clock::now()) {}

  void update(std::int64_t done, std::int64_t computed, const std::string& what, bool point_done) {
    const double elapsed = seconds_since(m_start);
    const double eta = computed > 0 ? elapsed / computed * (m_total - done) : 0;
    const double pct = m_total ? 100.0 * done / m_total : 100.0;
    if (m_tty) {
      constexpr int kWidth = 30;
      const int filled = static_cast<int>(kWidth * done / std::max<std::int64_t>(m_total, 1));
      std::cerr << fmt::format("\r[{}{}] {}/{} {:3.0f}% {} eta {}   ", std::string(filled, '#'),
                               std::string(kWidth - filled, '.'), done, m_total, pct, what,
                               format_duration(eta))
                << std::flush;
      if (done == m_total) std::cerr << '\n';
      return;
    }
    if (point_done || seconds_since(m_last_line) >= 5 || done == m_total) {
      std::cerr << fmt::format("progress: {}/{} ({:.0f}%) {} elapsed {} eta {}\n", done, m_total,
                               pct, what, format_duration(elapsed), format_duration(eta));
      m_last_line = clock::now();
    }
  }

 private:
  using clock = std::chrono::steady_clock;
  static double seconds_since(clock::time_point t) {
    return std::chrono::duration<double>(clock::now() - t).count();
  }
  std::int64_t m_total;
  bool m_tty;
  clock::time_point m_start;
  clock::time_point m_last_line{};
};

RowFields to_fields(const std::string& line, const std::vector<std::string>& columns) {
  const std::vector<std::string> fields = split(line.substr(0, line.size() - 1), ',');
  RowFields row;
  for (std::size_t i = 0; i < columns.size() && i < fields.size(); ++i) row[columns[i]] = fields[i];
  return row;
}

nlohmann::json make_meta(const SweepRequest& req, const SweepPlan& plan,
                         const BackendSelection& sel) {
  nlohmann::json backend = {{"name", sel.backend->name()},
                            {"note", sel.note},
                            {"device", sel.backend->device()},
                            {"versions", sel.backend->versions()}};
  return {{"schema", kSweepSchema},
          {"rng", {{"layout", kRngLayout}, {"version", kRngLayoutVersion}}},
          {"command", req.command_line},
          {"build", build_info()},
          {"libraries", library_versions()},
          {"host", host_name()},
          {"backend", backend},
          {"plan", plan_to_json(plan)},
          {"started", utc_now_iso()},
          {"finished", nullptr},
          {"status", "running"},
          {"rows", 0},
          {"resumes", nlohmann::json::array()}};
}

}  // namespace

fs::path default_sweep_dir(const fs::path& root) {
  fs::path dir = root / utc_now_compact();
  for (int n = 2; fs::exists(dir); ++n) dir = root / fmt::format("{}-{}", utc_now_compact(), n);
  return dir;
}

int run_sweep(const SweepRequest& req, std::ostream& out, fs::path* directory) {
  // 1. Everything that can be refused is refused before any file is touched.
  SweepPlan plan = req.plan;
  std::optional<nlohmann::json> stored_meta;
  if (req.resume) {
    if (req.out || req.force) {
      throw UsageError("--resume: continues the sweep in its own directory; drop --out/--force");
    }
    stored_meta = read_resume_meta(*req.resume, kSweepSchema, "sweep");
    const nlohmann::json stored_plan = stored_meta->at("plan");
    if (!req.plan_given) {
      plan = plan_from_json(stored_plan);
    } else if (plan_to_json(plan) != plan_to_json(plan_from_json(stored_plan))) {
      throw UsageError(fmt::format(
          "--resume: '{}' was made by a different plan (differs in: {}); give the same flags, "
          "or none to reuse its plan",
          req.resume->string(), plan_differences(plan_to_json(plan), stored_plan)));
    }
  }
  const std::vector<PlannedPoint> points = expand_plan(plan);
  BackendSelection sel = make_backend(req.backend, req.threads);
  const bool with_reference = plan.reference == ReferenceChoice::kAuto;
  for (const auto& p : points) {
    sel.backend->check(p.spec);
    if (!with_reference) continue;
    try {
      sel.backend->check(reference_point(p.spec));
    } catch (const UsageError& e) {
      throw UsageError(fmt::format(
          "--reference: the float64 reference of T = {} cannot run on the dense matrix here "
          "({}); drop --reference or lower --T",
          p.spec.model.T, e.what()));
    }
  }
  const int kmax = max_k(plan);
  const RowsLayout layout{row_columns(kmax, with_reference), "point", "index", {}};

  // 2. The results directory.
  nlohmann::json meta;
  std::optional<ResultsDir> opened;
  if (!stored_meta) {
    meta = make_meta(req, plan, sel);
    opened.emplace(ResultsDir::create(req.out ? *req.out : default_sweep_dir("results/sweeps"),
                                      req.force, layout, plan.all_values, meta));
  } else {
    opened.emplace(ResultsDir::resume(*req.resume, layout, plan.all_values,
                                      static_cast<int>(points.size()), plan.seeds));
    meta = *stored_meta;
    record_resume(meta, {{"command", req.command_line},
                         {"backend", sel.backend->name()},
                         {"device", sel.backend->device()}});
    opened->write_meta(meta);
  }
  ResultsDir& results = *opened;
  if (directory) *directory = results.path();
  std::cerr << sel.note << "; device: " << sel.backend->device() << '\n'
            << "results: " << results.path().string() << '\n';

  // 3. The work.
  std::vector<RowFields> rows = results.existing_rows();
  const std::int64_t total = static_cast<std::int64_t>(points.size()) * plan.seeds;
  std::int64_t done = static_cast<std::int64_t>(rows.size()), computed = 0;
  Progress progress(total);
  ReferenceCache references;
  StopSignals signals;
  bool interrupted = false;
  try {
    for (const PlannedPoint& p : points) {
      std::vector<std::uint32_t> todo;
      for (std::int64_t i = 0; i < plan.seeds; ++i) {
        if (!results.done(p.ordinal, static_cast<std::uint32_t>(i))) {
          todo.push_back(static_cast<std::uint32_t>(i));
        }
      }
      const std::size_t batch = static_cast<std::size_t>(sel.backend->preferred_batch(p.spec));
      for (std::size_t first = 0; first < todo.size() && !interrupted; first += batch) {
        const std::vector<std::uint32_t> indices(
            todo.begin() + static_cast<std::ptrdiff_t>(first),
            todo.begin() + static_cast<std::ptrdiff_t>(std::min(todo.size(), first + batch)));
        for (const MatrixOutcome& o : sel.backend->run_batch(p.spec, plan.seed, indices)) {
          const Metrics metrics = compute_metrics(p.spec.model, o.solve.values, o.sums);
          if (plan.all_values) {
            results.append_values(format_values(p.ordinal, o.index, o.solve.values));
          }
          std::optional<ReferenceErrors> errors;
          if (with_reference) {
            const PointSpec ref = reference_point(p.spec);
            errors =
                reference_errors(ref, o.solve.values,
                                 is_own_reference(p.spec)
                                     ? ReferenceValues{o.solve.values, o.solve.converged}
                                     : references.values(*sel.backend, ref, plan.seed, o.index));
          }
          const std::string line =
              format_row(p.ordinal, p.spec, plan.seed, o, metrics, sel.backend->name(), kmax,
                         errors ? &*errors : nullptr);
          results.append_row(line);
          rows.push_back(to_fields(line, layout.columns));
          ++done;
          ++computed;
        }
        interrupted = signals.stopped();
        const bool point_done = first + batch >= todo.size();
        progress.update(done, computed, fmt::format("T={}", p.spec.model.T), point_done);
      }
      if (interrupted) break;
    }
  } catch (const std::exception& e) {
    meta["status"] = "failed";
    meta["error"] = e.what();
    meta["rows"] = rows.size();
    if (with_reference) meta["reference_seconds"] = references.seconds();
    meta["finished"] = utc_now_iso();
    results.write_meta(meta);
    throw;
  }
  meta["status"] = interrupted ? "interrupted" : "complete";
  meta["rows"] = rows.size();
  if (with_reference) meta["reference_seconds"] = references.seconds();  // not in the rows' times
  meta["finished"] = utc_now_iso();
  results.write_meta(meta);

  out << summary_table(rows);
  if (interrupted) {
    std::cerr << fmt::format(
        "interrupted: {} rows kept in {}; continue with: gapbench sweep --resume {}\n", rows.size(),
        results.path().string(), results.path().string());
    return kExitInterrupted;
  }
  out << fmt::format("{} rows in {}\n", rows.size(), (results.path() / "rows.csv").string());
  return 0;
}

std::string summary_table(const std::vector<RowFields>& rows) {
  struct Stat {
    double sum = 0, sq = 0;
    int n = 0;
    void add(const std::string& text) {
      if (text.empty()) return;
      const double v = std::stod(text);
      sum += v;
      sq += v * v;
      ++n;
    }
    std::string str(int precision) const {
      if (n == 0) return "-";
      const double mean = sum / n;
      const double sd = n > 1 ? std::sqrt(std::max(0.0, (sq - n * mean * mean) / (n - 1))) : 0;
      return fmt::format("{:.{}g}±{:.2g}", mean, precision, sd);
    }
  };
  struct Group {
    std::map<std::string, std::string> label;
    Stat s1, s2, gap, ratio, excess, edge, fperp, error;
    int converged = 0, n = 0;
  };
  std::map<int, Group> groups;
  for (const RowFields& r : rows) {
    Group& g = groups[std::stoi(r.at("point"))];
    g.label = r;
    g.s1.add(r.at("s1"));
    if (r.count("s2")) {
      g.s2.add(r.at("s2"));
      g.gap.add(r.at("gap"));
      g.ratio.add(r.at("ratio"));
    }
    g.excess.add(r.at("s1_excess"));
    g.edge.add(r.at("edge_ratio"));
    g.fperp.add(r.at("frob_perp_over_c2"));
    if (r.count("max_rel_err")) g.error.add(r.at("max_rel_err"));
    g.converged += r.at("converged") == "1";
    ++g.n;
  }
  // Sweeps with --reference add the error against it (max over the top k, relative).
  bool with_error = false;
  for (const auto& [point, g] : groups) with_error = with_error || g.error.n > 0;
  std::string out = fmt::format(
      "\n{:>7} {:<28} {:<6} {:<8} {:<7} {:>3} {:>20} {:>20} {:>20} {:>20} {:>17} {:>17} "
      "{:>17} {:>5}{}\n",
      "T", "model", "fix", "solver", "prec", "n", "s1", "s2", "gap s1-s2", "ratio s2/s1",
      "(s1-1)2T/c^2", "sqrtT s_edge/2c", "|A_perp|F^2/c^2", "conv",
      with_error ? fmt::format(" {:>18}", "max rel err") : "");
  for (const auto& [point, g] : groups) {
    const auto& l = g.label;
    std::string model = l.at("model");
    if (model == "markov") {
      model += " " + l.at("law") + (l.at("beta").empty() ? "" : " b=" + l.at("beta"));
    } else {
      model += fmt::format(" {} d={} dk={} b={}{}", l.at("input"), l.at("d"), l.at("dk"),
                           l.at("beta"), l.at("causal") == "1" ? " causal" : "");
    }
    const std::string conv = g.converged == g.n ? fmt::format("{}/{}", g.converged, g.n)
                                                : fmt::format("{}/{}!", g.converged, g.n);
    out += fmt::format(
        "{:>7} {:<28} {:<6} {:<8} {:<7} {:>3} {:>20} {:>20} {:>20} {:>20} {:>17} {:>17} {:>17} "
        "{:>5}{}\n",
        l.at("T"), model, l.at("fix"), l.at("solver"), l.at("precision"), g.n, g.s1.str(8),
        g.s2.str(6), g.gap.str(6), g.ratio.str(6), g.excess.str(4), g.edge.str(4), g.fperp.str(4),
        conv, with_error ? fmt::format(" {:>18}", g.error.str(2)) : "");
  }
  int not_converged = 0;
  for (const auto& [point, g] : groups) not_converged += g.n - g.converged;
  if (not_converged > 0) {
    out += fmt::format("WARNING: {} rows did not converge (converged = 0 in rows.csv; marked !)\n",
                       not_converged);
  }
  return out;
}

}  // namespace gapbench
