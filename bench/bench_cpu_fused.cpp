// The CPU matrix-free (fused) operator on the attention model (gaussian inputs, d = dk = 64,
// seed 0, index 0), which regenerates every tile of A in every product (fused_operator.hpp).
//
// cpu/fused/pass/attention/<precision>/b:<b>/T:<T>: one product Y = A X with b = 1 or 8 vectors.
//   Floors, measured once per (precision, T) in the same run and on the same threads: the
//   logits GEMMs alone (Q_I K_J^T tile by tile, 2 T^2 dk flops: gemm_floor_s) and T^2
//   exponentials (exp_floor_s); they share the cores, so x_floor = time / (their sum). A dense
//   pass over a stored matrix is far cheaper (cpu/pass) but needs 8 T^2 bytes.
// cpu/fused/solve/attention/lanczos/<precision>/k:4/T:<T>: the top 4 through the fused operator
//   (block 8), including its row-statistics pass; rel_err_s2 against LAPACK where T <= 2048.
// Not timed: building Q and K, the floors, the references.
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "gapbench/cpu/blas.hpp"
#include "gapbench/cpu/cpu_device.hpp"
#include "gapbench/cpu/fused_operator.hpp"
#include "gapbench/cpu/generate.hpp"
#include "gapbench/solvers/iterative.hpp"
#include "harness.hpp"

namespace gapbench::bench {
namespace {

// Past these the fused pass takes seconds (0.8 s at 16384 in float64 on 2 cores) and the solve
// tens of seconds: scripts/bench-fused-cpu.sh measures T = 16384 end to end instead.
constexpr std::int64_t kFusedPassCap = 16384;
constexpr std::int64_t kFusedSolveCap = 4096;

ModelSpec fused_model(std::int64_t T) {
  ModelSpec spec;
  spec.kind = ModelKind::kAttention;
  spec.T = T;
  spec.d = spec.dk = 64;
  return spec;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Best of 3 of the two floors of a fused product at T.
template <typename Real>
std::pair<double, double> fused_floors(std::int64_t T) {
  static std::map<std::pair<std::int64_t, int>, std::pair<double, double>> cache;
  const auto key = std::make_pair(T, static_cast<int>(sizeof(Real)));
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  constexpr std::int64_t kRows = 128, kCols = 512, kDk = 64;
  const auto f = cpu::attention_factors<Real>(fused_model(T), 0, 0);
  double gemm = 1e30, exps = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    {
      const cpu::SerialBlas serial;
#pragma omp parallel
      {
        std::vector<Real> tile(kRows * kCols);
#pragma omp for schedule(dynamic)
        for (std::int64_t i0 = 0; i0 < T; i0 += kRows) {
          for (std::int64_t j0 = 0; j0 < T; j0 += kCols) {
            const std::int64_t ni = std::min(kRows, T - i0), nj = std::min(kCols, T - j0);
            cpu::blas::gemm(CblasRowMajor, CblasNoTrans, CblasTrans, ni, nj, kDk, Real(1),
                            f.queries.data() + i0 * kDk, kDk, f.keys.data() + j0 * kDk, kDk,
                            Real(0), tile.data(), nj);
          }
        }
      }
    }
    gemm = std::min(gemm, seconds_since(t0));
    // T^2 exponentials of a tile row into a buffer, as the product computes them.
    t0 = std::chrono::steady_clock::now();
#pragma omp parallel
    {
      std::vector<Real> in(kCols), out(kCols);
      for (std::int64_t c = 0; c < kCols; ++c) in[c] = static_cast<Real>(-0.01 * (c % 300));
#pragma omp for schedule(static)
      for (std::int64_t i = 0; i < T; ++i) {
        for (std::int64_t j0 = 0; j0 < T; j0 += kCols) {
          const std::int64_t nj = std::min(kCols, T - j0);
          for (std::int64_t c = 0; c < nj; ++c) out[c] = std::exp(in[c]);
          benchmark::DoNotOptimize(out.data());
        }
      }
    }
    exps = std::min(exps, seconds_since(t0));
  }
  return cache[key] = {gemm, exps};
}

template <typename Real>
void bm_fused_pass(benchmark::State& state, std::int64_t T, std::int64_t b) {
  if (skip_past_cap(state, T, kFusedPassCap, "CPU fused pass",
                    "a product regenerates T^2 entries: ~13 s at 65536")) {
    return;
  }
  const auto op = cpu::FusedOperator<Real>::from_model(fused_model(T), 0, 0);
  std::vector<Real> x(static_cast<std::size_t>(T * b), Real(1)), y(x.size());
  IterationTimer timer;
  for (auto _ : state) {
    timer.start();
    op.apply({x.data(), T, b, T}, {y.data(), T, b, T});
    timer.stop(state);
    benchmark::DoNotOptimize(y.data());
  }
  const auto [gemm, exps] = fused_floors<Real>(T);
  state.counters["gemm_floor_s"] = gemm;
  state.counters["exp_floor_s"] = exps;
  state.counters["x_floor"] = timer.mean_seconds() / (gemm + exps);
  state.counters["operator_bytes"] = static_cast<double>(op.bytes());
}

template <typename Real>
void bm_fused_solve(benchmark::State& state, std::int64_t T) {
  if (skip_past_cap(state, T, kFusedSolveCap, "CPU fused solve",
                    "tens of seconds past it; scripts/bench-fused-cpu.sh times T = 16384")) {
    return;
  }
  const ModelSpec spec = fused_model(T);
  const Precision precision = sizeof(Real) == 8 ? Precision::kFloat64 : Precision::kFloat32;
  SolverOptions options;
  options.kind = SolverKind::kLanczos;
  SolveResult r;
  IterationTimer timer;
  for (auto _ : state) {
    timer.start();
    const auto op = cpu::FusedOperator<Real>::from_model(spec, 0, 0);
    cpu::HostBlockOps<Real> ops;
    r = solve_iterative<Real>(op, ops, options, precision, 0, cpu::kFusedLanczosBlock);
    timer.stop(state);
    benchmark::DoNotOptimize(r.values.data());
  }
  state.counters["matrices_per_s"] = 1.0 / timer.mean_seconds();
  set_solve_counters(state, spec, r);
}

}  // namespace

void register_cpu_fused() {
  for (const std::int64_t T : sizes()) {
    const int reps = repetitions_at(T);
    for (const Precision p : {Precision::kFloat64, Precision::kFloat32}) {
      for (const std::int64_t b : {1, 8}) {
        const std::string name =
            fmt::format("cpu/fused/pass/attention/{}/b:{}/T:{}", to_string(p), b, T);
        auto* bm = p == Precision::kFloat64
                       ? benchmark::RegisterBenchmark(name.c_str(), bm_fused_pass<double>, T, b)
                       : benchmark::RegisterBenchmark(name.c_str(), bm_fused_pass<float>, T, b);
        bm->UseManualTime()->Unit(benchmark::kMillisecond)->Repetitions(reps);
        set_iteration_policy(bm, T, 4096);
      }
      const std::string name =
          fmt::format("cpu/fused/solve/attention/lanczos/{}/k:4/T:{}", to_string(p), T);
      auto* bm = p == Precision::kFloat64
                     ? benchmark::RegisterBenchmark(name.c_str(), bm_fused_solve<double>, T)
                     : benchmark::RegisterBenchmark(name.c_str(), bm_fused_solve<float>, T);
      bm->UseManualTime()->Unit(benchmark::kMillisecond)->Repetitions(reps);
      set_iteration_policy(bm, T, 1024);
    }
  }
}

}  // namespace gapbench::bench
