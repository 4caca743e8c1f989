#include "gapbench/sweep/runner.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <limits>
#include <optional>

#include "gapbench/error.hpp"
#include "gapbench/sweep/rows.hpp"
#include "gapbench/test_hook.hpp"

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

// The plan a resume runs: the stored one, which `given` (the flags' plan, when there are flags)
// must equal.
SweepPlan resumed_plan(const fs::path& dir, const nlohmann::json& stored,
                       const std::optional<SweepPlan>& given) {
  const SweepPlan stored_plan = plan_from_json(stored.at("plan"));
  if (given) {
    refuse_other_plan(dir, *given == stored_plan, plan_to_json(*given), stored.at("plan"),
                      ", or none to reuse its plan");
  }
  return stored_plan;
}

}  // namespace

RowsLayout sweep_layout(const SweepPlan& plan, const std::vector<PlannedPoint>& points) {
  const int kmax = max_k(plan), eigen = max_eigen_values(plan);
  RowsLayout layout{row_columns(kmax, plan.reference == ReferenceChoice::kAuto, eigen), "point",
                    "index", {}};
  layout.row_problem = [&points, seed = plan.seed, kmax, eigen](
                           int point, std::uint32_t index, int, const RowFields& fields) {
    return row_problem(fields, point, points.at(static_cast<std::size_t>(point)).spec, seed, index,
                       kmax, eigen);
  };
  return layout;
}

std::vector<SweepRow> open_sweep_for_resume(const fs::path& dir,
                                            const std::optional<SweepPlan>& plan) {
  const nlohmann::json stored = read_resume_meta(dir, kSweepSchema, "sweep");
  const SweepPlan resumed = resumed_plan(dir, stored, plan);
  const std::vector<PlannedPoint> points = expand_plan(resumed);
  const ResultsDir results =
      ResultsDir::resume(dir, sweep_layout(resumed, points), resumed.all_values,
                         static_cast<int>(points.size()), resumed.seeds);
  std::vector<SweepRow> rows;
  for (const RowFields& fields : results.existing_rows()) rows.push_back(parse_row(fields));
  return rows;
}

