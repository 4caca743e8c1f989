#include "gapbench/runtime.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <system_error>

#include "gapbench/error.hpp"

namespace gapbench {
namespace {
std::atomic<bool> g_cancel{false};
thread_local bool t_listening = false;  // a CancelScope lives on this thread
}  // namespace

void request_cancel() { g_cancel.store(true, std::memory_order_relaxed); }
bool cancel_requested() { return g_cancel.load(std::memory_order_relaxed); }
void throw_if_cancelled() {
  if (t_listening && g_cancel.load(std::memory_order_relaxed)) {
    throw Cancelled("cancelled (interrupted)");
  }
}

CancelScope::CancelScope() : m_was_listening(t_listening) {
  g_cancel.store(false, std::memory_order_relaxed);
  t_listening = true;
}

CancelScope::~CancelScope() {
  t_listening = m_was_listening;
  g_cancel.store(false, std::memory_order_relaxed);
}

void ensure_passive_openmp(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (::setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
  // The resolved path, not /proc/self/exe itself: the kernel names the process after the file it
  // executes, and ps, top and `pkill gapbench` should see "gapbench", not "exe".
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  ::execv(ec ? "/proc/self/exe" : self.c_str(), argv);  // returns only on failure: go on as we are
}

double peak_resident_bytes() {
  struct rusage usage {};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<double>(usage.ru_maxrss) * 1024.0;  // Linux reports KiB
}

std::uint64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  std::uint64_t kib = 0;
  while (in >> key >> kib >> unit) {
    if (key == "MemAvailable:") return saturating_mul(kib, 1024);
  }
  const long pages = ::sysconf(_SC_AVPHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0
             ? saturating_mul(static_cast<std::uint64_t>(pages), static_cast<std::uint64_t>(page))
             : 0;
}

std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b) {
  std::uint64_t out = 0;
  return __builtin_mul_overflow(a, b, &out) ? std::numeric_limits<std::uint64_t>::max() : out;
}

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  std::uint64_t out = 0;
  return __builtin_add_overflow(a, b, &out) ? std::numeric_limits<std::uint64_t>::max() : out;
}

std::uint64_t host_memory_budget() { return available_memory_bytes() / 10 * 9; }

void check_memory_fits(std::uint64_t bytes, std::uint64_t budget, const std::string& memory_name,
                       const std::string& flag, const std::string& what, const std::string& fix) {
  if (bytes <= budget) return;
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  throw MemoryPlanError(
      fmt::format("{}: {}: {} needed but {:.2f} GiB of {} is free; {}", flag, what,
                  bytes >= (std::uint64_t{1} << 63)
                      ? std::string("at least 2^63 bytes")
                      : fmt::format("{:.2f} GiB", static_cast<double>(bytes) / kGiB),
                  static_cast<double>(budget) / kGiB, memory_name, fix));
}

void check_factor_memory(std::uint64_t bytes, const std::string& flag, const std::string& what,
                         const std::string& fix) {
  check_memory_fits(bytes, host_memory_budget(), "memory", flag, what, fix);
}

}  // namespace gapbench
