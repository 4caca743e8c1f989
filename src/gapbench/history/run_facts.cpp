#include "gapbench/history/run_facts.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <memory>
#include <regex>

#include "gapbench/error.hpp"

namespace gapbench::history {
namespace {

std::string context_string(const nlohmann::json& context, const char* key) {
  const auto it = context.find(key);
  if (it == context.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

// Letters, digits, '.', '-' kept; every other run of characters one '_' (scripts/lib.sh).
std::string path_safe(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const bool keep = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
    if (keep) {
      out += c;
    } else if (out.empty() || out.back() != '_') {
      out += '_';
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out.empty() ? "unknown" : out;
}

// "device 0: NVIDIA H200, compute capability 9.0, 132 SMs, ..." out of the context's
// cuda_devices ("CUDA driver D, runtime R; device 0: ...; device 1: ..."); empty without one.
std::string first_gpu(const std::string& cuda_devices) {
  const auto at = cuda_devices.find("device 0: ");
  if (at == std::string::npos) return "";
  const auto end = cuda_devices.find(';', at);
  return cuda_devices.substr(at + 10, end == std::string::npos ? end : end - at - 10);
}

// The commit date of `commit` in the git repository of the working directory, or "".
std::string git_commit_date(const std::string& commit) {
  static const std::regex hex("[0-9a-f]{7,40}");
  if (!std::regex_match(commit, hex)) return "";
  const std::string command = "git show -s --format=%cI " + commit + " 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  if (!pipe) return "";
  char buf[128] = {};
  if (!std::fgets(buf, sizeof buf, pipe.get())) return "";
  std::string date = buf;
  while (!date.empty() && (date.back() == '\n' || date.back() == '\r')) date.pop_back();
  return date;
}

// NVML's clock-event reasons that mean the clocks were held down by power or heat: SW power
// cap 0x4, HW slowdown 0x8, SW thermal 0x20, HW thermal 0x40, HW power brake 0x80 (not GPU idle
// 0x1, application clocks 0x2, sync boost 0x10, display clocks 0x100).
constexpr std::uint64_t kThrottleBits = 0x4 | 0x8 | 0x20 | 0x40 | 0x80;

// The CPU clock for the fingerprint: mhz_per_cpu to the nearest 100 MHz where frequency scaling
// is off, else null (the moment's clock says nothing stable about the machine).
nlohmann::json nominal_mhz(const nlohmann::json& context) {
  const auto mhz = context.find("mhz_per_cpu");
  const auto scaling = context.find("cpu_scaling_enabled");
  if (mhz == context.end() || !mhz->is_number()) return nullptr;
  if (scaling != context.end() && scaling->is_boolean() && scaling->get<bool>()) return nullptr;
  return static_cast<std::int64_t>(std::llround(mhz->get<double>() / 100.0) * 100);
}

}  // namespace

std::optional<std::string> utc_date(const std::string& text) {
  static const std::regex iso(
      R"(^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|([+-])(\d{2}):?(\d{2}))?$)");
  std::smatch m;
  if (!std::regex_match(text, m, iso)) return std::nullopt;
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = std::stoi(m[4]);
  tm.tm_min = std::stoi(m[5]);
  tm.tm_sec = std::stoi(m[6]);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60) {
    return std::nullopt;
  }
  std::tm normalised = tm;
  std::time_t t = timegm(&normalised);
  // timegm carries 2026-02-30 over to March: a date that moved is not a date.
  if (normalised.tm_mday != tm.tm_mday || normalised.tm_mon != tm.tm_mon) return std::nullopt;
  if (m[8].matched) {
    const long hours = std::stol(m[9]), minutes = std::stol(m[10]);
    if (hours > 23 || minutes > 59) return std::nullopt;
    const long offset = hours * 3600 + minutes * 60;
    t -= m[8] == "+" ? offset : -offset;
  }
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(buf);
}

std::size_t RunFacts::sample_count() const {
  std::size_t n = 0;
  for (const auto& b : benchmarks) {
    for (const auto& [metric, values] : b.metrics) n += values.size();
  }
  return n;
}

std::string fnv1a_hex(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return fmt::format("{:016x}", h);
}

RunFacts run_facts(const BenchmarkFile& file, const RunOverrides& overrides,
                   bool require_samples) {
  const nlohmann::json& context = file.context;
  RunFacts facts;
  std::string commit =
      overrides.commit.empty() ? context_string(context, "gapbench_commit") : overrides.commit;
  if (commit.empty()) {
    throw UsageError(fmt::format(
        "{}: the context has no gapbench_commit (not a gapbench_bench run?); give --commit",
        file.label));
  }
  static const std::string dirty_suffix = "-dirty";
  if (commit.size() > dirty_suffix.size() &&
      commit.compare(commit.size() - dirty_suffix.size(), dirty_suffix.size(), dirty_suffix) ==
          0) {
    facts.dirty = true;
    commit.resize(commit.size() - dirty_suffix.size());
  }
  facts.commit = commit;
  const auto run_date = utc_date(context_string(context, "date"));
  if (!run_date) {
    throw UsageError(fmt::format(
        "{}: the context has no ISO 8601 date (Google Benchmark writes one)", file.label));
  }
  facts.run_date = *run_date;
  facts.branch = overrides.branch;
  if (!overrides.commit_date.empty()) {
    const auto date = utc_date(overrides.commit_date);
    if (!date) {
      throw UsageError(fmt::format(
          "--commit-date {}: not an ISO 8601 date (e.g. 2026-11-28T00:10:00+01:00, as `git show "
          "-s --format=%cI` prints)",
          overrides.commit_date));
    }
    facts.commit_date = *date;
  } else {
    facts.commit_date = utc_date(git_commit_date(commit)).value_or("");
  }
  facts.context = context;
  facts.build_type = context_string(context, "gapbench_build_type");
  facts.compiler = context_string(context, "gapbench_compiler");
  facts.cuda_version = context_string(context, "cuda_runtime");

  const std::string gpu = first_gpu(context_string(context, "cuda_devices"));
  const std::string cpu = context_string(context, "cpu_device");
  facts.device_facts = {{"cpu", cpu},
                        {"num_cpus", context.value("num_cpus", nlohmann::json())},
                        {"mhz_per_cpu", nominal_mhz(context)},
                        {"cpu_blas", context_string(context, "cpu_blas")},
                        {"gpu", gpu},
                        {"cuda_driver", gpu.empty() ? "" : context_string(context, "cuda_driver")}};
  facts.fingerprint = fnv1a_hex(facts.device_facts.dump());
  if (!gpu.empty()) {
    facts.device_key = path_safe(gpu.substr(0, gpu.find(',')));
    facts.device_description = gpu + "; host " + cpu;
  } else {
    // "AMD EPYC (2 threads)" -> AMD_EPYC_2t
    static const std::regex threads(R"(^(.*) \((\d+) threads?\)$)");
    std::smatch m;
    facts.device_key = std::regex_match(cpu, m, threads) ? path_safe(m[1].str()) + "_" +
                                                               m[2].str() + "t"
                                                         : path_safe(cpu);
    facts.device_description =
        fmt::format("{}, {} CPUs at {} MHz", cpu, facts.device_facts["num_cpus"].dump(),
                    facts.device_facts["mhz_per_cpu"].dump());
  }

  facts.benchmarks = benchmark_samples(file);
  if (require_samples && facts.sample_count() == 0) {
    throw UsageError(fmt::format("{}: no benchmark has a sample (all failed or skipped)",
                                 file.label));
  }
  facts.state = nlohmann::json::object();
  for (const auto& b : facts.benchmarks) {
    if (b.name.rfind("gpu/device_state/", 0) != 0) continue;
    const std::string phase = b.name.substr(17, b.name.find('/', 17) - 17);
    nlohmann::json& state = facts.state[phase];
    for (const auto& [metric, values] : b.metrics) {
      if (metric == "real_time" || metric == "cpu_time" || values.empty()) continue;
      state[metric] = values.front();
      if (metric != "throttle_reasons") continue;
      // A bit mask in a double: exact below 2^53; anything else is not one (ignored).
      const double v = values.front();
      if (!(v >= 0 && v < 9007199254740992.0)) continue;
      const auto mask = static_cast<std::uint64_t>(v);
      if (mask & kThrottleBits) {
        facts.throttled = true;
        facts.throttle_reason += fmt::format("{}{}: clock-event reasons 0x{:x}",
                                             facts.throttle_reason.empty() ? "" : "; ", phase,
                                             mask);
      }
    }
  }
  // The identity of a run: its context and its repetitions. Aggregates are left out, so a file
  // slimmed for results/baselines (scripts/slim-bench-json.py) is the run it was slimmed from.
  nlohmann::json repetitions = nlohmann::json::array();
  for (const auto& entry : file.benchmarks) {
    if (entry.value("run_type", "") != "aggregate") repetitions.push_back(entry);
  }
  const nlohmann::json hashed = {
      {"context", context}, {"benchmarks", repetitions.empty() ? file.benchmarks : repetitions}};
  facts.content_hash = fnv1a_hex(hashed.dump());
  return facts;
}

}  // namespace gapbench::history
