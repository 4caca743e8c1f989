// The skeleton every command that writes a results directory runs (`sweep`, `propagate`):
//   1. refuse what can be refused before any file is touched (--resume with --out/--force, a
//      directory of another schema, RNG layout or plan);
//   2. create the directory with its meta.json written first, or resume it (torn and foreign rows
//      dropped, one more entry in meta.json's "resumes");
//   3. the command's work, between checks of SIGINT/SIGTERM;
//   4. finish meta.json (status complete, interrupted or failed with the error, the count, the
//      end time) and say how to continue an interrupted run.
// The commands bring their plan, rows layout and work; the skeleton is written once.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>

#include "gapbench/backend.hpp"
#include "gapbench/sweep/results.hpp"
#include "gapbench/sweep/shard.hpp"
#include "gapbench/sweep/stop_signals.hpp"

namespace gapbench {

// Exit code of a run: 0 when complete, 130 when interrupted by a signal.
inline constexpr int kExitInterrupted = 130;

// Where a run writes and what it is.
struct ResultsTarget {
  std::string kind;    // "sweep", "propagate": names the directory in messages
  std::string schema;  // meta.json's schema (results.hpp, propagate.hpp)
  std::optional<std::filesystem::path> out;
  std::optional<std::filesystem::path> resume;
  bool force = false;
  // Where a run without --out or --resume writes (a new directory named by the UTC time); none:
  // such a run writes no directory.
  std::optional<std::filesystem::path> default_root;
  std::string command_line;
  std::string count_key = "rows";  // meta.json's count of what is done ("rows", "networks")
  // How to continue an interrupted run: "<continue_command> --resume DIR<continue_note>".
  std::string continue_command;
  std::string continue_note;
  // The shard this run computes (--shard; sweep/shard.hpp), or none for the whole plan. With
  // --out OUT it writes OUT/shard-IIII-of-NNNN; a resumed directory's stored shard is taken when
  // none is given, and must equal the given one (stored_meta).
  std::optional<Shard> shard;
};

// meta.json's "shard": {"index", "count", "source"}.
nlohmann::json shard_to_json(const Shard& shard);

// The checked meta.json of --resume (results.hpp, read_resume_meta), or none without --resume.
// Refuses --resume with --out or --force. Touches no file. A --resume of a dead end (results.hpp,
// is_dead_end: its start died before its first row) has no plan to continue: `target` becomes an
// --out of that directory, so the run starts it afresh with the flags given, and says so; without
// `plan_flags_given` that is refused, since the flags' defaults are not the dead start's plan.
// With a shard: --out OUT becomes OUT/<shard_dir_name>, --shard without --out or --resume is
// refused, and a resumed directory's shard is reconciled with the given one (target.shard holds
// the run's shard on return).
std::optional<nlohmann::json> stored_meta(ResultsTarget& target, bool plan_flags_given = true);

// Refuses (UsageError naming --resume) a resumed directory whose plan differs from the flags'.
// `reuse_hint`: what to say besides "give the same flags" (e.g. ", or none to reuse its plan").
void refuse_other_plan(const std::filesystem::path& dir, bool same_plan,
                       const nlohmann::json& given_plan, const nlohmann::json& stored_plan,
                       const std::string& reuse_hint = "");

// What a results directory records of the backend that made it: meta.json's "backend" object
// (name, the selection's note, device, versions), the fields of a resume's entry, and the CPU
// threads it runs on (none on a GPU). The threads are a run attribute, not part of the plan or
// its hash: meta.json's "threads", reused by a resume without --threads, since OpenBLAS's
// rounding depends on them. CUDA_VISIBLE_DEVICES (the device a scheduler such as Slurm gave the
// process; null when unset) is recorded beside them in meta.json and in each resume's entry.
struct BackendRecord {
  nlohmann::json meta;
  nlohmann::json resume;
  std::optional<int> threads;
  // meta.json's fields for a new directory: "backend" and "threads" (when there are threads).
  nlohmann::json meta_fields() const;
};
BackendRecord backend_record(const BackendSelection& selection);

class ResultsRun {
 public:
  // Creates or resumes the directory (step 2). `meta_fields` go into a new meta.json beside the
  // common ones (schema, RNG layout, command, build, libraries, host, plan, times, status);
  // `resume_details` into the entry a resume adds. `keys` bounds the run column (seeds, or the
  // last run index + 1). A target without a directory to write opens none.
  ResultsRun(const ResultsTarget& target, std::optional<nlohmann::json> stored,
             const nlohmann::json& plan, const RowsLayout& layout, bool with_values, int points,
             std::int64_t keys, const nlohmann::json& meta_fields,
             const nlohmann::json& resume_details);

  // The directory, or nullptr when the run writes none.
  ResultsDir* dir() { return m_results ? &*m_results : nullptr; }
  nlohmann::json& meta() { return m_meta; }
  // Whether SIGINT or SIGTERM has arrived since the run started.
  bool stopped() { return m_signals.stopped(); }

  // Steps 3 and 4: runs `work` (which returns true when it was interrupted), keeping meta.json
  // up to date; `done()` is the count written into meta.json. On an exception meta.json says
  // "failed" with the error, and the exception goes on. Returns 0, or kExitInterrupted after
  // printing on stderr how to continue.
  int run(const std::function<bool()>& work, const std::function<std::int64_t()>& done);

 private:
  void finish(const std::string& status, std::int64_t count);

  ResultsTarget m_target;
  nlohmann::json m_meta;
  std::optional<ResultsDir> m_results;
  StopSignals m_signals;
};

}  // namespace gapbench
