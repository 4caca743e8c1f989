#include "gapbench/sweep/shard.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <queue>
#include <tuple>

#include "gapbench/error.hpp"

namespace gapbench {

namespace {

constexpr std::uint64_t kSaturated = std::numeric_limits<std::uint64_t>::max();

// Saturating arithmetic: a cost past 2^64 - 1 stays there, so the order is still total (ties
// broken by key) and the same on every machine.
std::uint64_t mul(std::uint64_t a, std::uint64_t b) {
  std::uint64_t r = 0;
  return __builtin_mul_overflow(a, b, &r) ? kSaturated : r;
}
std::uint64_t add(std::uint64_t a, std::uint64_t b) {
  std::uint64_t r = 0;
  return __builtin_add_overflow(a, b, &r) ? kSaturated : r;
}
std::uint64_t positive(std::int64_t v) { return v > 0 ? static_cast<std::uint64_t>(v) : 1; }

// A non-negative decimal of at most 18 digits (no sign, space or other character), else empty.
std::optional<std::int64_t> parse_count(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::int64_t slurm_value(const Environment& env, const std::string& name, bool required = true) {
  const std::optional<std::string> text = env(name);
  if (!text) {
    if (!required) return -1;
    throw UsageError(fmt::format(
        "--shard slurm: {} is unset; is this an sbatch --array task of Slurm 20.11 or later?",
        name));
  }
  const std::optional<std::int64_t> v = parse_count(*text);
  if (!v) {
    throw UsageError(
        fmt::format("--shard slurm: {}='{}' is not a non-negative integer", name, *text));
  }
  return *v;
}

}  // namespace

Environment process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

Shard parse_shard(std::string_view value, const Environment& env) {
  if (value == "slurm") return shard_from_slurm(env);
  const std::size_t slash = value.find('/');
  const std::string usage = "give I/N with 0 <= I < N (e.g. --shard 3/32) or --shard slurm";
  if (slash == std::string_view::npos) {
    throw UsageError(fmt::format("--shard: '{}' is not I/N; {}", value, usage));
  }
  const std::optional<std::int64_t> index = parse_count(value.substr(0, slash));
  const std::optional<std::int64_t> count = parse_count(value.substr(slash + 1));
  const auto digits = [](std::string_view t) {
    return !t.empty() && t.find_first_not_of("0123456789") == std::string_view::npos;
  };
  if ((!index || !count) && digits(value.substr(0, slash)) && digits(value.substr(slash + 1))) {
    throw UsageError(
        fmt::format("--shard: '{}' is out of range; N is at most {}", value, kMaxShards));
  }
  if (!index || !count) {
    throw UsageError(
        fmt::format("--shard: '{}' is not I/N of non-negative decimal integers; {}", value, usage));
  }
  if (*count < 1 || *count > kMaxShards) {
    throw UsageError(fmt::format("--shard: '{}': the shard count N = {} must be 1 to {}", value,
                                 *count, kMaxShards));
  }
  if (*index >= *count) {
    throw UsageError(
        fmt::format("--shard: '{}': shard {} does not exist; the shards of N = {} are 0 to {}",
                    value, *index, *count, *count - 1));
  }
  return Shard{*index, *count, fmt::format("--shard {}/{}", *index, *count)};
}

Shard shard_from_slurm(const Environment& env) {
  if (!env("SLURM_ARRAY_TASK_ID")) {
    throw UsageError(fmt::format(
        "--shard slurm: not in a Slurm array task (SLURM_ARRAY_TASK_ID is unset{}); submit with "
        "sbatch --array=0-<N-1>, or give --shard I/N",
        env("SLURM_JOB_ID") ? ", though SLURM_JOB_ID is set: a job without --array" : ""));
  }
  const std::int64_t id = slurm_value(env, "SLURM_ARRAY_TASK_ID");
  const std::int64_t count = slurm_value(env, "SLURM_ARRAY_TASK_COUNT");
  const std::int64_t min = slurm_value(env, "SLURM_ARRAY_TASK_MIN");
  const std::int64_t max = slurm_value(env, "SLURM_ARRAY_TASK_MAX");
  const std::int64_t step = slurm_value(env, "SLURM_ARRAY_TASK_STEP", false);
  const std::string array = fmt::format("tasks {}-{}", min, max);
  if (step != -1 && step != 1) {
    throw UsageError(fmt::format(
        "--shard slurm: the array has a step (SLURM_ARRAY_TASK_STEP={}), so its task ids do not "
        "map onto shards 0 to N-1; submit --array=0-<N-1> without ':step'",
        step));
  }
  if (max < min || max - min + 1 != count) {
    throw UsageError(fmt::format(
        "--shard slurm: the array's task ids are a list with holes ({} ids between "
        "SLURM_ARRAY_TASK_MIN={} and SLURM_ARRAY_TASK_MAX={}, SLURM_ARRAY_TASK_COUNT={}), so "
        "they do not map onto shards 0 to N-1; submit --array=0-<N-1>, and rerun single tasks "
        "by JOBID_TASK (scontrol requeue) instead of a list",
        max >= min ? max - min + 1 : 0, min, max, count));
  }
  if (id < min || id > max) {
    throw UsageError(fmt::format("--shard slurm: SLURM_ARRAY_TASK_ID={} is outside {}", id, array));
  }
  if (count > kMaxShards) {
    throw UsageError(fmt::format("--shard slurm: {} tasks; at most {} shards", count, kMaxShards));
  }
  const std::optional<std::string> job = env("SLURM_ARRAY_JOB_ID");
  return Shard{id - min, count,
               fmt::format("Slurm array task {} of job {} ({})", id, job ? *job : "?", array)};
}

std::string shard_dir_name(const Shard& shard) {
  const int digits = std::max<int>(4, static_cast<int>(fmt::format("{}", shard.count).size()));
  return fmt::format("shard-{:0{}}-of-{:0{}}", shard.index, digits, shard.count, digits);
}

std::uint64_t unit_cost(const PointSpec& point) {
  const ModelSpec& m = point.model;
  const std::uint64_t T = positive(m.T);
  const std::uint64_t area = mul(T, T);
  const SolverOptions& s = point.solver;
  if (s.kind == SolverKind::kExact) return mul(area, T);
  const bool iterative = s.kind == SolverKind::kLanczos || s.kind == SolverKind::kRsvd;
  if (point.op != OperatorChoice::kFused || !iterative) return area;
  const std::uint64_t entry = m.kind == ModelKind::kAttention ? positive(m.dk) : 1;
  const std::uint64_t k = positive(s.k);
  const std::uint64_t b =
      s.kind == SolverKind::kRsvd
          ? add(k, positive(s.oversample > 0 ? s.oversample : default_oversample(s.k)))
          : (s.block > 0 ? static_cast<std::uint64_t>(s.block) : k);
  return mul(area, add(entry, b));
}

std::uint64_t unit_cost(const propagate::PropagateOptions& o) {
  const std::uint64_t T = positive(o.T);
  const std::uint64_t d = positive(o.d);
  const std::uint64_t L = positive(o.L);
  std::uint64_t layer = add(mul(mul(T, T), d), mul(T, mul(d, d)));
  if (o.source == propagate::AttentionSource::kAttention) {
    const std::uint64_t dk = positive(o.key_dim());
    layer = add(layer, add(mul(mul(T, T), dk), mul(2, mul(T, mul(d, dk)))));
  }
  return mul(L, layer);
}

namespace {

void check_unit_count(long double count) {
  if (count > static_cast<long double>(kMaxShardUnits)) {
    throw UsageError(fmt::format(
        "--seeds: the plan has {:.0Lf} units of work (points x seeds); --shard takes at most {}",
        count, kMaxShardUnits));
  }
}

}  // namespace

std::vector<WorkUnit> sweep_units(const SweepPlan& plan, const std::vector<PlannedPoint>& points) {
  check_unit_count(static_cast<long double>(points.size()) * static_cast<long double>(plan.seeds));
  std::vector<WorkUnit> units;
  units.reserve(points.size() * static_cast<std::size_t>(std::max<std::int64_t>(plan.seeds, 0)));
  for (const PlannedPoint& p : points) {
    const std::uint64_t cost = unit_cost(p.spec);
    for (std::int64_t i = 0; i < plan.seeds; ++i) {
      units.push_back({p.ordinal, plan.seed, static_cast<std::uint32_t>(i), cost});
    }
  }
  return units;
}

std::vector<WorkUnit> propagate_units(const propagate::PropagatePlan& plan,
                                      const std::vector<propagate::PlannedNetwork>& points) {
  check_unit_count(static_cast<long double>(points.size()) * static_cast<long double>(plan.seeds));
  std::vector<WorkUnit> units;
  units.reserve(points.size() * static_cast<std::size_t>(std::max<std::int64_t>(plan.seeds, 0)));
  for (const propagate::PlannedNetwork& p : points) {
    const std::uint64_t cost = unit_cost(p.options);
    for (std::int64_t r = 0; r < plan.seeds; ++r) {
      units.push_back({p.point, plan.seed, static_cast<std::uint32_t>(plan.first_index + r), cost});
    }
  }
  return units;
}

std::vector<std::int64_t> assign_shards(const std::vector<WorkUnit>& units, std::int64_t count) {
  if (count < 1 || count > kMaxShards) {
    throw UsageError(
        fmt::format("--shard: the shard count N = {} must be 1 to {}", count, kMaxShards));
  }
  std::vector<std::size_t> order(units.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  const auto key = [&](std::size_t i) {
    const WorkUnit& u = units[i];
    return std::make_tuple(u.point, u.seed, u.index);
  };
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (units[a].cost != units[b].cost) return units[a].cost > units[b].cost;
    if (key(a) != key(b)) return key(a) < key(b);
    return a < b;  // duplicate keys (not from a plan): input order
  });
  // Min-heap of (load, shard): the least loaded shard on top, ties to the lowest number.
  using Slot = std::pair<std::uint64_t, std::int64_t>;
  std::priority_queue<Slot, std::vector<Slot>, std::greater<Slot>> shards;
  for (std::int64_t s = 0; s < count; ++s) shards.push({0, s});
  std::vector<std::int64_t> out(units.size(), 0);
  for (const std::size_t i : order) {
    Slot least = shards.top();
    shards.pop();
    out[i] = least.second;
    shards.push({add(least.first, units[i].cost), least.second});
  }
  return out;
}

std::vector<WorkUnit> units_of_shard(const std::vector<WorkUnit>& units, const Shard& shard) {
  if (shard.index < 0 || shard.index >= shard.count) {
    throw UsageError(
        fmt::format("--shard: shard {} of {} does not exist", shard.index, shard.count));
  }
  const std::vector<std::int64_t> owner = assign_shards(units, shard.count);
  std::vector<WorkUnit> mine;
  for (std::size_t i = 0; i < units.size(); ++i) {
    if (owner[i] == shard.index) mine.push_back(units[i]);
  }
  return mine;
}

ShardKeys::ShardKeys(const std::optional<Shard>& shard,
                     const std::function<std::vector<WorkUnit>()>& units) {
  if (!shard) return;
  m_all = false;
  for (const WorkUnit& u : units_of_shard(units(), *shard)) m_keys.insert({u.point, u.index});
}

}  // namespace gapbench
