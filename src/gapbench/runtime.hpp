// Process-level settings that must be in place before the OpenMP runtime starts, and what the
// process has used.
#pragma once

#include <cstdint>
#include <string>

namespace gapbench {

// gapbench mixes OpenMP (generation) with OpenBLAS's own thread pool (products). With libgomp's
// default wait policy, idle OpenMP threads spin and take the cores from OpenBLAS's threads: on
// this 2-core machine a T = 256 Lanczos solve took 3 to 12 ms instead of 1.1 ms. libgomp reads
// OMP_WAIT_POLICY when it loads, before main, so when the user has not chosen a policy this
// re-executes the program once with OMP_WAIT_POLICY=PASSIVE (idle threads sleep). Returns when
// the policy is already set (or the re-exec failed, which only costs speed).
void ensure_passive_openmp(char** argv);

// The peak resident memory of this process so far (getrusage's ru_maxrss), in bytes.
double peak_resident_bytes();

// The memory a new allocation can take without swapping: MemAvailable of /proc/meminfo (free
// memory plus what the page cache would give back), else the free pages; in bytes.
std::uint64_t available_memory_bytes();

// A cooperative stop for long solves on one thread. While a CancelScope lives on a thread, that
// thread listens: after request_cancel() (async-signal-safe, from a signal handler or any thread)
// its iterative solvers throw Cancelled at their next iteration (throw_if_cancelled, checked once
// per iteration: one pass over A or one block of them). Solves on other threads are not stopped,
// so a Ctrl-C meant for the main thread's solve leaves a worker thread's alone. One listener at a
// time (the Python package's main thread); the scope clears the request on entry and exit. Dense
// LAPACK and cuSOLVER calls run to their end first.
void request_cancel();
void throw_if_cancelled();
bool cancel_requested();  // a request since the current CancelScope began (any thread)

class CancelScope {
 public:
  CancelScope();
  ~CancelScope();
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;

 private:
  bool m_was_listening;
};

// Byte arithmetic for memory plans that saturates at UINT64_MAX instead of wrapping, so that an
// absurd size (--d 2000000000, a forged header) compares as "too large" rather than as small.
std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b);
std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b);

// 90% of available_memory_bytes(): the rest for the process and the page cache.
std::uint64_t host_memory_budget();

// Refuses, before anything is allocated or created, `bytes` above `budget` bytes of `memory_name`:
// MemoryPlanError "FLAG: WHAT: X GiB needed but Y GiB of MEMORY_NAME is free; FIX". Saturated sizes
// (2^63 and above) read "at least 2^63 bytes".
void check_memory_fits(std::uint64_t bytes, std::uint64_t budget, const std::string& memory_name,
                       const std::string& flag, const std::string& what, const std::string& fix);

// check_memory_fits for a host allocation, against host_memory_budget().
void check_factor_memory(std::uint64_t bytes, const std::string& flag, const std::string& what,
                         const std::string& fix);

}  // namespace gapbench
