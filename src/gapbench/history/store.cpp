#include "gapbench/history/store.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <regex>
#include <system_error>

#include "gapbench/build_info.hpp"
#include "gapbench/compare/compare.hpp"
#include "gapbench/error.hpp"
#include "gapbench/test_hook.hpp"

namespace gapbench::history {
namespace {

// PRAGMA application_id of a history database ("GBHS"): a file without it is not one.
constexpr std::int64_t kApplicationId = 0x47424853;

// The schema, one step per version: step v takes a database from version v to v + 1.
const std::vector<const char*>& migrations() {
  static const std::vector<const char*> steps = {
      // 0 -> 1: the runs and their samples.
      R"sql(
      CREATE TABLE devices(
        id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL UNIQUE, key TEXT NOT NULL,
        description TEXT NOT NULL, facts TEXT NOT NULL);
      CREATE TABLE runs(
        id INTEGER PRIMARY KEY, device_id INTEGER NOT NULL REFERENCES devices(id),
        commit_id TEXT NOT NULL, dirty INTEGER NOT NULL, branch TEXT NOT NULL,
        commit_date TEXT, run_date TEXT NOT NULL, build_type TEXT NOT NULL,
        compiler TEXT NOT NULL, cuda_version TEXT NOT NULL, throttled INTEGER NOT NULL,
        throttle_reason TEXT NOT NULL, state TEXT NOT NULL, context TEXT NOT NULL,
        source TEXT NOT NULL, content_hash TEXT NOT NULL UNIQUE, added_at TEXT NOT NULL);
      CREATE TABLE benchmarks(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
      CREATE TABLE samples(
        run_id INTEGER NOT NULL REFERENCES runs(id), benchmark_id INTEGER NOT NULL
        REFERENCES benchmarks(id), metric TEXT NOT NULL, repetition INTEGER NOT NULL,
        value REAL NOT NULL, PRIMARY KEY(run_id, benchmark_id, metric, repetition))
        WITHOUT ROWID;
      CREATE TABLE errors(
        run_id INTEGER NOT NULL REFERENCES runs(id), benchmark_id INTEGER NOT NULL
        REFERENCES benchmarks(id), message TEXT NOT NULL);
      )sql",
      // 1 -> 2: accepted changes, and samples found by metric.
      R"sql(
      CREATE TABLE acknowledgements(
        id INTEGER PRIMARY KEY, pattern TEXT NOT NULL, metric TEXT NOT NULL,
        device TEXT NOT NULL, commit_id TEXT NOT NULL, note TEXT NOT NULL,
        added_at TEXT NOT NULL);
      CREATE INDEX samples_by_metric ON samples(metric, benchmark_id);
      )sql",
  };
  return steps;
}

// A prepared statement, finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : m_db(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &m_stmt, nullptr) != SQLITE_OK) {
      throw Error(fmt::format("history database: {} in: {}", sqlite3_errmsg(db), sql));
    }
  }
  ~Statement() { sqlite3_finalize(m_stmt); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, const std::string& v) {
    check(sqlite3_bind_text(m_stmt, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Statement& bind(int i, std::int64_t v) {
    check(sqlite3_bind_int64(m_stmt, i, v));
    return *this;
  }
  Statement& bind(int i, double v) {
    check(sqlite3_bind_double(m_stmt, i, v));
    return *this;
  }
  Statement& bind_null(int i) {
    check(sqlite3_bind_null(m_stmt, i));
    return *this;
  }
  // Steps once: true while a row is there.
  bool step() {
    const int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    check(rc);
    return false;
  }
  void run() {
    while (step()) {
    }
    sqlite3_reset(m_stmt);
  }
  void reset() {
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(m_stmt, col); }
  double real(int col) const { return sqlite3_column_double(m_stmt, col); }
  bool is_null(int col) const { return sqlite3_column_type(m_stmt, col) == SQLITE_NULL; }
  std::string text(int col) const {
    const auto* p = sqlite3_column_text(m_stmt, col);
    return p ? reinterpret_cast<const char*>(p) : "";
  }

 private:
  void check(int rc) const {
    if (rc != SQLITE_OK) throw Error(fmt::format("history database: {}", sqlite3_errmsg(m_db)));
  }
  sqlite3* m_db;
  sqlite3_stmt* m_stmt = nullptr;
};

void exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string text = message ? message : sqlite3_errmsg(db);
    sqlite3_free(message);
    throw Error(fmt::format("history database: {}", text));
  }
}

