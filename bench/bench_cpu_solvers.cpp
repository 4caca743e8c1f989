// CPU solver benchmarks: top-4 singular values of a dense float64 T x T matrix.
//
// Timed: the solve alone (lanczos on the dense OpenBLAS operator; exact = LAPACK dgesdd values
// only, including the copy of A it destroys, which is below 1% of its time). Not timed:
// generating or loading the matrix, the exact reference used for the error counters.
// BM_cpu_pass times one product y = A x (OpenBLAS dgemv), the floor of every Lanczos step: a
// pass reads 8 T^2 bytes.
// Counters: passes_over_A (products with A or A^T), s_per_pass (solve time / passes),
// bytes_per_s (pass), s1, s2, converged, rel_err_s2 and max_rel_err (against dgesdd, top 4).
// Wall-clock time (UseRealTime): OpenBLAS runs threads of its own.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "bench_common.hpp"
#include "gapbench/cpu/cpu_backend.hpp"
#include "gapbench/cpu/generate.hpp"
#include "gapbench/npy.hpp"

namespace gapbench::bench {

HarnessOptions& harness_options() {
  static HarnessOptions options;
  return options;
}

const BenchMatrix& bench_matrix(std::int64_t T) {
  static std::map<std::int64_t, BenchMatrix> cache;
  const std::string& path = harness_options().matrix_path;
  if (!path.empty()) T = 0;  // one loaded matrix, whatever T is asked
  auto it = cache.find(T);
  if (it != cache.end()) return it->second;
  BenchMatrix m;
  if (!path.empty()) {
    std::int64_t rows = 0, cols = 0;
    m.a = read_npy_matrix<double>(path, rows, cols);
    m.T = rows;
    m.source = path;
  } else {
    ModelSpec spec;
    spec.T = T;
    m.a = cpu::generate_dense<double>(spec, 0, 0);
    m.T = T;
    m.source = fmt::format("generated markov exponential T={} seed=0 index=0", T);
  }
  return cache.emplace(T, std::move(m)).first->second;
}

const std::vector<double>& exact_top4(std::int64_t T) {
  static std::map<std::int64_t, std::vector<double>> cache;
  T = bench_matrix(T).T;
  auto it = cache.find(T);
  if (it != cache.end()) return it->second;
  std::vector<double> copy = bench_matrix(T).a;  // gesdd destroys its input
  const SolveResult r = cpu::exact_singular_values<double>(copy.data(), T, T, 4, false);
  return cache.emplace(T, r.values).first->second;
}

namespace {

void report_accuracy(benchmark::State& state, const SolveResult& r, std::int64_t T) {
  const std::vector<double>& ref = exact_top4(T);
  double worst = 0;
  for (int i = 0; i < 4; ++i) worst = std::max(worst, std::abs(r.values[i] - ref[i]) / ref[i]);
  state.counters["s1"] = r.values[0];
  state.counters["s2"] = r.values[1];
  state.counters["rel_err_s2"] = std::abs(r.values[1] - ref[1]) / ref[1];
  state.counters["max_rel_err"] = worst;
}

void bm_cpu_pass(benchmark::State& state, std::int64_t T) {
  const BenchMatrix& m = bench_matrix(T);
  cpu::DenseOperator<double> op(m.a.data(), T, T);
  std::vector<double> x(static_cast<std::size_t>(T), 1.0), y(x.size());
  for (auto _ : state) {
    op.apply({x.data(), T, 1, T}, {y.data(), T, 1, T});
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["bytes_per_s"] =
      benchmark::Counter(8.0 * static_cast<double>(T) * static_cast<double>(T),
                         benchmark::Counter::kIsIterationInvariantRate);
}

void bm_cpu_lanczos(benchmark::State& state, std::int64_t T, double tol) {
  const BenchMatrix& m = bench_matrix(T);
  SolverOptions options;
  options.kind = SolverKind::kLanczos;
  options.k = 4;
  options.tol = tol;
  std::vector<double> a = m.a;  // solve_dense does not modify A for lanczos
  SolveResult r;
  for (auto _ : state) {
    r = cpu::solve_dense<double>(a.data(), T, options, Precision::kFloat64, 0);
    benchmark::DoNotOptimize(r.values.data());
  }
  state.counters["passes_over_A"] = static_cast<double>(r.passes);
  state.counters["converged"] = r.converged ? 1 : 0;
  state.counters["tol"] = tol;
  state.counters["s_per_pass"] = benchmark::Counter(
      static_cast<double>(r.passes),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  report_accuracy(state, r, T);
}

void bm_cpu_exact(benchmark::State& state, std::int64_t T) {
  const BenchMatrix& m = bench_matrix(T);
  std::vector<double> a(m.a.size());
  SolveResult r;
  for (auto _ : state) {
    std::copy(m.a.begin(), m.a.end(), a.begin());
    r = cpu::exact_singular_values<double>(a.data(), T, T, 4, false);
    benchmark::DoNotOptimize(r.values.data());
  }
  report_accuracy(state, r, T);
}

}  // namespace

void register_cpu_solver_benchmarks() {
  std::vector<std::int64_t> sizes = harness_options().sizes;
  if (!harness_options().matrix_path.empty()) sizes = {bench_matrix(0).T};
  for (const std::int64_t T : sizes) {
    benchmark::RegisterBenchmark(fmt::format("cpu/pass/T:{}", T).c_str(), bm_cpu_pass, T)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    for (const double tol : {1e-6, 1e-8, 1e-10}) {
      benchmark::RegisterBenchmark(fmt::format("cpu/lanczos/k:4/tol:{:g}/T:{}", tol, T).c_str(),
                                   bm_cpu_lanczos, T, tol)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
    auto* exact =
        benchmark::RegisterBenchmark(fmt::format("cpu/exact/T:{}", T).c_str(), bm_cpu_exact, T)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
    if (T >= 2048) exact->Iterations(1);  // seconds per solve: one is enough
  }
}

}  // namespace gapbench::bench
