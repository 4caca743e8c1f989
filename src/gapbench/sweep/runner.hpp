// Running a sweep: plan -> points -> batches on a backend's measurement loop -> typed rows
// appended as they complete -> summary table, inside the results skeleton (results_run.hpp):
// interruptible (SIGINT/SIGTERM stop between matrices, keeping every finished row) and resumable
// (--resume DIR).
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "gapbench/backend.hpp"
#include "gapbench/sweep/plan.hpp"
#include "gapbench/sweep/results_run.hpp"
#include "gapbench/sweep/rows.hpp"
#include "gapbench/sweep/shard.hpp"

namespace gapbench {

struct SweepRequest {
  SweepPlan plan;
  bool plan_given = true;  // false: on --resume, take the plan stored in meta.json
  std::optional<std::filesystem::path> out;     // default results/sweeps/<UTC time>
  std::optional<std::filesystem::path> resume;  // continue this sweep
  bool force = false;
  BackendChoice backend = BackendChoice::kAuto;
  int threads = 0;
  // false: on --resume, the threads stored in meta.json (so the rows repeat to the last bit)
  bool threads_given = true;
  // --shard: compute only this shard's matrices (sweep/shard.hpp), into OUT/shard-IIII-of-NNNN;
  // on --resume, none takes the directory's own shard.
  std::optional<Shard> shard;
  std::string command_line;
};

// The rows.csv of `plan` (its header; one row per (point, index)), each row checked against its
// point by rows.hpp's row_problem: what a resume and `gapbench merge` check rows with. The
// layout refers to `points` (expand_plan(plan)), which must outlive it.
RowsLayout sweep_layout(const SweepPlan& plan, const std::vector<PlannedPoint>& points);

// Runs the sweep, printing progress to stderr and the summary table to `out`. Throws UsageError
// before creating any file when the request is invalid. `directory`, when given, receives the
// results directory used.
int run_sweep(const SweepRequest& request, std::ostream& out,
              std::filesystem::path* directory = nullptr);

// Opens the sweep in `dir` as `run_sweep` with --resume does before computing anything: checks
// meta.json (schema, RNG layout, types, plan_hash) and, with `plan`, that it is the stored one
// (without: the stored plan), then every row (rows that fail move to rows.rejected.csv) and
// returns the rows kept. Throws UsageError naming --resume for what it refuses; the directory
// is locked only while it runs.
std::vector<SweepRow> open_sweep_for_resume(const std::filesystem::path& dir,
                                            const std::optional<SweepPlan>& plan = std::nullopt);

}  // namespace gapbench
