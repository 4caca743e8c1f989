// gapbench: spectra of random attention matrices at scale. Subcommands: sweep, run, dump, info,
// compare, propagate, merge. Exit codes: 0 success, 1 failure (a computation, a non-converged
// `run`, a regression found by `compare`), 2 usage error, 130 interrupted sweep (its finished rows
// are kept; continue with --resume).
#include <CLI/CLI.hpp>

#include <iostream>
#include <map>

#include "gapbench/cli/commands.hpp"
#include "gapbench/error.hpp"
#include "gapbench/runtime.hpp"

namespace {

std::string quote_command_line(int argc, char** argv) {
  std::string line;
  for (int i = 0; i < argc; ++i) {
    if (i) line += ' ';
    const std::string arg = argv[i];
    const bool plain = arg.find_first_of(" \t'\"$\\") == std::string::npos && !arg.empty();
    line += plain ? arg : "'" + arg + "'";
  }
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace gapbench;
  ensure_passive_openmp(argv);
  CLI::App app{"gapbench: spectral gap of random attention matrices (Mind the Gap, ICML 2025)"};
  app.require_subcommand(1);
  std::map<std::string, cli::Command> commands;
  commands["sweep"] = cli::add_sweep_command(app, quote_command_line(argc, argv));
  commands["run"] = cli::add_run_command(app);
  commands["dump"] = cli::add_dump_command(app);
  commands["info"] = cli::add_info_command(app);
  commands["compare"] = cli::add_compare_command(app);
  commands["propagate"] = cli::add_propagate_command(app, quote_command_line(argc, argv));
  commands["merge"] = cli::add_merge_command(app, quote_command_line(argc, argv));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "gapbench: error: " << e.what() << " (see gapbench --help)\n";
    return 2;
  }
  try {
    for (const CLI::App* sub : app.get_subcommands()) return commands.at(sub->get_name())();
  } catch (const UsageError& e) {
    std::cerr << "gapbench: error: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "gapbench: failed: " << e.what() << '\n';
    return 1;
  }
  return 2;
}