int run_sweep(const SweepRequest& req, std::ostream& out, fs::path* directory) {
  // 1. Everything that can be refused is refused before any file is touched.
  ResultsTarget target{"sweep",         kSweepSchema,     req.out,
                             req.resume,      req.force,        fs::path("results/sweeps"),
                             req.command_line, "rows",          "gapbench sweep",
                             "",              req.shard};
  std::optional<nlohmann::json> stored = stored_meta(target, req.plan_given);
  SweepPlan plan = req.plan;
  int threads = req.threads;
  if (stored) {
    plan = resumed_plan(*req.resume, *stored,
                        req.plan_given ? std::optional<SweepPlan>(req.plan) : std::nullopt);
    if (!req.threads_given) threads = stored->value("threads", 0);
  }
  const std::vector<PlannedPoint> points = expand_plan(plan);
  BackendSelection sel = make_backend(req.backend, threads);
  Backend& backend = *sel.backend;
  const bool with_reference = plan.reference == ReferenceChoice::kAuto;
  for (const auto& p : points) {
    backend.check(p.spec);
    if (!with_reference) continue;
    try {
      backend.check(reference_point(p.spec));
    } catch (const UsageError& e) {
      throw UsageError(fmt::format(
          "--reference: the float64 reference of T = {} cannot run on the dense matrix here "
          "({}); drop --reference or lower --T",
          p.spec.model.T, e.what()));
    }
  }
  const int kmax = max_k(plan), eigen_values = max_eigen_values(plan);
  const std::int64_t planned = static_cast<std::int64_t>(points.size()) * plan.seeds;
  const ShardKeys shard(target.shard, [&] { return sweep_units(plan, points); });
  if (target.shard) {
    std::cerr << fmt::format("shard {} of {} ({}): {} of the plan's {} matrices\n",
                             target.shard->index, target.shard->count, target.shard->source,
                             shard.size(), planned);
  }
  RowsLayout layout = sweep_layout(plan, points);
  if (target.shard) layout.owns = [&shard](int point, std::uint32_t i) { return shard.owns(point, i); };

  // 2. The results directory.
  const BackendRecord record = backend_record(sel);
  ResultsRun run(target, std::move(stored), plan_to_json(plan), layout,
                 plan.all_values, static_cast<int>(points.size()), plan.seeds, record.meta_fields(),
                 record.resume);
  ResultsDir& results = *run.dir();
  if (directory) *directory = results.path();
  std::cerr << sel.note << "; device: " << backend.description() << '\n'
            << "results: " << results.path().string() << '\n';

  // 3. The work.
  std::vector<SweepRow> rows;
  for (const RowFields& fields : results.existing_rows()) rows.push_back(parse_row(fields));
  const std::int64_t total = target.shard ? shard.size() : planned;
  std::int64_t computed = 0;
  Progress progress(total);
  ReferenceCache references;
  const auto work = [&] {
    for (const PlannedPoint& p : points) {
      std::vector<std::uint32_t> todo;
      for (std::int64_t i = 0; i < plan.seeds; ++i) {
        const auto index = static_cast<std::uint32_t>(i);
        if (shard.owns(p.ordinal, index) && !results.done(p.ordinal, index)) {
          todo.push_back(index);
        }
      }
      const std::size_t batch = static_cast<std::size_t>(backend.preferred_batch(p.spec));
      for (std::size_t first = 0; first < todo.size(); first += batch) {
        const std::vector<std::uint32_t> indices(
            todo.begin() + static_cast<std::ptrdiff_t>(first),
            todo.begin() + static_cast<std::ptrdiff_t>(std::min(todo.size(), first + batch)));
        test_pause_point("compute");
        for (MatrixOutcome& o : backend.run_batch(p.spec, plan.seed, indices)) {
          SweepRow row = make_row(p.ordinal, plan.seed, p.spec, backend.name(), std::move(o));
          const SolveResult& solve = row.outcome.solve;
          if (plan.all_values) {
            results.append_values(
                format_values(p.ordinal, row.outcome.index, solve.values, solve.values_im));
          }
          if (with_reference && row.status != RowStatus::kOk) {
            // A failed row has no values to compare: the reference columns are there, empty.
            const double nan = std::numeric_limits<double>::quiet_NaN();
            row.errors = ReferenceErrors{"", nan, nan};
          } else if (with_reference) {
            const PointSpec ref = reference_point(p.spec);
            row.errors = reference_errors(
                ref, solve,
                is_own_reference(p.spec)
                    ? ReferenceValues{solve.values, solve.values_im, solve.converged}
                    : references.values(backend, ref, plan.seed, row.outcome.index));
          }
          results.append_row(format_row(row, kmax, eigen_values));
          rows.push_back(std::move(row));
          ++computed;
        }
        const bool point_done = first + batch >= todo.size();
        progress.update(static_cast<std::int64_t>(rows.size()), computed,
                        fmt::format("T={}", p.spec.model.T), point_done);
        if (run.stopped()) return true;
      }
    }
    return false;
  };
  const int code = run.run(
      [&] {
        // Not in the rows' times: the reference solves' own time, also when the work fails.
        const auto reference_seconds = [&] {
          if (with_reference) run.meta()["reference_seconds"] = references.seconds();
        };
        try {
          const bool interrupted = work();
          reference_seconds();
          return interrupted;
        } catch (...) {
          reference_seconds();
          throw;
        }
      },
      [&] { return static_cast<std::int64_t>(rows.size()); });
  out << summary_table(rows);
  if (code == 0) {
    out << fmt::format("{} rows in {}\n", rows.size(), (results.path() / "rows.csv").string());
  }
  return code;
}

}  // namespace gapbench
