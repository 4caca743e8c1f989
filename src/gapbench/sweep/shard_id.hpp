// Which shard of a plan a run computes (`--shard I/N`, `--shard slurm`): the identity alone, for
// the requests that carry it; the rule that assigns units to shards is in shard.hpp.
#pragma once

#include <cstdint>
#include <string>

namespace gapbench {

// Shard `index` of `count` (0 <= index < count).
struct Shard {
  std::int64_t index = 0;
  std::int64_t count = 1;
  // Where it came from, for the first line of output: "--shard 3/32", or "Slurm array task 7
  // of job 1234 (tasks 4-35)".
  std::string source;

  // The same shard: index and count (not where it came from).
  bool operator==(const Shard& o) const { return index == o.index && count == o.count; }
};

// At most this many shards (a Slurm array of 1,000,000 tasks is far past any cluster's
// MaxArraySize).
inline constexpr std::int64_t kMaxShards = 1000000;

}  // namespace gapbench
