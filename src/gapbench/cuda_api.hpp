// The host-side face of the CUDA library (cuda/): plain C++ declarations, no CUDA headers, so
// that host code compiled by g++ can call into it. Only backend_factory.cpp includes this.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gapbench/backend.hpp"

namespace gapbench::cuda {

struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  int multiprocessors = 0;
  double memory_bytes = 0;
  double peak_bandwidth_bytes_per_s = 0;  // 2 (DDR) x memory clock x bus width / 8
};

struct Inventory {
  std::vector<DeviceInfo> devices;
  std::string reason;  // why there is none, when devices is empty
  int driver_version = 0;
  int runtime_version = 0;
};

// Devices visible to the CUDA runtime. Never throws: no driver or no device gives an empty list
// and a reason.
Inventory inventory();

// Versions of the CUDA runtime, driver, cuBLAS and cuSOLVER (name -> "major.minor.patch").
std::map<std::string, std::string> library_versions();

}  // namespace gapbench::cuda
