// Without CUDA the GPU benchmarks are registered all the same and skipped with the reason, so
// the names line up across builds and a comparison lists them instead of losing them.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <string>

#include "harness.hpp"

namespace gapbench::bench {
namespace {
void bm_not_built(benchmark::State& state) {
  state.SkipWithError("built without CUDA (GAPBENCH_CUDA=OFF or no nvcc)");
}
}  // namespace

void register_gpu_benchmarks(const char* phase) {
  benchmark::RegisterBenchmark(fmt::format("gpu/device_state/{}", phase).c_str(), bm_not_built);
  if (std::string(phase) == "start") {
    benchmark::RegisterBenchmark("gpu/copy/d2d/bytes:1GiB", bm_not_built);
  }
}

}  // namespace gapbench::bench
