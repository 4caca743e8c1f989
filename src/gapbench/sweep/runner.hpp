// Running a sweep: plan -> points -> batches on a backend -> rows appended as they complete ->
// summary table. Interruptible (SIGINT/SIGTERM stop between matrices, keeping every finished
// row) and resumable (--resume DIR).
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "gapbench/sweep/plan.hpp"
#include "gapbench/sweep/results.hpp"

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

// Exit code of a sweep: 0 when complete, 130 when interrupted by a signal.
inline constexpr int kExitInterrupted = 130;

// Runs the sweep, printing progress to stderr and the summary table to `out`. Throws UsageError
// before creating any file when the request is invalid. `directory`, when given, receives the
// results directory used.
int run_sweep(const SweepRequest& request, std::ostream& out,
              std::filesystem::path* directory = nullptr);

// The summary of rows (rows.csv fields): mean +- sd per point of s1, s2, gap, ratio and the
// theory columns, with the count of converged rows.
std::string summary_table(const std::vector<RowFields>& rows);

// The path of the directory of the last run_sweep (for scripts that plot it).
std::filesystem::path default_sweep_dir(const std::filesystem::path& root);

}  // namespace gapbench
