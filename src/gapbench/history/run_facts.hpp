// What the performance history keeps about one run of gapbench_bench, read from its Google
// Benchmark JSON file: the device fingerprint, the commit, the build, the device's state, and
// every sample (compare.hpp's benchmark_samples).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "gapbench/compare/compare.hpp"

namespace gapbench::history {

// Facts given on the command line that the file may lack or that override it.
struct RunOverrides {
  std::string commit;       // else the context's gapbench_commit
  std::string branch;       // else empty (unknown)
  std::string commit_date;  // ISO 8601; else looked up by `git show` where the commit is known
};

struct RunFacts {
  // The device: a key for people and paths (NVIDIA_H200, AMD_EPYC_2t: the GPU's name when the
  // run had a CUDA device, else the CPU's with its thread count, as scripts/lib.sh's device_key),
  // and a fingerprint finer than the key: 16 hex digits of FNV-1a over `device_facts` (the CPU
  // model, CPU count and clock, the BLAS, the GPU's model, SMs, memory and bandwidth, the CUDA
  // driver). Runs are compared only within one fingerprint. The clock is Google Benchmark's
  // mhz_per_cpu rounded to 100 MHz, and only where the context says CPU frequency scaling is off:
  // with scaling on it is the moment's clock, which would give every run its own fingerprint.
  std::string device_key;
  std::string fingerprint;
  std::string device_description;
  nlohmann::json device_facts;
  std::string commit;  // without "-dirty"
  bool dirty = false;  // built from a tree with uncommitted changes
  std::string branch;
  std::string commit_date;  // empty when unknown
  std::string run_date;     // the context's date
  std::string build_type, compiler, cuda_version;
  // The device's state (gpu/device_state/start and /end: clocks, power, temperature, throttle
  // reasons), and whether it throttled: a throttle-reason bit other than idle, application clocks
  // or the display's (SW power cap, HW slowdown, SW or HW thermal, power brake) at either end.
  nlohmann::json state;
  bool throttled = false;
  std::string throttle_reason;
  nlohmann::json context;    // the file's context, as read
  std::string content_hash;  // FNV-1a of the context and repetitions: a run adds once
  std::vector<BenchmarkSamples> benchmarks;
  std::size_t sample_count() const;
};

// Reads the facts of `file`. Throws UsageError naming the file when the context lacks the date,
// or the commit (gapbench_commit, or overrides.commit), or no benchmark has a sample, and naming
// --commit-date when that is not an ISO 8601 date.
// `require_samples` false: a run whose benchmarks all failed is read too (what check judges).
RunFacts run_facts(const BenchmarkFile& file, const RunOverrides& overrides,
                   bool require_samples = true);

// Dates as stored: ISO 8601 with any offset (or none: UTC) to UTC "YYYY-MM-DDTHH:MM:SSZ", which
// sorts as text; nullopt when `text` is not such a date.
std::optional<std::string> utc_date(const std::string& text);

// FNV-1a, 64 bits, as 16 hex digits: stable across machines and builds.
std::string fnv1a_hex(const std::string& text);

}  // namespace gapbench::history
