#include "gapbench/test_hook.hpp"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace gapbench {
namespace {

struct PauseRequest {
  std::string point;   // empty: no pause requested
  long arrival = 1;    // which arrival at the point pauses
  long seen = 0;      // arrivals so far (the points are on the main thread)
};

PauseRequest& request() {
  static PauseRequest r = [] {
    PauseRequest p;
    const char* env = std::getenv("GAPBENCH_TEST_PAUSE_AT");
    if (env == nullptr) return p;
    std::string text = env;
    if (const auto colon = text.find(':'); colon != std::string::npos) {
      p.arrival = std::strtol(text.c_str() + colon + 1, nullptr, 10);
      text.resize(colon);
    }
    p.point = text;
    return p;
  }();
  return r;
}

}  // namespace

bool test_pause_due(const char* point) {
  PauseRequest& r = request();
  if (r.point.empty() || r.point != point) return false;
  return ++r.seen == r.arrival;
}

void test_pause(const char* point) {
  const std::string line = std::string("gapbench: paused at ") + point + "\n";
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
  ::raise(SIGSTOP);
}

void test_hold_point(const char* point) {
  static const std::pair<std::string, long> hold = []() -> std::pair<std::string, long> {
    const char* env = std::getenv("GAPBENCH_TEST_HOLD_AT");
    if (env == nullptr) return {};
    const std::string text = env;
    const auto colon = text.find(':');
    if (colon == std::string::npos) return {};
    return {text.substr(0, colon), std::strtol(text.c_str() + colon + 1, nullptr, 10)};
  }();
  if (hold.first.empty() || hold.first != point) return;
  const std::string line = std::string("gapbench: holding at ") + point + "\n";
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
  std::this_thread::sleep_for(std::chrono::milliseconds(hold.second));
}

}  // namespace gapbench
