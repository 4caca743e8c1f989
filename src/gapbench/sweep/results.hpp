// Results of a sweep, in one directory (results/README.md states the schema):
//   rows.csv    one row per matrix, every parameter needed to regenerate it, full precision
//   values.csv  all computed singular values, long format (point, index, rank, value), when asked
//   meta.json   schema and RNG-layout versions, command, commit, host, backend, device, library
//               versions, the plan, start and end times, status
// Rows are appended one whole line per write(2) on an O_APPEND file as each matrix completes, so
// an interrupted sweep keeps every finished row. A resumed sweep checks meta.json (schema, RNG
// layout, plan_hash) and every row against the plan; a row that fails (torn, garbled, outside the
// plan, a duplicate, a non-finite number) moves to rows.rejected.csv with its reason and is
// computed again; the (point, index) pairs kept are skipped.
#pragma once

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace gapbench {

// A parsed rows.csv line: column name -> text.
using RowFields = std::map<std::string, std::string>;

// The shape of a rows.csv: its header, the two key columns (point, then the run within it) and
// how many rows one key of each point has (empty: one). The group of rows of one key is written
// in one append and kept on resume only when all its rows are there, consecutive.
struct RowsLayout {
  std::vector<std::string> columns;
  std::string point_column = "point";
  std::string run_column = "index";
  std::vector<int> rows_per_key{};  // indexed by point
  // The run column's values of the plan: first_run .. keys - 1 (`keys` given to resume).
  std::int64_t first_run = 0;
  // Why the row of key (point, run) at `position` in its key's group is not one the plan
  // writes, as "class: detail" (classes "field", "plan", "nonfinite"), or "" when it is; such a
  // row is rejected on resume and its key computed again. None: only the key is checked.
  std::function<std::string(int point, std::uint32_t run, int position, const RowFields&)>
      row_problem{};
  // Whether key (point, run) is one this directory computes (a shard's units: sweep/shard.hpp);
  // a row of another key is rejected on resume ("shard"). None: every key of the plan.
  std::function<bool(int point, std::uint32_t run)> owns{};
};

// The files of a results directory (results/README.md), and the header of values.csv.
inline constexpr const char* kRowsCsv = "rows.csv";
inline constexpr const char* kValuesCsv = "values.csv";
inline constexpr const char* kMetaJson = "meta.json";
// value_im: the imaginary part of an eigenvalue, empty for a singular value (schema 4).
inline constexpr const char* kValuesHeader = "point,index,rank,value,value_im\n";

// A non-negative integer field (a point, index, run or rank), or nothing when the text is not one.
template <typename Int>
std::optional<Int> parse_index(const std::string& text) {
  Int v{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return v;
}

// Where a header `got` first differs from `want`: "column 2 is 'seed', expected 'index'"
// ("none" past either's end).
std::string header_difference(const std::vector<std::string>& got,
                              const std::vector<std::string>& want);

// A values.csv line: its matrix (point, index) and rank, or why it is not one, as
// "class: detail" ("field": not four fields that parse; "nonfinite": a NaN or Inf value).
struct ValuesLine {
  int point = 0;
  std::uint32_t index = 0;
  int rank = 0;
  std::string problem;  // "" when the line is one
};
ValuesLine parse_values_line(const std::string& line);

// FNV-1a 64 of the plan's canonical text (nlohmann's dump(): keys sorted, no spaces, numbers in
// their shortest round-trip form) as 16 lowercase hex digits. meta.json stores it as
// "plan_hash"; a resume refuses a plan that no longer hashes to it, and the shards of one plan
// compare it. Run attributes that do not change the rows (threads) are not in the plan.
std::string plan_hash(const nlohmann::json& plan);

// Rejected rows: rows.rejected.csv (and values.rejected.csv) in a results directory hold the
// lines a resume did not keep, each after a leading `reason` column (results/README.md).
inline constexpr const char* kRowsRejected = "rows.rejected.csv";
inline constexpr const char* kValuesRejected = "values.rejected.csv";

class ResultsDir {
 public:
  // A new results directory, with `meta` written before anything else. Refuses an existing
  // `dir` unless `force` (which replaces its results files). Throws UsageError naming --out.
  static ResultsDir create(const std::filesystem::path& dir, bool force, const RowsLayout& layout,
                           bool with_values, const nlohmann::json& meta);
  // An existing directory of a plan with `points` points and runs layout.first_run .. keys - 1
  // each. Refuses (UsageError naming --resume and the file, nothing touched) a rows.csv whose
  // header is not layout.columns. Keeps the first complete group of each key of the plan whose
  // rows pass layout.row_problem; every other line (torn, wrong column count, key outside the
  // plan, duplicate, incomplete group, row_problem) moves to rows.rejected.csv with its reason,
  // values of keys not kept to values.rejected.csv, the files rewritten atomically, and stderr
  // gets one line counting the rejects by reason. A rows.csv that is empty or holds part of
  // the header (a start that died) is a directory with no rows. Loads the rows kept.
  static ResultsDir resume(const std::filesystem::path& dir, const RowsLayout& layout,
                           bool with_values, int points, std::int64_t keys);

  ResultsDir(ResultsDir&&) noexcept;
  ResultsDir& operator=(ResultsDir&&) noexcept;
  ResultsDir(const ResultsDir&) = delete;
  ResultsDir& operator=(const ResultsDir&) = delete;
  ~ResultsDir();

  const std::filesystem::path& path() const { return m_dir; }
  bool done(int point, std::uint32_t index) const { return m_done.count({point, index}) != 0; }
  // Rows already in rows.csv when the directory was opened.
  const std::vector<RowFields>& existing_rows() const { return m_existing; }

  // One row, or the whole group of rows of one key, in one write(2).
  void append_row(const std::string& line);
  void append_values(const std::string& lines);

  nlohmann::json read_meta() const;
  // Writes meta.json atomically (a temporary file renamed over it).
  void write_meta(const nlohmann::json& meta) const;

 private:
  ResultsDir() = default;
  void open_files(const std::vector<std::string>& columns, bool fresh, bool with_values);

  // Holds an exclusive flock on DIR/.gapbench.lock for the life of this object, so two runs
  // never append to one directory. Throws UsageError naming `flag` when another holds it.
  void lock(const std::string& flag);

  std::filesystem::path m_dir;
  int m_lock_fd = -1;
  int m_rows_fd = -1;
  int m_values_fd = -1;
  std::set<std::pair<int, std::uint32_t>> m_done;
  std::vector<RowFields> m_existing;
};

// Whether `dir` is what a start that died before its first row leaves: gapbench's lock file, no
// meta.json, and nothing else but *.tmp files and a rows.csv/values.csv of at most a header.
// --resume starts such a directory afresh with the flags given, as --out would.
bool is_dead_end(const std::filesystem::path& dir);

// The meta.json of the directory a run resumes, checked: valid JSON, an object with a "plan"
// object, the known keys of their types, written with `schema` and this binary's RNG layout
// (rows of another layout would mix matrices that differ), and a plan that hashes to its
// "plan_hash" (when there is one: directories written before it have none). Throws UsageError
// naming --resume and the file (saying "in use" when another run holds the directory's lock and
// there is no meta.json yet); `kind` names the directory in messages ("sweep", "propagate").
nlohmann::json read_resume_meta(const std::filesystem::path& dir, const std::string& schema,
                                const std::string& kind);

// Marks a resumed run in its stored meta: status "running", no finish time, and one more entry
// in "resumes" (started, commit and the caller's `details`, such as command and device).
void record_resume(nlohmann::json& meta, nlohmann::json details);

// Writes `text` to `path` atomically: a temporary file in the same directory, flushed to disk,
// renamed over it.
void write_file_atomically(const std::filesystem::path& path, const std::string& text);

}  // namespace gapbench
