// Signal propagation's layer passes (propagate.hpp, LayerPasses) at T = d = d_k: the forward pass
// of one layer and one probe's reverse-mode pass through it, side by side with the GEMM that
// bounds both.
//
//   cpu/propagate/forward/<net>/T:<T>    one layer forward (generation, products, skip,
//                                        LayerNorm, rescaling, kept for the backward pass)
//   cpu/propagate/backward/<net>/T:<T>   one probe's backward pass through that layer (the
//                                        cotangents of W_V and of the layer's input)
//   cpu/propagate/gemm/T:<T>             one T x T x T float64 GEMM through the same stage
// with <net> markov_plain (A_l a random Markov matrix) or attention_skip_ln (A(X), skip,
// LayerNorm, Xavier-normal W_Q, W_K: the reproduction's network). Counters: gemm_equivalents
// (the pass's GEMM flops over 2 T^3: markov 2 forward, 3 backward; attention 7 and 8) and
// gflop_per_s over those flops; the floor of a pass is gemm_equivalents times the gemm row's
// time. The target: backward within 3x of forward at T = d = 1024.
#include <fmt/format.h>

#include "gapbench/cpu/cpu_device.hpp"
#include "gapbench/propagate/propagate.hpp"
#include "harness.hpp"

namespace gapbench::bench {
namespace {

inline constexpr std::int64_t kCpuPropagateCap = 1024;  // 7 GEMMs of T^3: 1 s per pass at 1024

propagate::PropagateOptions network(bool attention, std::int64_t T) {
  propagate::PropagateOptions o;
  o.T = T;
  o.d = T;
  o.L = 1;
  if (attention) {
    o.source = propagate::AttentionSource::kAttention;
    o.variant = propagate::Variant::kSkip;
    o.layernorm = true;
    o.init = WeightInit::kXavierNormal;
  }
  return o;
}

Device& cpu_device() {
  static const std::unique_ptr<Device> device = cpu::make_cpu_device(0);
  return *device;
}

void set_flop_counters(benchmark::State& state, double gemms, std::int64_t T, double seconds) {
  const double flops = gemms * 2.0 * static_cast<double>(T) * T * T;
  state.counters["gemm_equivalents"] = gemms;
  state.counters["gflop_per_s"] = seconds > 0 ? flops / seconds / 1e9 : 0;
}

void bm_layer(benchmark::State& state, bool attention, bool backward, std::int64_t T) {
  if (skip_past_cap(state, T, kCpuPropagateCap, "CPU propagate layer",
                    "a layer is 7-8 GEMMs of T^3 (seconds each past 1024)")) {
    return;
  }
  propagate::LayerPasses passes(cpu_device(), network(attention, T));
  IterationTimer timer;
  for (auto _ : state) {
    flush_caches_if_asked();
    timer.start();
    if (backward) {
      passes.backward();
    } else {
      passes.forward();
    }
    timer.stop(state);
  }
  const double gemms = attention ? (backward ? 8 : 7) : (backward ? 3 : 2);
  set_flop_counters(state, gemms, T, timer.mean_seconds());
}

void bm_gemm(benchmark::State& state, std::int64_t T) {
  if (skip_past_cap(state, T, kCpuPropagateCap, "CPU propagate gemm", "the layers stop there")) {
    return;
  }
  Stages<double>& st = cpu_device().stages<double>();
  Matrix<double> a = st.allocate(T, T), b = st.allocate(T, T), c = st.allocate(T, T);
  st.fill_gaussian(a, Stream::kInputs, 1.0, 0, 0);
  st.fill_gaussian(b, Stream::kValueWeights, 1.0, 0, 0);
  IterationTimer timer;
  for (auto _ : state) {
    flush_caches_if_asked();
    timer.start();
    st.gemm(a, b, false, c);
    timer.stop(state);
    benchmark::DoNotOptimize(c.data());
  }
  set_flop_counters(state, 1, T, timer.mean_seconds());
}

}  // namespace

void register_cpu_propagate() {
  for (const std::int64_t T : sizes()) {
    if (T > kCpuPropagateCap) continue;
    for (const bool attention : {false, true}) {
      for (const bool backward : {false, true}) {
        auto* b = benchmark::RegisterBenchmark(
            fmt::format("cpu/propagate/{}/{}/T:{}", backward ? "backward" : "forward",
                        attention ? "attention_skip_ln" : "markov_plain", T)
                .c_str(),
            bm_layer, attention, backward, T);
        b->UseManualTime()->Unit(benchmark::kMillisecond)->Repetitions(repetitions_at(T));
        set_iteration_policy(b, T, 1024);
      }
    }
    auto* g = benchmark::RegisterBenchmark(fmt::format("cpu/propagate/gemm/T:{}", T).c_str(),
                                           bm_gemm, T);
    g->UseManualTime()->Unit(benchmark::kMillisecond)->Repetitions(repetitions_at(T));
    set_iteration_policy(g, T, 1024);
  }
}

}  // namespace gapbench::bench
