#include "harness.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <type_traits>

#include "gapbench/cpu/cpu_device.hpp"
#include "gapbench/cpu/generate.hpp"
#include "gapbench/npy.hpp"

namespace gapbench::bench {

HarnessOptions& harness_options() {
  static HarnessOptions options;
  return options;
}

std::vector<std::int64_t> sizes() {
  std::vector<std::int64_t> out;
  for (std::int64_t T = harness_options().min_T; T <= harness_options().max_T; T *= 2) {
    out.push_back(T);
  }
  return out;
}

int repetitions_at(std::int64_t T) {
  const int reps = harness_options().repetitions;
  if (T <= 2048) return reps;
  return std::min(reps, T <= 8192 ? 5 : 4);
}

void set_iteration_policy(benchmark::internal::Benchmark* b, std::int64_t T,
                          std::int64_t one_iteration_from) {
  if (T >= one_iteration_from) {
    b->Iterations(1);
  } else {
    b->MinTime(harness_options().min_time);
  }
}

bool skip_past_cap(benchmark::State& state, std::int64_t T, std::int64_t cap, const char* what,
                   const char* why) {
  if (T <= cap) return false;
  state.SkipWithError(
      fmt::format("T = {} is past the {} cap of {}: {}", T, what, cap, why).c_str());
  return true;
}

double cpu_copy_bandwidth() {
  static const double bandwidth = [] {
    constexpr std::size_t kBytes = std::size_t{512} << 20;
    std::vector<char> src(kBytes, 1), dst(kBytes, 0);
    double best = 0;
    for (int trial = 0; trial < 3; ++trial) {
      const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel
      {
        const std::size_t threads = static_cast<std::size_t>(omp_get_num_threads());
        const std::size_t chunk = (kBytes + threads - 1) / threads;
        const std::size_t first = chunk * static_cast<std::size_t>(omp_get_thread_num());
        if (first < kBytes) {
          std::memcpy(dst.data() + first, src.data() + first, std::min(chunk, kBytes - first));
        }
      }
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, 2.0 * static_cast<double>(kBytes) / s);
      benchmark::DoNotOptimize(dst.data());
    }
    return best;
  }();
  return bandwidth;
}

void flush_caches_if_asked() {
  if (!harness_options().flush_cache) return;
  static std::vector<char> buffer(std::size_t{256} << 20);
  static char value = 0;
  std::memset(buffer.data(), ++value, buffer.size());
  benchmark::ClobberMemory();
}

namespace {

std::string cache_key(const ModelSpec& spec) { return describe(spec); }

// The one cached matrix: its key and its storage in either precision (one template-free place,
// so that both instantiations of cached_matrix see the same state).
struct MatrixCache {
  std::string key;
  bool is_double = false;
  std::vector<float> f32;
  std::vector<double> f64;
};
MatrixCache& matrix_cache() {
  static MatrixCache cache;
  return cache;
}

template <typename Real>
std::vector<Real>& slot_of(MatrixCache& cache) {
  if constexpr (std::is_same_v<Real, double>) {
    return cache.f64;
  } else {
    return cache.f32;
  }
}

}  // namespace

template <typename Real>
const std::vector<Real>& cached_matrix(const ModelSpec& spec) {
  MatrixCache& cache = matrix_cache();
  constexpr bool kDouble = std::is_same_v<Real, double>;
  const std::string wanted = cache_key(spec);
  std::vector<Real>& slot = slot_of<Real>(cache);
  if (cache.key == wanted && cache.is_double == kDouble) return slot;
  // One matrix at a time, in either precision: the largest are 2 GiB.
  std::vector<float>().swap(cache.f32);
  std::vector<double>().swap(cache.f64);
  cache.key.clear();
  const std::string& path = harness_options().matrix_path;
  if (!path.empty()) {
    std::int64_t rows = 0, cols = 0;
    const std::vector<double> loaded = read_npy_matrix<double>(path, rows, cols);
    slot.assign(loaded.begin(), loaded.end());
  } else {
    slot = cpu::generate_dense<Real>(spec, 0, 0);
  }
  cache.key = wanted;
  cache.is_double = kDouble;
  return slot;
}

template const std::vector<float>& cached_matrix<float>(const ModelSpec&);
template const std::vector<double>& cached_matrix<double>(const ModelSpec&);

const std::vector<double>& exact_reference(const ModelSpec& spec, int k) {
  static std::map<std::string, std::vector<double>> cache;
  const std::string key = fmt::format("{} k={}", cache_key(spec), k);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  std::vector<double> a = harness_options().matrix_path.empty()
                              ? cpu::generate_dense<double>(spec, 0, 0)
                              : cached_matrix<double>(spec);
  const SolveResult r = cpu::exact_singular_values<double>(a.data(), spec.T, spec.T, k, false);
  return cache.emplace(key, r.values).first->second;
}

void IterationTimer::start() { m_start = std::chrono::steady_clock::now(); }

void IterationTimer::stop(benchmark::State& state) {
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
  state.SetIterationTime(s);
  m_total += s;
  ++m_count;
}

void set_throughput_counters(benchmark::State& state, double bytes, double matrices,
                             double seconds) {
  if (seconds <= 0) return;
  state.counters["bytes_per_s"] = bytes / seconds;
  if (matrices > 0) state.counters["matrices_per_s"] = matrices / seconds;
  state.counters["pct_of_copy_bw"] = 100.0 * bytes / seconds / cpu_copy_bandwidth();
}

void set_solve_counters(benchmark::State& state, const ModelSpec& spec, const SolveResult& r) {
  state.counters["passes_over_A"] = static_cast<double>(r.passes);
  state.counters["s1"] = r.values.at(0);
  if (r.values.size() > 1) {
    state.counters["s2"] = r.values[1];
    state.counters["gap"] = r.values[0] - r.values[1];
  }
  state.counters["converged"] = r.converged ? 1 : 0;
  if (spec.T <= kRelErrCap && r.values.size() > 1) {
    const std::vector<double>& ref = exact_reference(spec, 2);
    state.counters["rel_err_s2"] = std::abs(r.values[1] - ref[1]) / ref[1];
  }
}

}  // namespace gapbench::bench
