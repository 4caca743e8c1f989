// The subcommands of the gapbench CLI. Each registers its flags on the app and returns the
// function that runs it (returning the exit code).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace gapbench::cli {

using Command = std::function<int()>;

Command add_sweep_command(CLI::App& app, const std::string& command_line);
Command add_run_command(CLI::App& app);
Command add_dump_command(CLI::App& app);
Command add_info_command(CLI::App& app);
Command add_compare_command(CLI::App& app);
Command add_propagate_command(CLI::App& app, const std::string& command_line);
Command add_merge_command(CLI::App& app, const std::string& command_line);

}  // namespace gapbench::cli