// A write transaction begun with BEGIN IMMEDIATE; rolled back unless committed.
class WriteTransaction {
 public:
  explicit WriteTransaction(sqlite3* db) : m_db(db) { exec(db, "BEGIN IMMEDIATE"); }
  ~WriteTransaction() {
    if (!m_done) sqlite3_exec(m_db, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    exec(m_db, "COMMIT");
    m_done = true;
  }

 private:
  sqlite3* m_db;
  bool m_done = false;
};

std::int64_t id_of(sqlite3* db, const char* select, const char* insert, const std::string& key) {
  Statement find(db, select);
  find.bind(1, key);
  if (find.step()) return find.integer(0);
  Statement add(db, insert);
  add.bind(1, key);
  add.run();
  return sqlite3_last_insert_rowid(db);
}

}  // namespace

double Point::median() const { return median_of(values); }

Store::Store(const std::filesystem::path& path, Mode mode, int schema_version) : m_path(path) {
  const std::string name = path.string();
  // SQLite's in-memory and URI names would take the runs nowhere.
  if (name.empty() || name == ":memory:" || name.rfind("file:", 0) == 0) {
    throw UsageError(fmt::format("--db '{}': give the path of a database file", name));
  }
  std::error_code ec;
  if (mode == Mode::kRead && !std::filesystem::exists(path, ec)) {
    throw UsageError(fmt::format(
        "--db {}: no history database there; create it with `gapbench history import "
        "results/baselines` or `gapbench history add BENCH.json`",
        name));
  }
  if (std::filesystem::is_directory(path, ec)) {
    throw UsageError(fmt::format("--db {}: is a directory; give a database file", name));
  }
  if (mode == Mode::kWrite && path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), ec);
  }
  const int flags = mode == Mode::kRead ? SQLITE_OPEN_READWRITE
                                        : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(name.c_str(), &m_db, flags, nullptr) != SQLITE_OK) {
    const std::string what = m_db ? sqlite3_errmsg(m_db) : "out of memory";
    sqlite3_close(m_db);
    throw UsageError(fmt::format("--db {}: cannot open: {}", name, what));
  }
  try {
    sqlite3_busy_timeout(m_db, 60000);
    // What the file is: a history (its application_id), a new one (no table, version 0), or
    // something else, which is left as it is. Reading a file that is not SQLite fails here.
    std::int64_t application = 0, table_count = 0;
    {  // statements finalized before the journal mode changes (no transaction may be open)
      Statement id(m_db, "PRAGMA application_id");
      application = id.step() ? id.integer(0) : 0;
      Statement tables(m_db, "SELECT COUNT(*) FROM sqlite_master");
      table_count = tables.step() ? tables.integer(0) : 0;
    }
    if (application != kApplicationId) {
      if (table_count > 0 || Store::schema_version() != 0) {
        throw UsageError(fmt::format(
            "--db {}: not a gapbench history database (another application's tables); give "
            "another --db",
            name));
      }
      if (mode == Mode::kRead) {
        throw UsageError(fmt::format(
            "--db {}: an empty file, not a history yet; create it with `gapbench history "
            "import results/baselines` or `gapbench history add BENCH.json`",
            name));
      }
    }
    exec(m_db, "PRAGMA foreign_keys = ON");
    exec(m_db, "PRAGMA journal_mode = WAL");
    migrate(schema_version);
  } catch (const UsageError&) {
    sqlite3_close(m_db);
    throw;
  } catch (const Error& e) {
    sqlite3_close(m_db);
    throw UsageError(fmt::format("--db {}: {}", name, e.what()));
  }
}

Store::~Store() { sqlite3_close(m_db); }

int Store::schema_version() const {
  Statement s(m_db, "PRAGMA user_version");
  return s.step() ? static_cast<int>(s.integer(0)) : 0;
}

void Store::migrate(int target) {
  const int newest = static_cast<int>(migrations().size());
  const int current = schema_version();
  if (current > newest) {
    throw UsageError(fmt::format(
        "--db {}: schema version {} is newer than this gapbench's ({}); use a newer gapbench",
        m_path.string(), current, newest));
  }
  for (int v = current; v < std::min(target, newest); ++v) {
    WriteTransaction tx(m_db);
    // Another process may have migrated it meanwhile: read the version under the lock.
    if (schema_version() != v) continue;
    exec(m_db, migrations()[v]);
    if (v == 0) exec(m_db, fmt::format("PRAGMA application_id = {}", kApplicationId).c_str());
    exec(m_db, fmt::format("PRAGMA user_version = {}", v + 1).c_str());
    tx.commit();
  }
}

