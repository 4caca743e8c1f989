// The one place that knows which backends were compiled in (GAPBENCH_HAVE_CUDA).
#include <fmt/format.h>

#include <optional>

#include "gapbench/backend.hpp"
#include "gapbench/cpu/cpu_device.hpp"
#include "gapbench/error.hpp"

#ifdef GAPBENCH_HAVE_CUDA
#include "gapbench/cuda_api.hpp"
#endif

namespace gapbench {

#ifdef GAPBENCH_HAVE_CUDA

bool cuda_compiled_in() { return true; }

std::map<std::string, std::string> cuda_versions() { return cuda::library_versions(); }

std::vector<std::string> describe_cuda_devices() {
  const cuda::Inventory inv = cuda::inventory();
  std::vector<std::string> lines;
  lines.push_back(
      fmt::format("CUDA driver {}, runtime {}", inv.driver_version, inv.runtime_version));
  if (inv.devices.empty()) lines.push_back("no CUDA device: " + inv.reason);
  for (const auto& d : inv.devices) {
    lines.push_back(fmt::format(
        "device {}: {}, compute capability {}.{}, {} SMs, {:.1f} GiB, peak memory bandwidth "
        "{:.0f} GB/s",
        d.ordinal, d.name, d.cc_major, d.cc_minor, d.multiprocessors, d.memory_bytes / (1 << 30),
        d.peak_bandwidth_bytes_per_s / 1e9));
  }
  return lines;
}

// The first CUDA device, or the reason there is none.
static std::optional<cuda::DeviceInfo> first_cuda_device(std::string& reason) {
  const cuda::Inventory inv = cuda::inventory();
  if (inv.devices.empty()) {
    reason = "no CUDA device found (" + inv.reason + ")";
    return std::nullopt;
  }
  return inv.devices.front();
}

static std::unique_ptr<Backend> make_gpu_backend(const cuda::DeviceInfo& device) {
  return cuda::make_cuda_backend(device);
}

#else

bool cuda_compiled_in() { return false; }

std::map<std::string, std::string> cuda_versions() { return {}; }

std::vector<std::string> describe_cuda_devices() {
  return {"CUDA: not compiled in (configure with -DGAPBENCH_CUDA=ON and the CUDA Toolkit)"};
}

struct NoDevice {
  std::string name;
};

static std::optional<NoDevice> first_cuda_device(std::string& reason) {
  reason = "this gapbench was built without CUDA (GAPBENCH_CUDA=OFF or no nvcc found)";
  return std::nullopt;
}

static std::unique_ptr<Backend> make_gpu_backend(const NoDevice&) { return nullptr; }

#endif

BackendSelection make_backend(BackendChoice choice, int threads) {
  BackendSelection selection;
  std::string reason;
  if (choice != BackendChoice::kCpu) {
    if (const auto device = first_cuda_device(reason)) {
      selection.backend = make_gpu_backend(*device);
      selection.note = choice == BackendChoice::kAuto
                           ? fmt::format("backend auto: CUDA device {}; using cuda", device->name)
                           : "backend cuda (asked for)";
      return selection;
    }
  }
  if (choice == BackendChoice::kCuda) {
    throw UsageError(fmt::format("--backend cuda: {}; use --backend cpu", reason));
  }
  selection.backend = std::make_unique<Backend>(cpu::make_cpu_device(threads));
  selection.note = choice == BackendChoice::kAuto
                       ? fmt::format("backend auto: {}; using cpu", reason)
                       : "backend cpu (asked for)";
  return selection;
}

}  // namespace gapbench
