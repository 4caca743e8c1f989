// Shards of a plan: which units of work one task of N runs (`--shard I/N`, `--shard slurm`).
//
// A plan is expanded into units of work, not points, so a sweep whose cost sits in a few large T
// still spreads over many shards:
//   sweep      one unit per (point, seed, index): one matrix; index 0 .. seeds-1
//   propagate  one unit per (point, run): one network; run first_index .. first_index+seeds-1
// Point ids stay those of the unsharded plan, so rows of different shards never collide.
//
// Each unit has an estimated cost, an integer (saturating at 2^64 - 1), computed from the plan
// alone: never from the device, the thread count or the operator `auto` picks on one machine, so
// every task of an array computes the same assignment.
//   sweep, dense matrix (--operator dense or auto, or a solver that needs the dense matrix):
//              T^2, and T^3 for exact (a full SVD is cubic)
//   sweep, fused operator (--operator fused):  T^2 * (d_k + b) -- one product regenerates the
//              T x T tiles from Q and K (d_k per entry; 1 per entry for markov) and multiplies
//              them into b vectors (lanczos: --block, else k; rsvd: k + oversampling)
//   propagate: L * (T^2 d + T d^2), plus L * (T^2 d_k + 2 T d d_k) with input-dependent
//              attention: per layer the products A X and (A X) W, and the logits
//
// The rule (deterministic, the same on every machine): sort the units by cost, descending, ties
// by key (point, seed, index) ascending; then give each in turn to the shard with the least
// load so far, ties to the lowest shard number (greedy longest-processing-time). Every unit lands
// in exactly one shard, and no shard's load exceeds the mean load plus the largest unit's cost
// (when a shard took its last unit it was the least loaded, so at most the mean).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "gapbench/propagate/propagate.hpp"
#include "gapbench/sweep/plan.hpp"
#include "gapbench/sweep/shard_id.hpp"

namespace gapbench {

// At most this many units in a sharded plan: each is held in memory while assigning (about 40
// bytes, so 200 MB at the limit, and a second of sorting).
inline constexpr std::int64_t kMaxShardUnits = 5000000;

// Looks up an environment variable; empty when unset. process_environment() reads getenv.
using Environment = std::function<std::optional<std::string>(const std::string& name)>;
Environment process_environment();

// The shard of `--shard VALUE`: "I/N" (decimal digits only, 0 <= I < N <= kMaxShards) or
// "slurm" (shard_from_slurm). Throws UsageError naming --shard on anything else: "3/2", "0/0",
// "a/b", "-1/4", "1/", " 1/2", values past kMaxShards.
Shard parse_shard(std::string_view value, const Environment& env = process_environment());

// The shard of a Slurm array task: index = SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN, count =
// SLURM_ARRAY_TASK_COUNT. Refuses (UsageError naming --shard) outside an array task (no
// SLURM_ARRAY_TASK_ID) and arrays whose task ids are not MIN .. MIN+COUNT-1: a step
// (--array=0-6:2 sets SLURM_ARRAY_TASK_STEP=2) or a list with holes (--array=1,3,7 sets STEP=1,
// MIN=1, MAX=7, COUNT=3, so MAX - MIN + 1 != COUNT).
Shard shard_from_slurm(const Environment& env);

// "shard-0007-of-0032": the results directory of a shard (at least 4 digits, as many as the
// count needs).
std::string shard_dir_name(const Shard& shard);

// One unit of work. Sweep: one matrix (point, seed, index). Propagate: one network (point, the
// plan's seed, index = the run).
struct WorkUnit {
  int point = 0;
  std::uint64_t seed = 0;
  std::uint32_t index = 0;
  std::uint64_t cost = 0;

  bool operator==(const WorkUnit&) const = default;
};

// The units of a sweep, in plan order (point, then index), with their costs. `points` is
// expand_plan(plan). Throws UsageError naming --seeds past kMaxShardUnits.
std::vector<WorkUnit> sweep_units(const SweepPlan& plan, const std::vector<PlannedPoint>& points);
// The units of a propagate sweep, in plan order (point, then run). `points` is
// propagate::expand_plan(plan).
std::vector<WorkUnit> propagate_units(const propagate::PropagatePlan& plan,
                                      const std::vector<propagate::PlannedNetwork>& points);

// The estimated cost of one matrix of `point`, and of one network of `options` (see above).
std::uint64_t unit_cost(const PointSpec& point);
std::uint64_t unit_cost(const propagate::PropagateOptions& options);

// The shard (0 .. count-1) of each unit, by the rule above; out[i] is units[i]'s.
std::vector<std::int64_t> assign_shards(const std::vector<WorkUnit>& units, std::int64_t count);

// The units of `shard`, in their input order (plan order when `units` is).
std::vector<WorkUnit> units_of_shard(const std::vector<WorkUnit>& units, const Shard& shard);

// What a run computes, by key (point, index): one shard's units, or every unit of the plan
// without a shard. `units` (the plan's units, sweep_units or propagate_units) is called only
// with a shard.
class ShardKeys {
 public:
  ShardKeys(const std::optional<Shard>& shard, const std::function<std::vector<WorkUnit>()>& units);
  bool owns(int point, std::uint32_t index) const {
    return m_all || m_keys.count({point, index}) != 0;
  }
  // The shard's units (0 without a shard).
  std::int64_t size() const { return static_cast<std::int64_t>(m_keys.size()); }

 private:
  bool m_all = true;
  std::set<std::pair<int, std::uint32_t>> m_keys;
};

}  // namespace gapbench
