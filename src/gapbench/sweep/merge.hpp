// `gapbench merge`: the shard directories of one sharded sweep (`sweep --shard I/N`, `propagate
// --shard I/N`; shard.hpp) into one results directory, as an unsharded run of the plan writes it.
//
// Everything is checked before anything is written, and a refusal writes nothing:
//   usage (UsageError, exit 2)  no directory; one that is not a gapbench results directory or not
//                               a shard; shards of two plans, counts or commands; a shard given
//                               twice; --out inside an input, or existing (--force replaces only
//                               an earlier merge's output); shards of several commits or devices
//                               without --allow-mixed; a corrupt shard (a rows.csv or values.csv
//                               of another header, a torn or unparseable row, a row outside its
//                               shard's units or in two shards), named by file and line
//   missing (exit 1)            shards absent from 0 .. N-1, or not complete (status, or rows
//                               that do not cover the shard's units): one line naming them, then
//                               the command that reruns each; --partial merges what is there
// The output is written into a temporary directory beside --out and renamed into place, so an
// interrupted merge leaves no half-written directory. results/README.md states its meta.json.
#pragma once

#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

namespace gapbench {

struct MergeRequest {
  // Shard directories, or directories holding shard-*-of-* directories (taken in name order).
  std::vector<std::filesystem::path> dirs;
  std::filesystem::path out;
  bool partial = false;      // merge the shards that are there; status "partial"
  bool allow_mixed = false;  // merge shards of different commits or devices
  bool force = false;        // replace an earlier merge's output
  std::string command_line;
};

// Merges the shards, printing what differs between them and what is missing on stderr, and the
// summary table (sweeps) and the row count on `out`. Returns 0 when merged, 1 when shards are
// missing or incomplete without --partial (nothing written). Throws UsageError (nothing
// written) for what it refuses.
int run_merge(const MergeRequest& request, std::ostream& out);

}  // namespace gapbench