std::optional<std::int64_t> Store::find_run(const std::string& content_hash) const {
  Statement s(m_db, "SELECT id FROM runs WHERE content_hash = ?1");
  s.bind(1, content_hash);
  if (s.step()) return s.integer(0);
  return std::nullopt;
}

std::pair<std::int64_t, bool> Store::add_run(const RunFacts& facts, const std::string& source) {
  WriteTransaction tx(m_db);
  test_hold_point("history-transaction");
  if (const auto id = find_run(facts.content_hash)) return {*id, false};
  std::int64_t device_id = 0;
  {
    Statement find(m_db, "SELECT id FROM devices WHERE fingerprint = ?1");
    find.bind(1, facts.fingerprint);
    if (find.step()) {
      device_id = find.integer(0);
    } else {
      Statement add(m_db,
                    "INSERT INTO devices(fingerprint, key, description, facts) "
                    "VALUES(?1, ?2, ?3, ?4)");
      add.bind(1, facts.fingerprint).bind(2, facts.device_key).bind(3, facts.device_description);
      add.bind(4, facts.device_facts.dump());
      add.run();
      device_id = sqlite3_last_insert_rowid(m_db);
    }
  }
  Statement run(m_db,
                "INSERT INTO runs(device_id, commit_id, dirty, branch, commit_date, run_date, "
                "build_type, compiler, cuda_version, throttled, throttle_reason, state, "
                "context, source, content_hash, added_at) "
                "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
  run.bind(1, device_id).bind(2, facts.commit).bind(3, std::int64_t{facts.dirty});
  run.bind(4, facts.branch);
  if (facts.commit_date.empty()) {
    run.bind_null(5);
  } else {
    run.bind(5, facts.commit_date);
  }
  run.bind(6, facts.run_date).bind(7, facts.build_type).bind(8, facts.compiler);
  run.bind(9, facts.cuda_version).bind(10, std::int64_t{facts.throttled});
  run.bind(11, facts.throttle_reason).bind(12, facts.state.dump());
  run.bind(13, facts.context.dump()).bind(14, source).bind(15, facts.content_hash);
  run.bind(16, utc_now_iso());
  run.run();
  const std::int64_t run_id = sqlite3_last_insert_rowid(m_db);

  Statement sample(m_db,
                   "INSERT INTO samples(run_id, benchmark_id, metric, repetition, value) "
                   "VALUES(?1, ?2, ?3, ?4, ?5)");
  Statement error(m_db, "INSERT INTO errors(run_id, benchmark_id, message) VALUES(?1, ?2, ?3)");
  const std::size_t half = facts.benchmarks.size() / 2;
  for (std::size_t i = 0; i < facts.benchmarks.size(); ++i) {
    if (i == half) test_pause_point("history-insert");
    const BenchmarkSamples& b = facts.benchmarks[i];
    const std::int64_t benchmark_id =
        id_of(m_db, "SELECT id FROM benchmarks WHERE name = ?1",
              "INSERT INTO benchmarks(name) VALUES(?1)", b.name);
    for (const std::string& message : b.errors) {
      error.bind(1, run_id).bind(2, benchmark_id).bind(3, message);
      error.run();
    }
    for (const auto& [metric, values] : b.metrics) {
      for (std::size_t r = 0; r < values.size(); ++r) {
        sample.bind(1, run_id).bind(2, benchmark_id).bind(3, metric);
        sample.bind(4, static_cast<std::int64_t>(r)).bind(5, values[r]);
        sample.run();
      }
    }
  }
  tx.commit();
  return {run_id, true};
}

namespace {

// The order of history: by commit date (the run date where the commit's is unknown), then by
// run date, then as added.
constexpr const char* kHistoryOrder =
    "ORDER BY COALESCE(r.commit_date, r.run_date), r.run_date, r.id";

}  // namespace

std::vector<RunRow> Store::runs() const {
  Statement s(m_db, fmt::format(
                        "SELECT r.id, d.key, d.fingerprint, d.description, r.commit_id, r.dirty, "
                        "r.branch, COALESCE(r.commit_date, ''), r.run_date, r.build_type, "
                        "r.throttled, r.throttle_reason, r.source, "
                        "(SELECT COUNT(DISTINCT benchmark_id) FROM samples WHERE run_id = r.id), "
                        "(SELECT COUNT(*) FROM samples WHERE run_id = r.id) "
                        "FROM runs r JOIN devices d ON d.id = r.device_id {}",
                        kHistoryOrder)
                        .c_str());
  std::vector<RunRow> rows;
  while (s.step()) {
    RunRow row;
    row.id = s.integer(0);
    row.device_key = s.text(1);
    row.fingerprint = s.text(2);
    row.device_description = s.text(3);
    row.commit = s.text(4);
    row.dirty = s.integer(5) != 0;
    row.branch = s.text(6);
    row.commit_date = s.text(7);
    row.run_date = s.text(8);
    row.build_type = s.text(9);
    row.throttled = s.integer(10) != 0;
    row.throttle_reason = s.text(11);
    row.source = s.text(12);
    row.benchmarks = s.integer(13);
    row.samples = s.integer(14);
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<std::string> Store::metrics() const {
  Statement s(m_db, "SELECT DISTINCT metric FROM samples ORDER BY metric");
  std::vector<std::string> out;
  while (s.step()) out.push_back(s.text(0));
  return out;
}

std::vector<Series> Store::series(const SeriesQuery& query) const {
  std::regex pattern;
  try {
    pattern = std::regex(query.pattern.empty() ? "." : query.pattern);
  } catch (const std::regex_error& e) {
    throw UsageError(fmt::format("REGEX '{}': not a regular expression: {}", query.pattern,
                                 e.what()));
  }
  std::map<std::int64_t, std::string> names;  // the benchmarks the pattern selects
  {
    Statement s(m_db, "SELECT id, name FROM benchmarks");
    while (s.step()) {
      std::string name = s.text(1);
      if (std::regex_search(name, pattern)) names[s.integer(0)] = std::move(name);
    }
  }
  Statement s(m_db, fmt::format("SELECT r.id, d.fingerprint, d.key, d.description, r.commit_id, "
                                "COALESCE(r.commit_date, ''), r.run_date, r.dirty, r.throttled, "
                                "sa.benchmark_id, sa.value "
                                "FROM samples sa JOIN runs r ON r.id = sa.run_id "
                                "JOIN devices d ON d.id = r.device_id WHERE sa.metric = ?1 "
                                "AND (?2 = '' OR d.fingerprint = ?2 OR d.key = ?2) "
                                "AND (?3 OR r.dirty = 0) AND (?4 OR r.throttled = 0) {}, "
                                "sa.benchmark_id, sa.repetition",
                                kHistoryOrder)
                        .c_str());
  s.bind(1, query.metric).bind(2, query.device);
  s.bind(3, std::int64_t{query.include_dirty}).bind(4, std::int64_t{query.include_throttled});
  std::map<std::pair<std::string, std::string>, Series> by_key;  // (fingerprint, benchmark)
  while (s.step()) {
    const auto name = names.find(s.integer(9));
    if (name == names.end()) continue;
    Series& series = by_key[{s.text(1), name->second}];
    if (series.points.empty()) {
      series.benchmark = name->second;
      series.metric = query.metric;
      series.fingerprint = s.text(1);
      series.device_key = s.text(2);
      series.device_description = s.text(3);
    }
    const std::int64_t run_id = s.integer(0);
    if (series.points.empty() || series.points.back().run_id != run_id) {
      Point p;
      p.run_id = run_id;
      p.commit = s.text(4);
      p.commit_date = s.text(5);
      p.run_date = s.text(6);
      p.dirty = s.integer(7) != 0;
      p.throttled = s.integer(8) != 0;
      series.points.push_back(std::move(p));
    }
    series.points.back().values.push_back(s.real(10));
  }
  std::vector<Series> out;
  for (auto& [key, series] : by_key) out.push_back(std::move(series));
  return out;
}

std::int64_t Store::acknowledge(const Acknowledgement& ack) {
  WriteTransaction tx(m_db);
  Statement s(m_db,
              "INSERT INTO acknowledgements(pattern, metric, device, commit_id, note, added_at) "
              "VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
  s.bind(1, ack.pattern).bind(2, ack.metric).bind(3, ack.device).bind(4, ack.commit);
  s.bind(5, ack.note).bind(6, utc_now_iso());
  s.run();
  const std::int64_t id = sqlite3_last_insert_rowid(m_db);
  tx.commit();
  return id;
}

std::vector<Acknowledgement> Store::acknowledgements() const {
  if (schema_version() < 2) return {};
  Statement s(m_db,
              "SELECT id, pattern, metric, device, commit_id, note, added_at "
              "FROM acknowledgements ORDER BY id");
  std::vector<Acknowledgement> out;
  while (s.step()) {
    out.push_back({s.integer(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5),
                   s.text(6)});
  }
  return out;
}

}  // namespace gapbench::history
