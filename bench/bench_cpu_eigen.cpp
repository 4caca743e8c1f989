// CPU eigenvalues (--spectrum eigen): the top 4 by modulus of one dense T x T float64 matrix
// (markov, exponential entries, seed 0, index 0; or --matrix=FILE.npy).
//
// cpu/eigen/arnoldi/float64/k:4/T:<T>: restarted Arnoldi (Krylov-Schur, the solver's default
// basis, keep and tolerance, start seed 0) on the DenseOperator; it does not modify A. T <= 8192
// (kCpuEigenArnoldiCap).
// cpu/eigen/exact/float64/T:<T>: LAPACK dgeev, values only (every eigenvalue, the top 4 kept);
// it destroys A, so it gets a fresh copy each iteration outside the timed region. T <= 4096
// (kCpuEigenExactCap), one repetition above 2048 (about a minute each at 4096 on 2 cores).
// Not timed: generating the matrix (cached across benchmarks), the copy for geev, the geev
// reference of the arnoldi counters (computed once per matrix, or taken from the exact
// benchmark's own result when that ran first on the same matrix), cache flushes.
// Counters: bytes_per_s and pct_of_copy_bw (passes x 8 T^2 bytes of A read per second; 1 pass
// for exact), matrices_per_s, passes_over_A (products with A; 0 for exact), lambda1 (real part),
// abs_lambda2, converged; arnoldi at T <= kCpuEigenExactCap, against geev of the same matrix:
// top4_set_match (1 when each of geev's 4 largest eigenvalues, complex, has a returned value
// within kTop4MatchTol |lambda1|), max_abs_err (the largest of those distances over |lambda1|),
// max_rel_err (the largest relative error of the 4 largest moduli) and rel_err_abs_lambda2
// (| |lambda2| - |lambda2_geev| | / |lambda2_geev|).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "gapbench/cpu/cpu_device.hpp"
#include "harness.hpp"

