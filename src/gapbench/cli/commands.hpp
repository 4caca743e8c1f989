// The subcommands of the gapbench CLI. Each registers its flags on the app and returns the
// function that runs it (returning the exit code).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gapbench/backend.hpp"
#include "gapbench/point.hpp"

namespace gapbench::cli {

using Command = std::function<int()>;

Command add_sweep_command(CLI::App& app, const std::string& command_line);
Command add_run_command(CLI::App& app);
Command add_dump_command(CLI::App& app);
Command add_info_command(CLI::App& app);
Command add_compare_command(CLI::App& app);
Command add_propagate_command(CLI::App& app, const std::string& command_line);
Command add_merge_command(CLI::App& app, const std::string& command_line);
Command add_history_command(CLI::App& app);

// The whole CLI on `args` (args[0] the program name): parses, runs the subcommand and returns
// its exit code, printing errors as the gapbench executable does. What main() runs, and what
// the Python package's sweep() runs in-process.
// With `error`, a usage error or failure is stored there (one line) instead of printed; with
// `past_memory_plan`, whether the usage error was a size past the memory plan (MemoryPlanError:
// the Python package's MemoryError).
int run_cli(const std::vector<std::string>& args, std::string* error = nullptr,
            bool* past_memory_plan = nullptr);

// The one matrix `gapbench run FLAGS` describes (flags without "run"): its point, seed and
// index, parsed and checked as `run` does (UsageError naming the flag).
struct RunPoint {
  PointSpec point;
  std::uint64_t seed = 0;
  std::uint32_t index = 0;
  int threads = 0;
  BackendChoice backend = BackendChoice::kAuto;
};
RunPoint parse_run_point(const std::vector<std::string>& flags);

}  // namespace gapbench::cli
