// CPU products and solvers on one dense T x T matrix (markov, exponential entries, seed 0,
// index 0; or --matrix=FILE.npy).
//
// cpu/pass: one product y = A x (apply) or y = A^T x (apply_transpose), OpenBLAS GEMV: the floor
// of a Lanczos step, which reads A once (sizeof(Real) T^2 bytes).
// cpu/solve: the top k singular values. lanczos (the default tolerance of the precision) does not
// modify A; exact (LAPACK gesdd, values only; T <= 2048) destroys it, so it gets a fresh copy
// each iteration outside the timed region.
// Not timed: generating the matrix (cached across benchmarks), the exact reference used for
// rel_err_s2, cache flushes. Counters: bytes_per_s and pct_of_copy_bw (bytes of A read, i.e.
// passes x sizeof(Real) T^2, per second), matrices_per_s, passes_over_A, s1, s2, gap, converged,
// rel_err_s2 (T <= 2048).
#include <fmt/format.h>

#include <limits>

#include "gapbench/cpu/cpu_device.hpp"
#include "harness.hpp"

namespace gapbench::bench {
namespace {

ModelSpec solver_model(std::int64_t T) {
  ModelSpec spec;  // markov, exponential entries: c = 1, where theory is sharp
  spec.T = T;
  return spec;
}

bool skip_past_dense_cap(benchmark::State& state, std::int64_t T) {
  return skip_past_cap(
      state, T, kCpuDenseCap, "CPU dense",
      "a float64 matrix is 8 T^2 bytes; the fused operator (issue 7) goes further");
}

template <typename Real>
void bm_pass(benchmark::State& state, std::int64_t T, bool transpose) {
  if (skip_past_dense_cap(state, T)) return;
  const std::vector<Real>& a = cached_matrix<Real>(solver_model(T));
  cpu::DenseOperator<Real> op(a.data(), T, T);
  std::vector<Real> x(static_cast<std::size_t>(T), Real(1)), y(x.size());
  IterationTimer timer;
  for (auto _ : state) {
    flush_caches_if_asked();
    timer.start();
    if (transpose) {
      op.apply_transpose({x.data(), T, 1, T}, {y.data(), T, 1, T});
    } else {
      op.apply({x.data(), T, 1, T}, {y.data(), T, 1, T});
    }
    timer.stop(state);
    benchmark::DoNotOptimize(y.data());
  }
  set_throughput_counters(state, sizeof(Real) * static_cast<double>(T) * T, 0,
                          timer.mean_seconds());
}

template <typename Real>
void bm_solve(benchmark::State& state, std::int64_t T, SolverKind kind, int k) {
  if (skip_past_dense_cap(state, T)) return;
  if (kind == SolverKind::kExact && skip_past_cap(state, T, kCpuExactCap, "CPU exact",
                                                  "gesdd takes ~9 s at 4096, growing as T^3")) {
    return;
  }
  if (k > 4 &&
      skip_past_cap(state, T, kCpuLargeKCap, "CPU k = 16",
                    "twice the passes of k = 4; kept out to hold the suite under 15 min")) {
    return;
  }
  const ModelSpec spec = solver_model(T);
  const Precision precision = sizeof(Real) == 8 ? Precision::kFloat64 : Precision::kFloat32;
  const std::vector<Real>& a = cached_matrix<Real>(spec);
  SolverOptions options;
  options.kind = kind;
  options.k = k;
  IterationTimer timer;
  const SolveResult r = time_dense_solves(state, a, T, options, precision, timer);
  const double passes = kind == SolverKind::kLanczos ? static_cast<double>(r.passes) : 1.0;
  set_throughput_counters(state, passes * sizeof(Real) * static_cast<double>(T) * T, 1,
                          timer.mean_seconds());
  set_solve_counters(state, spec, r);
}

}  // namespace

void register_cpu_solvers() {
  for (const std::int64_t T : sizes()) {
    const int reps = repetitions_at(T);
    for (const bool transpose : {false, true}) {
      const char* side = transpose ? "apply_transpose" : "apply";
      for (const Precision p : {Precision::kFloat64, Precision::kFloat32}) {
        const std::string name = fmt::format("cpu/pass/{}/{}/T:{}", side, to_string(p), T);
        auto* b = p == Precision::kFloat64
                      ? benchmark::RegisterBenchmark(name.c_str(), bm_pass<double>, T, transpose)
                      : benchmark::RegisterBenchmark(name.c_str(), bm_pass<float>, T, transpose);
        b->UseManualTime()->Unit(benchmark::kMillisecond)->Repetitions(reps);
        set_iteration_policy(b, T, std::numeric_limits<std::int64_t>::max());  // ms per pass
      }
    }
    struct SolveCase {
      SolverKind kind;
      int k;
    };
    for (const SolveCase c :
         {SolveCase{SolverKind::kLanczos, 4}, SolveCase{SolverKind::kLanczos, 16},
          SolveCase{SolverKind::kExact, 4}}) {
      for (const Precision p : {Precision::kFloat64, Precision::kFloat32}) {
        const std::string name =
            fmt::format("cpu/solve/{}/{}/k:{}/T:{}", to_string(c.kind), to_string(p), c.k, T);
        auto* b = p == Precision::kFloat64
                      ? benchmark::RegisterBenchmark(name.c_str(), bm_solve<double>, T, c.kind, c.k)
                      : benchmark::RegisterBenchmark(name.c_str(), bm_solve<float>, T, c.kind, c.k);
        b->UseManualTime()->Unit(benchmark::kMillisecond)->Repetitions(reps);
        set_iteration_policy(b, T, 2048);
      }
    }
  }
}

}  // namespace gapbench::bench
