// gapbench_bench: the Google Benchmark harness. Families (name prefixes):
//   cpu/generate/<model>/<precision>/batch:<B>/T:<T>
//   cpu/pass/<apply|apply_transpose>/<precision>/T:<T>
//   cpu/solve/<solver>/<precision>/k:<k>/T:<T>
//   cpu/eigen/<arnoldi/float64/k:4|exact/float64>/T:<T>
//   cpu/sweep_step/<model>/lanczos/float64/k:4/T:<T>
//   cpu/propagate/<forward|backward>/<net>/T:<T>, cpu/propagate/gemm/T:<T> (T <= 1024)
//   gpu/copy/d2d/bytes:1GiB, gpu/device_state/<start|end>
// Our flags are taken out of argv before Google Benchmark parses the rest:
//   --min-T=N --max-T=N   sizes (powers of two; default 256 to 65536; caps skip what is past them)
//   --reps=N              repetitions at T <= 2048 (default 9; fewer at larger T)
//   --min-time=SECONDS    least time per repetition (default 0.1)
//   --flush-cache         evict the caches before every iteration
//   --matrix=FILE.npy     the solver families (cpu/pass, cpu/solve, cpu/eigen) on this float64
//                         matrix only
// The JSON context records the build, the machine, the library versions and the measured copy
// bandwidth (read + write bytes per second of a large memcpy), the yardstick of pct_of_copy_bw.
#include <benchmark/benchmark.h>

#include <charconv>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "gapbench/backend.hpp"
#include "gapbench/build_info.hpp"
#include "gapbench/npy.hpp"
#include "gapbench/runtime.hpp"
#include "harness.hpp"

namespace {

// Parses --name=integer; exits with 2 and a one-line message on a bad value.
bool take_int(const std::string& arg, const std::string& name, std::int64_t& out) {
  const std::string prefix = "--" + name + "=";
  if (arg.rfind(prefix, 0) != 0) return false;
  const std::string text = arg.substr(prefix.size());
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || out < 1) {
    std::cerr << "gapbench_bench: error: --" << name << ": '" << text
              << "' is not a positive integer\n";
    std::exit(2);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace gapbench;
  ensure_passive_openmp(argv);
  bench::HarnessOptions& options = bench::harness_options();
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    std::int64_t value = 0;
    if (arg.rfind("--matrix=", 0) == 0) {
      options.matrix_path = arg.substr(9);
    } else if (take_int(arg, "min-T", value)) {
      options.min_T = value;
    } else if (take_int(arg, "max-T", value)) {
      options.max_T = value;
    } else if (take_int(arg, "reps", value)) {
      options.repetitions = static_cast<int>(value);
    } else if (arg.rfind("--min-time=", 0) == 0) {
      try {
        options.min_time = std::stod(arg.substr(11));
      } catch (const std::exception&) {
        options.min_time = -1;
      }
      if (!(options.min_time > 0)) {
        std::cerr << "gapbench_bench: error: --min-time: '" << arg.substr(11)
                  << "' is not a positive number of seconds\n";
        return 2;
      }
    } else if (arg == "--flush-cache") {
      options.flush_cache = true;
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (!options.matrix_path.empty()) {
    try {
      const NpyHeader h = read_npy_header(options.matrix_path);
      options.min_T = options.max_T = h.shape.at(0);
    } catch (const std::exception& e) {
      std::cerr << "gapbench_bench: error: --matrix: " << e.what() << '\n';
      return 2;
    }
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 2;

  const BackendSelection cpu = make_backend(BackendChoice::kCpu, 0);
  const nlohmann::json build = build_info();
  benchmark::AddCustomContext("gapbench_commit", build["commit"].get<std::string>());
  benchmark::AddCustomContext("gapbench_build_type", build["build_type"].get<std::string>());
  benchmark::AddCustomContext("gapbench_compiler", build["compiler"].get<std::string>());
  benchmark::AddCustomContext("cuda_architectures", build["cuda_architectures"].get<std::string>());
  benchmark::AddCustomContext("cpu_device", cpu.backend->description());
  for (const auto& [name, value] : cpu.backend->versions()) {
    benchmark::AddCustomContext("cpu_" + name, value);
  }
  benchmark::AddCustomContext("cpu_copy_bandwidth_bytes_per_s",
                              std::to_string(bench::cpu_copy_bandwidth()));
  std::string devices;
  for (const auto& line : describe_cuda_devices()) devices += (devices.empty() ? "" : "; ") + line;
  benchmark::AddCustomContext("cuda_devices", devices);
  for (const auto& [name, value] : cuda_versions()) benchmark::AddCustomContext(name, value);
  benchmark::AddCustomContext("flush_cache", options.flush_cache ? "yes" : "no");
  const char* wait_policy = std::getenv("OMP_WAIT_POLICY");
  benchmark::AddCustomContext("omp_wait_policy", wait_policy ? wait_policy : "default");

  bench::register_gpu_benchmarks("start");
  if (options.matrix_path.empty()) bench::register_cpu_generation();
  bench::register_cpu_solvers();
  bench::register_cpu_eigen();
  if (options.matrix_path.empty()) bench::register_cpu_sweep_step();
  if (options.matrix_path.empty()) bench::register_cpu_fused();
  if (options.matrix_path.empty()) bench::register_cpu_propagate();
  bench::register_gpu_benchmarks("end");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