namespace gapbench::bench {
namespace {

constexpr int kEigenK = 4;
// The test of "the same top-4 set": each of geev's top 4 found within 1e-8 |lambda1|,
// the scale of arnoldi's own test (|A x - lambda x| <= 1e-8 s1, s1 ~ |lambda1| = 1 here) and
// test_arnoldi's tolerance; neighbouring edge eigenvalues lie ~1e-4 to 1e-3 apart, so a value
// from the wrong place fails it. (Until 2026-12-05 this compared moduli to 1e-8 relative to
// each, 60x stricter than the solver's tolerance at |lambda| ~ 0.016; max_rel_err keeps that.)
constexpr double kTop4MatchTol = 1e-8;

ModelSpec eigen_model(std::int64_t T) {
  ModelSpec spec;  // markov, exponential entries: c = 1, |lambda2| ~ 1/sqrt(T)
  spec.T = T;
  return spec;
}

// Moduli of the top k eigenvalues of r (by modulus, descending, as SolveResult orders them).
std::vector<double> top_moduli(const SolveResult& r, int k) {
  std::vector<double> out;
  for (std::size_t i = 0; i < r.values.size() && static_cast<int>(out.size()) < k; ++i) {
    out.push_back(std::hypot(r.values[i], r.values_im.empty() ? 0.0 : r.values_im[i]));
  }
  return out;
}

// geev's top eigenvalues of each matrix, by its description (the --matrix file or the spec).
std::map<std::string, SolveResult>& reference_cache() {
  static std::map<std::string, SolveResult> cache;
  return cache;
}
std::string reference_key(const ModelSpec& spec) {
  return describe(spec) + " " + harness_options().matrix_path;
}

const SolveResult& geev_reference(const ModelSpec& spec) {
  auto& cache = reference_cache();
  const auto it = cache.find(reference_key(spec));
  if (it != cache.end()) return it->second;
  std::vector<double> a = cached_matrix<double>(spec);  // geev destroys its input
  SolverOptions options;
  options.kind = SolverKind::kExact;
  options.spectrum = Spectrum::kEigen;
  options.k = kEigenK;
  return cache
      .emplace(reference_key(spec),
               cpu::solve_dense<double>(a.data(), spec.T, options, Precision::kFloat64, 0))
      .first->second;
}

void set_eigen_counters(benchmark::State& state, const SolveResult& r) {
  state.counters["passes_over_A"] = static_cast<double>(r.passes);
  state.counters["lambda1"] = r.values.at(0);
  const std::vector<double> moduli = top_moduli(r, 2);
  if (moduli.size() > 1) state.counters["abs_lambda2"] = moduli[1];
  state.counters["converged"] = r.converged ? 1 : 0;
}

void set_reference_counters(benchmark::State& state, const ModelSpec& spec, const SolveResult& r) {
  const SolveResult& reference = geev_reference(spec);
  const std::vector<double> ref = top_moduli(reference, kEigenK);
  const std::vector<double> got = top_moduli(r, kEigenK);
  double max_err = got.size() == ref.size() ? 0.0 : 1.0;
  for (std::size_t i = 0; i < std::min(ref.size(), got.size()); ++i) {
    max_err = std::max(max_err, std::abs(got[i] - ref[i]) / ref[i]);
  }
  const auto im = [](const SolveResult& s, std::size_t i) {
    return s.values_im.empty() ? 0.0 : s.values_im[i];
  };
  double max_abs = ref.size() == static_cast<std::size_t>(kEigenK) ? 0.0 : 1.0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    double nearest = INFINITY;
    for (std::size_t j = 0; j < r.values.size(); ++j) {
      // A is real: a value or its conjugate (a pair is returned whole, so both are there).
      const double dr = r.values[j] - reference.values[i];
      nearest = std::min({nearest, std::hypot(dr, im(r, j) - im(reference, i)),
                          std::hypot(dr, -im(r, j) - im(reference, i))});
    }
    max_abs = std::max(max_abs, nearest / ref[0]);
  }
  state.counters["top4_set_match"] = max_abs <= kTop4MatchTol ? 1 : 0;
  state.counters["max_abs_err"] = max_abs;
  state.counters["max_rel_err"] = max_err;
  if (got.size() > 1 && ref.size() > 1) {
    state.counters["rel_err_abs_lambda2"] = std::abs(got[1] - ref[1]) / ref[1];
  }
}

void bm_eigen(benchmark::State& state, std::int64_t T, SolverKind kind) {
  if (skip_past_cap(state, T, kCpuEigenArnoldiCap, "CPU eigen",
                    "hundreds of products at 80 ms each at 16384; kept out to hold the suite "
                    "under 15 min")) {
    return;
  }
  if (kind == SolverKind::kExact &&
      skip_past_cap(state, T, kCpuEigenExactCap, "CPU eigen exact",
                    "geev takes about a minute at 4096, growing as T^3")) {
    return;
  }
  const ModelSpec spec = eigen_model(T);
  const std::vector<double>& a = cached_matrix<double>(spec);
  SolverOptions options;
  options.kind = kind;
  options.k = kEigenK;
  options.spectrum = Spectrum::kEigen;
  IterationTimer timer;
  const SolveResult r = time_dense_solves(state, a, T, options, Precision::kFloat64, timer);
  const double passes = kind == SolverKind::kExact ? 1.0 : static_cast<double>(r.passes);
  set_throughput_counters(state, passes * sizeof(double) * static_cast<double>(T) * T, 1,
                          timer.mean_seconds());
  set_eigen_counters(state, r);
  if (kind == SolverKind::kExact) {
    // The same computation as the reference: keep it, so arnoldi on this matrix needs no
    // second geev.
    reference_cache().emplace(reference_key(spec), r);
  } else if (T <= kCpuEigenExactCap) {
    set_reference_counters(state, spec, r);
  }
}

}  // namespace

void register_cpu_eigen() {
  for (const std::int64_t T : sizes()) {
    const int reps = repetitions_at(T);
    // exact first: its result then serves as the reference of arnoldi's counters.
    for (const SolverKind kind : {SolverKind::kExact, SolverKind::kArnoldi}) {
      const std::string name = kind == SolverKind::kExact
                                   ? fmt::format("cpu/eigen/exact/float64/T:{}", T)
                                   : fmt::format("cpu/eigen/arnoldi/float64/k:{}/T:{}", kEigenK, T);
      auto* b = benchmark::RegisterBenchmark(name.c_str(), bm_eigen, T, kind);
      const bool long_geev = kind == SolverKind::kExact && T > kCpuExactCap;
      b->UseManualTime()->Unit(benchmark::kMillisecond)->Repetitions(long_geev ? 1 : reps);
      set_iteration_policy(b, T, 2048);
    }
  }
}

}  // namespace gapbench::bench
