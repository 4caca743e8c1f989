// gapbench: spectra of random attention matrices at scale. Subcommands: sweep, run, dump, info,
// compare, propagate, merge. Exit codes: 0 success, 1 failure (a computation, a non-converged
// `run`, a regression found by `compare`), 2 usage error, 130 interrupted sweep (its finished rows
// are kept; continue with --resume).
#include <string>
#include <vector>

#include "gapbench/cli/commands.hpp"
#include "gapbench/runtime.hpp"

int main(int argc, char** argv) {
  gapbench::ensure_passive_openmp(argv);
  return gapbench::cli::run_cli(std::vector<std::string>(argv, argv + argc));
}
