#include <CLI/CLI.hpp>

#include <iostream>
#include <map>

#include "gapbench/cli/commands.hpp"
#include "gapbench/error.hpp"

namespace gapbench::cli {
namespace {

std::string quote_command_line(const std::vector<std::string>& args) {
  std::string line;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (i) line += ' ';
    const std::string& arg = args[i];
    const bool plain = arg.find_first_of(" \t'\"$\\") == std::string::npos && !arg.empty();
    line += plain ? arg : "'" + arg + "'";
  }
  return line;
}

}  // namespace

int run_cli(const std::vector<std::string>& args, std::string* error, bool* past_memory_plan) {
  if (past_memory_plan) *past_memory_plan = false;
  const auto report = [&](const std::string& line) {
    if (error) {
      *error = line;
    } else {
      std::cerr << line << '\n';
    }
  };
  CLI::App app{"gapbench: spectral gap of random attention matrices (Mind the Gap, ICML 2025)"};
  app.require_subcommand(1);
  const std::string command_line = quote_command_line(args);
  std::map<std::string, Command> commands;
  commands["sweep"] = add_sweep_command(app, command_line);
  commands["run"] = add_run_command(app);
  commands["dump"] = add_dump_command(app);
  commands["info"] = add_info_command(app);
  commands["compare"] = add_compare_command(app);
  commands["propagate"] = add_propagate_command(app, command_line);
  commands["merge"] = add_merge_command(app, command_line);
  commands["history"] = add_history_command(app);
  try {
    // CLI11 takes the arguments after the program name, last first.
    std::vector<std::string> rest(args.rbegin(), args.rend());
    if (!rest.empty()) rest.pop_back();
    app.parse(rest);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    report(std::string("gapbench: error: ") + e.what() + " (see gapbench --help)");
    return 2;
  }
  try {
    for (const CLI::App* sub : app.get_subcommands()) return commands.at(sub->get_name())();
  } catch (const UsageError& e) {
    if (past_memory_plan) *past_memory_plan = dynamic_cast<const MemoryPlanError*>(&e) != nullptr;
    report(std::string("gapbench: error: ") + e.what());
    return 2;
  } catch (const std::exception& e) {
    report(std::string("gapbench: failed: ") + e.what());
    return 1;
  }
  return 2;
}

}  // namespace gapbench::cli
