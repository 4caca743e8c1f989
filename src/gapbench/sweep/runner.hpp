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

#include "gapbench/backend.hpp"
#include "gapbench/sweep/plan.hpp"
#include "gapbench/sweep/results_run.hpp"

namespace gapbench {

struct SweepRequest {
  SweepPlan plan;
  bool plan_given = true;  // false: on --resume, take the plan stored in meta.json
  std::optional<std::filesystem::path> out;     // default results/sweeps/<UTC time>
  std::optional<std::filesystem::path> resume;  // continue this sweep
  bool force = false;
  BackendChoice backend = BackendChoice::kAuto;
  int threads = 0;
  std::string command_line;
};

// Runs the sweep, printing progress to stderr and the summary table to `out`. Throws UsageError
// before creating any file when the request is invalid. `directory`, when given, receives the
// results directory used.
int run_sweep(const SweepRequest& request, std::ostream& out,
              std::filesystem::path* directory = nullptr);

}  // namespace gapbench
