// The harness's main: our flags (--matrix, --sizes) are taken out of argv before Google
// Benchmark parses the rest; the JSON context records the build and the machine.
#include <benchmark/benchmark.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "gapbench/backend.hpp"
#include "gapbench/build_info.hpp"
#include "gapbench/sweep/range.hpp"

int main(int argc, char** argv) {
  using namespace gapbench;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--matrix=", 0) == 0) {
      bench::harness_options().matrix_path = arg.substr(9);
    } else if (arg.rfind("--sizes=", 0) == 0) {
      bench::harness_options().sizes = parse_int_axis(arg.substr(8), "--sizes");
    } else {
      rest.push_back(argv[i]);
    }
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 2;

  const BackendSelection cpu = make_backend(BackendChoice::kCpu, 0);
  const nlohmann::json build = build_info();
  benchmark::AddCustomContext("gapbench_commit", build["commit"].get<std::string>());
  benchmark::AddCustomContext("gapbench_build_type", build["build_type"].get<std::string>());
  benchmark::AddCustomContext("cuda_architectures", build["cuda_architectures"].get<std::string>());
  benchmark::AddCustomContext("cpu_device", cpu.backend->device());
  for (const auto& [name, value] : cpu.backend->versions()) {
    benchmark::AddCustomContext("cpu_" + name, value);
  }
  bench::register_cpu_solver_benchmarks();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
