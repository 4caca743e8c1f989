#include "gapbench/build_info.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <ctime>

#include "gapbench/rng.hpp"

#ifndef GAPBENCH_VERSION
#define GAPBENCH_VERSION "unknown"
#endif
#ifndef GAPBENCH_BUILD_TYPE
#define GAPBENCH_BUILD_TYPE "unknown"
#endif
#ifndef GAPBENCH_CUDA_ARCHITECTURES
#define GAPBENCH_CUDA_ARCHITECTURES "none"
#endif

namespace gapbench {
namespace {

std::string format_time(const char* pattern) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::array<char, 64> buf{};
  std::strftime(buf.data(), buf.size(), pattern, &tm);
  return buf.data();
}

}  // namespace

std::string gapbench_version() { return GAPBENCH_VERSION; }

nlohmann::json build_info() {
  return {{"version", gapbench_version()},
          {"commit", git_commit()},
          {"build_type", GAPBENCH_BUILD_TYPE},
          {"compiler", fmt::format("g++ {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__)},
          {"cuda_architectures", GAPBENCH_CUDA_ARCHITECTURES}};
}

nlohmann::json library_versions() {
  return {{"fmt", fmt::format("{}.{}.{}", FMT_VERSION / 10000, FMT_VERSION / 100 % 100,
                              FMT_VERSION % 100)},
          {"nlohmann_json", fmt::format("{}.{}.{}", NLOHMANN_JSON_VERSION_MAJOR,
                                        NLOHMANN_JSON_VERSION_MINOR, NLOHMANN_JSON_VERSION_PATCH)},
          {"random123", "philox4x32-10, layout v" + std::to_string(kRngLayoutVersion)}};
}

std::string host_name() {
  std::array<char, 256> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0) return "unknown";
  return buf.data();
}

std::string utc_now_iso() { return format_time("%Y-%m-%dT%H:%M:%SZ"); }
std::string utc_now_compact() { return format_time("%Y%m%dT%H%M%SZ"); }

}  // namespace gapbench
