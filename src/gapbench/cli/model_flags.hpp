// The flags of the commands that describe matrices or networks: the model, solver and sweep flags
// shared by `gapbench sweep`, `run` and `dump`, and those of `propagate`. Every flag is text
// parsed by gapbench itself so that errors name the flag and say what to do.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <set>
#include <string>

#include "gapbench/propagate/propagate.hpp"
#include "gapbench/sweep/plan.hpp"
#include "gapbench/sweep/shard.hpp"

namespace gapbench::cli {

// --shard's help, the same for sweep and propagate.
inline constexpr const char* kShardHelp =
    "compute shard I of N of the plan's units (I/N, 0 <= I < N), or the Slurm array task's "
    "(slurm); writes OUT/shard-IIII-of-NNNN under --out; merge the shards with gapbench merge";

struct PlanFlags {
  std::string model = "markov";
  std::string T = "256:4096:x2";
  std::string law = "exponential";
  std::string beta = "1";
  std::string d = "64";
  std::string dk;
  std::string input = "gaussian";
  std::string init = "normal";
  bool causal = false;
  std::string logits = "full";
  std::string fix = "none";
  std::string spectrum = "singular";
  std::string solver;  // empty: each spectrum's default (default_solver)
  std::string k = "4";
  std::string precision = "float64";
  std::string seed = "0";
  std::int64_t seeds = 4;
  double tol = 0;
  int max_iter = 0;
  int block = 0;
  int basis = 0;
  int oversample = 0;
  int power_iters = 0;
  bool all_values = false;
  std::string op = "auto";
  std::string reference = "none";
  std::string backend = "auto";
  int threads = 0;
};

// Adds the model and solver flags (and, with `sweep_axes`, --seeds and --all-values).
void add_plan_flags(CLI::App& app, PlanFlags& flags, bool sweep_axes);

// The plan the flags describe; refuses flags that apply to none of the chosen models.
SweepPlan build_plan(const CLI::App& app, const PlanFlags& flags);

// The long names of the plan flags the user gave (for --resume and applicability checks).
std::set<std::string> given_flags(const CLI::App& app);

// Refuses a --threads outside 0 .. kMaxThreads (0: all cores).
void check_threads(int threads);

// The flags of `gapbench propagate` (lists or ranges where a sweep axis).
struct PropagateFlags {
  std::string T = "256", gamma = "1", d, L = "3";
  std::string input = "isometric", variant = "plain", source = "markov", fix = "none";
  std::string law = "exponential", init = "normal";
  bool layernorm = false, gradient = false, force = false;
  std::string gradient_wrt = "value", gradient_method = "auto";
  int probes = 16, probes_max = 1000;
  double probe_rse = 0.05;
  double beta = 1, sigma_v = 1;
  std::int64_t dk = 0, index = 0, seeds = 1;
  std::uint64_t seed = 0;
  std::string backend = "auto";
  int threads = 0;
  std::string out, resume, shard;
};

void add_propagate_flags(CLI::App& app, PropagateFlags& flags);

// The request the flags describe (its command line left empty).
propagate::PropagateRequest build_propagate_request(const CLI::App& app,
                                                    const PropagateFlags& flags);

}  // namespace gapbench::cli
