// CPU generation: model x T x batch x precision.
//
// Timed: generating `batch` dense T x T matrices (indices 0 .. batch-1) into one strided
// allocation, rows normalised and Frobenius sums taken, with OpenMP over rows and OpenBLAS for
// the attention logits. Not timed: allocating the buffer (done once, before the loop), cache
// flushes. Counters: matrices_per_s; bytes_per_s (bytes of the matrices written); pct_of_copy_bw
// (of the read+write bandwidth of a large memcpy). The memory floor of generation is writing the
// matrices once; on the CPU the Philox draws and log/exp per entry bind instead, which
// pct_of_copy_bw makes plain.
#include <fmt/format.h>

#include "gapbench/cpu/generate.hpp"
#include "harness.hpp"

namespace gapbench::bench {
namespace {

struct GenerationCase {
  const char* name;
  ModelSpec spec;
};

std::vector<GenerationCase> generation_cases() {
  ModelSpec exponential;
  ModelSpec lognormal;
  lognormal.law = EntryLaw::kLognormal;
  lognormal.beta = 1.0;
  ModelSpec attention;
  attention.kind = ModelKind::kAttention;
  attention.d = 64;
  attention.dk = 64;
  return {{"markov_exponential", exponential},
          {"markov_lognormal_b1", lognormal},
          {"attention_gaussian_d64", attention}};
}

template <typename Real>
void bm_generate(benchmark::State& state, ModelSpec spec, std::int64_t T, int batch) {
  spec.T = T;
  if (skip_past_cap(
          state, T, kCpuDenseCap, "CPU dense",
          "a matrix is sizeof(Real) T^2 bytes; the fused operator (issue 7) goes further")) {
    return;
  }
  const std::size_t per = static_cast<std::size_t>(T * T);
  std::vector<Real> buffer(per * static_cast<std::size_t>(batch));
  IterationTimer timer;
  for (auto _ : state) {
    flush_caches_if_asked();
    timer.start();
    for (int b = 0; b < batch; ++b) {
      cpu::generate_dense<Real>(spec, 0, static_cast<std::uint32_t>(b), buffer.data() + per * b);
    }
    timer.stop(state);
    benchmark::DoNotOptimize(buffer.data());
  }
  set_throughput_counters(state, static_cast<double>(sizeof(Real) * per * batch), batch,
                          timer.mean_seconds());
}

}  // namespace

void register_cpu_generation() {
  for (const std::int64_t T : sizes()) {
    for (const auto& c : generation_cases()) {
      for (const int batch : T <= 1024 ? std::vector<int>{1, 8} : std::vector<int>{1}) {
        for (const Precision p : {Precision::kFloat32, Precision::kFloat64}) {
          const std::string name =
              fmt::format("cpu/generate/{}/{}/batch:{}/T:{}", c.name, to_string(p), batch, T);
          auto* b = p == Precision::kFloat64
                        ? benchmark::RegisterBenchmark(name.c_str(), bm_generate<double>, c.spec, T,
                                                       batch)
                        : benchmark::RegisterBenchmark(name.c_str(), bm_generate<float>, c.spec, T,
                                                       batch);
          b->UseManualTime()->Unit(benchmark::kMillisecond)->Repetitions(repetitions_at(T));
          set_iteration_policy(b, T, 4096);
        }
      }
    }
  }
}

}  // namespace gapbench::bench
