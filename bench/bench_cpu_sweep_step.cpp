// One step of a sweep, end to end, through the Backend interface a sweep uses: generate one
// T x T matrix and find its top 4 singular values with lanczos (float64; markov with exponential
// entries and attention with gaussian inputs, d = 64).
//
// Timed (steady clock around the call, UseManualTime): Backend::run_batch for one matrix
// (generation + solve + Frobenius sums). Not timed: making the backend, cache flushes. Counters:
// matrices_per_s, bytes_per_s and pct_of_copy_bw (bytes of A written once and read once per pass),
// passes_over_A, s1, s2, gap, converged, rel_err_s2.
#include <fmt/format.h>

#include "gapbench/backend.hpp"
#include "harness.hpp"

namespace gapbench::bench {
namespace {

void bm_sweep_step(benchmark::State& state, ModelSpec spec, std::int64_t T) {
  spec.T = T;
  if (skip_past_cap(state, T, kCpuSweepStepCap, "CPU sweep step",
                    "cpu/generate and cpu/solve time both halves beyond it")) {
    return;
  }
  static BackendSelection cpu = make_backend(BackendChoice::kCpu, 0);
  PointSpec point{spec, Precision::kFloat64, SolverOptions{}};
  MatrixOutcome o;
  IterationTimer timer;
  for (auto _ : state) {
    flush_caches_if_asked();
    timer.start();
    o = cpu.backend->run_batch(point, 0, {0}).at(0);
    timer.stop(state);
    benchmark::DoNotOptimize(o.solve.values.data());
  }
  const double bytes =
      8.0 * static_cast<double>(T) * T * (1.0 + static_cast<double>(o.solve.passes));
  set_throughput_counters(state, bytes, 1, timer.mean_seconds());
  set_solve_counters(state, spec, o.solve);
}

}  // namespace

void register_cpu_sweep_step() {
  ModelSpec markov;
  ModelSpec attention;
  attention.kind = ModelKind::kAttention;
  for (const std::int64_t T : sizes()) {
    for (const auto& [name, spec] : {std::pair{"markov_exponential", markov},
                                     std::pair{"attention_gaussian_d64", attention}}) {
      auto* b = benchmark::RegisterBenchmark(
          fmt::format("cpu/sweep_step/{}/lanczos/float64/k:4/T:{}", name, T).c_str(), bm_sweep_step,
          spec, T);
      b->UseManualTime()->Unit(benchmark::kMillisecond)->Repetitions(repetitions_at(T));
      set_iteration_policy(b, T, 2048);
    }
  }
}

}  // namespace gapbench::bench
