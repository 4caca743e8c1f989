// The performance history's database: SQLite (Debian's libsqlite3), one file, by default
// results/history/history.sqlite (ignored by git: rebuildable from the benchmark JSON files by
// `gapbench history import`).
//
// Schema (version kSchemaVersion, in PRAGMA user_version; older databases are migrated in place,
// one transaction per step, newer ones refused; PRAGMA application_id 0x47424853 marks the file
// as a history, and a file without it that holds tables is refused, never written):
//   devices(id, fingerprint UNIQUE, key, description, facts JSON)
//   runs(id, device_id, commit_id, dirty, branch, commit_date, run_date, build_type, compiler,
//        cuda_version, throttled, throttle_reason, state JSON, context JSON, source,
//        content_hash UNIQUE, added_at)
//   benchmarks(id, name UNIQUE)
//   samples(run_id, benchmark_id, metric, repetition, value): every repetition of every counter
//   errors(run_id, benchmark_id, message): the benchmarks that failed in a run
//   acknowledgements(id, pattern, metric, device, commit_id, note, added_at)   (version 2)
// Dates are stored in UTC as 2026-11-28T00:22:09Z, so that they sort as text.
//
// Writers: WAL journal, a busy timeout of 60 s, and every write transaction begun with BEGIN
// IMMEDIATE, which takes the write lock up front: a writer that would otherwise upgrade a read
// lock mid-transaction fails with SQLITE_BUSY at once, whatever the timeout (with a plain BEGIN
// two writers failed 274 of 600 transactions). WAL needs every writer on one host (its index is
// shared memory): on a shared cluster filesystem, collect the JSON files and add them from one
// merge step on one host.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gapbench/history/run_facts.hpp"

struct sqlite3;

namespace gapbench::history {

inline constexpr int kSchemaVersion = 2;

// The default database path, relative to the working directory.
inline constexpr const char* kDefaultDatabase = "results/history/history.sqlite";

struct RunRow {
  std::int64_t id = 0;
  std::string device_key, fingerprint, device_description;
  std::string commit;
  bool dirty = false;
  std::string branch, commit_date, run_date, build_type;
  bool throttled = false;
  std::string throttle_reason, source;
  std::int64_t benchmarks = 0, samples = 0;
};

// One run's samples of one benchmark and metric.
struct Point {
  std::int64_t run_id = 0;
  std::string commit, commit_date, run_date;
  bool dirty = false, throttled = false;
  std::vector<double> values;  // its repetitions
  double median() const;
  // Its place in history order: the commit date, or the run date where that is unknown.
  const std::string& order_date() const { return commit_date.empty() ? run_date : commit_date; }
};

// One benchmark's metric on one device fingerprint, in history order.
struct Series {
  std::string benchmark, metric, fingerprint, device_key, device_description;
  std::vector<Point> points;
};

struct SeriesQuery {
  std::string metric = "real_time";
  std::string pattern;  // ECMAScript regex searched in the benchmark name; empty: all
  std::string device;   // a fingerprint or a device key; empty: all
  bool include_dirty = false, include_throttled = false;
};

struct Acknowledgement {
  std::int64_t id = 0;
  std::string pattern, metric, device, commit, note, added_at;
};

class Store {
 public:
  enum class Mode { kRead, kWrite };
  // Opens `path`. kRead: the file must exist (UsageError naming --db otherwise). kWrite: creates
  // it and its directory when missing. A file that is not SQLite or not a history, an in-memory
  // name, or a database error while opening: UsageError naming --db. Either migrates an older schema up to `schema_version`
  // (a parameter for the migration tests; users get the newest) and refuses a newer one.
  Store(const std::filesystem::path& path, Mode mode, int schema_version = kSchemaVersion);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  int schema_version() const;
  const std::filesystem::path& path() const { return m_path; }

  // Adds a run and its samples in one transaction: all of it or none. Returns its id and whether
  // it was added (false: a run with the same content hash is already there; nothing written).
  std::pair<std::int64_t, bool> add_run(const RunFacts& facts, const std::string& source);

  // The id of the run with this content hash, if any.
  std::optional<std::int64_t> find_run(const std::string& content_hash) const;

  std::vector<RunRow> runs() const;  // every run, in history order
  std::vector<Series> series(const SeriesQuery& query) const;
  std::vector<std::string> metrics() const;  // every metric stored, sorted

  std::int64_t acknowledge(const Acknowledgement& ack);
  std::vector<Acknowledgement> acknowledgements() const;

 private:
  void migrate(int target);
  std::filesystem::path m_path;
  sqlite3* m_db = nullptr;
};

}  // namespace gapbench::history
