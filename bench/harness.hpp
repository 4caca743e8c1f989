// The benchmark harness's shared pieces: its options, the per-family caps, the measured copy
// bandwidth (the yardstick of every floor), cached matrices and references, and the counters
// every family reports under fixed names and units:
//   matrices_per_s   matrices generated or solved per second
//   bytes_per_s      bytes of A moved per second (written by generation, read by products)
//   pct_of_copy_bw   bytes_per_s as a percentage of the copy bandwidth measured at start-up
//   passes_over_A    products with A or A^T of one solve
//   s1, s2, gap      mean values of the solve; converged 1/0
//   rel_err_s2       |s2 - s2_exact| / s2_exact against LAPACK gesdd (float64), T <= 2048
// and, for eigenvalues (cpu/eigen, bench_cpu_eigen.cpp): lambda1 (real part), abs_lambda2, and
// against LAPACK geev top4_set_match, max_rel_err (of the top 4 moduli), rel_err_abs_lambda2.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "gapbench/cpu/cpu_device.hpp"
#include "gapbench/model.hpp"
#include "gapbench/solvers/solver_types.hpp"

namespace gapbench::bench {

struct HarnessOptions {
  std::string matrix_path;     // --matrix=FILE.npy (float64): solver benchmarks on this matrix only
  std::int64_t min_T = 256;    // --min-T
  std::int64_t max_T = 65536;  // --max-T: sizes are powers of two from min_T to max_T
  int repetitions = 9;         // --reps: at T <= 2048; fewer above (repetitions_at)
  bool flush_cache = false;    // --flush-cache: evict caches between iterations
  // --min-time=SECONDS: each repetition runs at least this long (overriding Google Benchmark's
  // --benchmark_min_time per benchmark). The repetitions carry the statistics, and the whole
  // CPU suite must stay under 15 minutes on a 2-core machine.
  double min_time = 0.1;
};
HarnessOptions& harness_options();

// Caps per family (points past them are reported with SkipWithError and the reason).
inline constexpr std::int64_t kCpuExactCap = 2048;         // gesdd: ~1 s at 2048, ~9 s at 4096
inline constexpr std::int64_t kCpuDenseCap = 16384;        // 2 GiB per float64 matrix
inline constexpr std::int64_t kRelErrCap = 2048;           // exact references for rel_err_s2
inline constexpr std::int64_t kCpuLargeKCap = 4096;        // k = 16 (2x the passes of k = 4)
inline constexpr std::int64_t kCpuSweepStepCap = 8192;     // beyond, generate + solve say it
inline constexpr std::int64_t kCpuEigenExactCap = 4096;    // geev: 3.6 s at 2048, 45-60 s at 4096
inline constexpr std::int64_t kCpuEigenArnoldiCap = 8192;  // hundreds of products per solve

// The sizes of the families: powers of two from min_T to max_T.
std::vector<std::int64_t> sizes();

// Sets how long each repetition runs: one iteration from `one_iteration_from` on (the work is
// long enough to time alone), else at least --min-time. (Google Benchmark refuses both.)
void set_iteration_policy(benchmark::internal::Benchmark* b, std::int64_t T,
                          std::int64_t one_iteration_from);

// Repetitions at T: all of --reps up to 2048, 5 up to 8192, 4 above: a U test needs 4 or more
// per side to reach p < 0.05.
int repetitions_at(std::int64_t T);

// Skips the benchmark when T is past `cap`, with `why` in the reason; true when skipped.
bool skip_past_cap(benchmark::State& state, std::int64_t T, std::int64_t cap, const char* what,
                   const char* why);

// Read-plus-write bytes per second of a large (2 x 512 MiB) multi-threaded memcpy, best of 3,
// measured once.
double cpu_copy_bandwidth();

// Evicts the CPU caches (writes a 256 MiB buffer) when --flush-cache is on; call with timing
// paused.
void flush_caches_if_asked();

// A generated dense row-major T x T matrix of `spec` (seed 0, index 0), or the --matrix file;
// one matrix is kept at a time.
template <typename Real>
const std::vector<Real>& cached_matrix(const ModelSpec& spec);

// Top-k singular values of the float64 matrix of `spec` from LAPACK gesdd, cached.
const std::vector<double>& exact_reference(const ModelSpec& spec, int k);

// Times exactly the work of each iteration (steady clock) and hands it to Google Benchmark
// (SetIterationTime; register with UseManualTime), so cache flushes and copies between
// iterations cost nothing and the mean is known for the plain counters below.
class IterationTimer {
 public:
  void start();
  void stop(benchmark::State& state);
  double mean_seconds() const { return m_count ? m_total / m_count : 0; }

 private:
  std::chrono::steady_clock::time_point m_start;
  double m_total = 0;
  std::int64_t m_count = 0;
};

// The iterations of a dense CPU solve of `options` on `a` (T x T), timed by `timer`: a solver
// that overwrites its matrix (exact) gets a fresh copy each iteration, outside the timed region.
// Returns the last result.
template <typename Real>
SolveResult time_dense_solves(benchmark::State& state, const std::vector<Real>& a, std::int64_t T,
                              const SolverOptions& options, Precision precision,
                              IterationTimer& timer) {
  std::vector<Real> work = a;
  SolveResult r;
  for (auto _ : state) {
    if (options.kind == SolverKind::kExact) std::copy(a.begin(), a.end(), work.begin());
    flush_caches_if_asked();
    timer.start();
    r = cpu::solve_dense<Real>(work.data(), T, options, precision, 0);
    timer.stop(state);
    benchmark::DoNotOptimize(r.values.data());
  }
  return r;
}

// Sets bytes_per_s, matrices_per_s and pct_of_copy_bw (of cpu_copy_bandwidth) for `bytes` and
// `matrices` per iteration of `seconds` (plain numbers, not rates: they are already per second).
void set_throughput_counters(benchmark::State& state, double bytes, double matrices,
                             double seconds);

// Sets passes_over_A, s1, s2, gap, converged and (T <= kRelErrCap) rel_err_s2.
void set_solve_counters(benchmark::State& state, const ModelSpec& spec, const SolveResult& r);

// Registers each family (called from main).
void register_cpu_generation();
void register_cpu_solvers();
void register_cpu_eigen();
void register_cpu_sweep_step();
void register_cpu_fused();
void register_cpu_propagate();
// GPU copy bandwidth and device state (phase "start": state + copy; "end": state). Skipped with
// the reason where there is no device or no CUDA build.
void register_gpu_benchmarks(const char* phase);

}  // namespace gapbench::bench
