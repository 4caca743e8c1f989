// GPU benchmarks that need no backend: the copy bandwidth (the yardstick of every GPU floor) and
// the device's state at the start and the end of the run (clocks, temperature, power,
// persistence mode), so throttling shows. The generation and solver families join here with the
// CUDA backend (issue 3).
//
// gpu/copy/d2d: cudaMemcpyAsync of 1 GiB device to device on a non-default stream, timed with
// CUDA events (UseManualTime); allocation and a warm-up copy are outside the timed loop.
// Counters: bytes_per_s (bytes read plus bytes written, per second). On a machine with no device
// every GPU benchmark is skipped with the reason.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <array>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>

#include "gapbench/cuda_api.hpp"
#include "harness.hpp"
#include "resources.cuh"

namespace gapbench::bench {
namespace {

bool skip_without_device(benchmark::State& state) {
  const cuda::Inventory inv = cuda::inventory();
  if (!inv.devices.empty()) return false;
  state.SkipWithError(("no CUDA device: " + inv.reason).c_str());
  return true;
}

void bm_copy_d2d(benchmark::State& state) {
  if (skip_without_device(state)) return;
  constexpr std::size_t kBytes = std::size_t{1} << 30;
  cuda::Stream stream;
  cuda::DeviceBuffer<char> src(kBytes), dst(kBytes);
  GAPBENCH_CUDA_CHECK(cudaMemsetAsync(src.data(), 1, kBytes, stream.get()));
  GAPBENCH_CUDA_CHECK(
      cudaMemcpyAsync(dst.data(), src.data(), kBytes, cudaMemcpyDeviceToDevice, stream.get()));
  stream.synchronize();
  cuda::Event start, stop;
  for (auto _ : state) {
    start.record(stream);
    GAPBENCH_CUDA_CHECK(
        cudaMemcpyAsync(dst.data(), src.data(), kBytes, cudaMemcpyDeviceToDevice, stream.get()));
    stop.record(stream);
    state.SetIterationTime(stop.elapsed_ms_since(start) / 1e3);
  }
  state.counters["bytes_per_s"] =
      benchmark::Counter(2.0 * kBytes, benchmark::Counter::kIsIterationInvariantRate);
}

// nvidia-smi's view of device 0: clocks, temperature, power, persistence mode.
void bm_device_state(benchmark::State& state) {
  if (skip_without_device(state)) return;
  std::string line;
  for (auto _ : state) {
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(
        ::popen("nvidia-smi --query-gpu=clocks.sm,clocks.mem,temperature.gpu,power.draw,"
                "persistence_mode --format=csv,noheader,nounits -i 0 2>/dev/null",
                "r"),
        ::pclose);
    std::array<char, 256> buf{};
    line = pipe && std::fgets(buf.data(), buf.size(), pipe.get()) ? buf.data() : "";
  }
  std::istringstream in(line);
  std::string field;
  const char* names[] = {"sm_clock_mhz", "mem_clock_mhz", "temperature_c", "power_w"};
  for (const char* name : names) {
    if (!std::getline(in, field, ',')) break;
    try {
      state.counters[name] = std::stod(field);
    } catch (const std::exception&) {
      // "[N/A]": not reported by this device
    }
  }
  if (std::getline(in, field)) {
    state.counters["persistence_mode"] = field.find("Enabled") != std::string::npos ? 1 : 0;
  }
  if (line.empty()) state.SkipWithError("nvidia-smi gave no device state");
}

}  // namespace

void register_gpu_benchmarks(const char* phase) {
  benchmark::RegisterBenchmark(fmt::format("gpu/device_state/{}", phase).c_str(), bm_device_state)
      ->Iterations(1);
  if (std::string(phase) == "start") {
    benchmark::RegisterBenchmark("gpu/copy/d2d/bytes:1GiB", bm_copy_d2d)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond)
        ->Repetitions(harness_options().repetitions);
  }
}

}  // namespace gapbench::bench
