// Device inventory for `gapbench info` and the backend factory.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <string>

#include "gapbench/cuda_api.hpp"

namespace gapbench::cuda {

Inventory inventory() {
  Inventory inv;
  cudaDriverGetVersion(&inv.driver_version);
  cudaRuntimeGetVersion(&inv.runtime_version);
  // With no GPU, cudaGetDeviceCount returns an error (e.g. cudaErrorInsufficientDriver) and
  // leaves the count untouched: start at 0 and treat any error as "no device".
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    inv.reason = status != cudaSuccess
                     ? std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status)
                     : "the CUDA runtime reports 0 devices";
    cudaGetLastError();  // clear the error so later calls start clean
    return inv;
  }
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) continue;
    DeviceInfo info;
    info.ordinal = d;
    info.name = prop.name;
    info.cc_major = prop.major;
    info.cc_minor = prop.minor;
    info.multiprocessors = prop.multiProcessorCount;
    info.memory_bytes = static_cast<double>(prop.totalGlobalMem);
    // CUDA 13 removed memoryClockRate and memoryBusWidth from cudaDeviceProp.
    int clock_khz = 0, bus_bits = 0;
    cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, d);
    cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, d);
    info.peak_bandwidth_bytes_per_s = 2.0 * clock_khz * 1e3 * bus_bits / 8.0;
    inv.devices.push_back(info);
  }
  return inv;
}

namespace {
std::string version_text(int v) {
  // CUDA encodes 13.0 as 13000: major * 1000 + minor * 10.
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}
}  // namespace

std::map<std::string, std::string> library_versions() {
  std::map<std::string, std::string> out;
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  out["cuda_runtime"] = version_text(runtime);
  out["cuda_driver"] = driver ? version_text(driver) : "none";
  int major = 0, minor = 0, patch = 0;
  cublasGetProperty(MAJOR_VERSION, &major);
  cublasGetProperty(MINOR_VERSION, &minor);
  cublasGetProperty(PATCH_LEVEL, &patch);
  out["cublas"] = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  cusolverGetProperty(MAJOR_VERSION, &major);
  cusolverGetProperty(MINOR_VERSION, &minor);
  cusolverGetProperty(PATCH_LEVEL, &patch);
  out["cusolver"] =
      std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  return out;
}

}  // namespace gapbench::cuda
