#include "gapbench/sweep/results.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "gapbench/build_info.hpp"
#include "gapbench/error.hpp"
#include "gapbench/rng.hpp"
#include "gapbench/sweep/rows.hpp"
#include "gapbench/test_hook.hpp"
#include "gapbench/text.hpp"

namespace gapbench {
namespace fs = std::filesystem;
namespace {

constexpr const char* kLock = ".gapbench.lock";

void write_all(int fd, const std::string& text, const fs::path& path) {
  // One write(2) per line on an O_APPEND file: a line is either whole or (if the process dies
  // mid-call) torn at the end, which resume discards.
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)));
    }
    done += static_cast<std::size_t>(n);
  }
}

// Appends `text` whole or not at all: when a write fails (a full disk), the file is cut back to its
// length before, so rows.csv and values.csv keep whole lines only.
void append_whole(int fd, const std::string& text, const fs::path& path) {
  const off_t before = ::lseek(fd, 0, SEEK_END);
  try {
    write_all(fd, text, path);
  } catch (...) {
    const int error = errno;
    // Best effort: when even the cut fails, resume drops the torn line.
    if (before >= 0) [[maybe_unused]] const int cut = ::ftruncate(fd, before);
    errno = error;
    throw;
  }
}

// Whether another process holds `dir`'s lock (ResultsDir::lock). Takes nothing: the probe's own
// lock is released at once.
bool lock_held(const fs::path& dir) {
  const int fd = ::open((dir / kLock).c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return held;
}

std::string held_results(const fs::path& dir, const nlohmann::json& meta);

}  // namespace

bool is_dead_end(const fs::path& dir) {
  std::error_code ec;
  // The lock file says gapbench made it: a plain directory is never taken for one.
  return fs::is_directory(dir, ec) && fs::exists(dir / kLock, ec) && !fs::exists(dir / kMetaJson, ec) &&
         held_results(dir, nlohmann::json::object()).empty();
}

std::string plan_hash(const nlohmann::json& plan) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64: offset basis and prime
  for (const unsigned char c : plan.dump()) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return fmt::format("{:016x}", h);
}

nlohmann::json read_resume_meta(const fs::path& dir, const std::string& schema,
                                const std::string& kind) {
  const fs::path meta_path = dir / kMetaJson;
  if (!fs::is_regular_file(meta_path) && lock_held(dir)) {
    throw UsageError(fmt::format(
        "--resume: '{}' is in use by another gapbench run; wait for it or choose another "
        "directory",
        dir.string()));
  }
  if (!fs::is_regular_file(meta_path)) {
    throw UsageError(
        fmt::format("--resume: '{}' is not a {} directory (no {}); start it again with --out {}",
                    dir.string(), kind, kMetaJson, dir.string()));
  }
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(read_file(meta_path));
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(
        fmt::format("--resume: {} is not valid JSON ({})", meta_path.string(), e.what()));
  }
  if (!meta.is_object() || !meta.contains("plan") || !meta.at("plan").is_object()) {
    throw UsageError(fmt::format("--resume: {} has no plan object", meta_path.string()));
  }
  const auto refuse_type = [&](const char* key, bool ok, const char* what) {
    if (meta.contains(key) && !ok) {
      throw UsageError(
          fmt::format("--resume: {}: \"{}\" is not {}", meta_path.string(), key, what));
    }
  };
  refuse_type("schema", meta.value("schema", nlohmann::json()).is_string(), "a string");
  refuse_type("rng", meta.value("rng", nlohmann::json()).is_object(), "an object");
  refuse_type("status", meta.value("status", nlohmann::json()).is_string(), "a string");
  refuse_type("resumes", meta.value("resumes", nlohmann::json()).is_array(), "an array");
  refuse_type("plan_hash", meta.value("plan_hash", nlohmann::json()).is_string(), "a string");
  refuse_type("threads", meta.value("threads", nlohmann::json()).is_number_integer(), "an integer");
  const nlohmann::json stored_schema = meta.value("schema", nlohmann::json());
  const nlohmann::json rng_version = meta.contains("rng") && meta.at("rng").is_object()
                                         ? meta.at("rng").value("version", nlohmann::json())
                                         : nlohmann::json();
  if (stored_schema != schema || rng_version != kRngLayoutVersion) {
    throw UsageError(fmt::format(
        "--resume: '{}' was written with schema {} and RNG layout {}; this gapbench writes {} "
        "and layout {}: start a new {} with --out",
        dir.string(), stored_schema.dump(), rng_version.dump(), schema, kRngLayoutVersion, kind));
  }
  if (meta.contains("plan_hash")) {
    const std::string stored_hash = meta.at("plan_hash").get<std::string>();
    const std::string hash = plan_hash(meta.at("plan"));
    if (stored_hash != hash) {
      throw UsageError(fmt::format(
          "--resume: {}: the plan was edited (it hashes to {}, plan_hash says {}); restore it, "
          "or start a new {} with --out",
          meta_path.string(), hash, stored_hash, kind));
    }
  }
  return meta;
}

void record_resume(nlohmann::json& meta, nlohmann::json details) {
  meta["status"] = "running";
  meta["finished"] = nullptr;
  if (!meta["resumes"].is_array()) meta["resumes"] = nlohmann::json::array();
  details["started"] = utc_now_iso();
  details["commit"] = git_commit();
  meta["resumes"].push_back(std::move(details));
}

void write_file_atomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  // Errors name the file being written, and the temporary file it goes through.
  const auto fail = [&](const char* what) {
    return Error(fmt::format("cannot {} {} (through {}): {}", what, path.string(),
                             tmp.filename().string(), std::strerror(errno)));
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw fail("write");
  try {
    write_all(fd, text, path);
    if (::fsync(fd) != 0) throw fail("flush");
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  test_pause_point("atomic-tmp");
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const Error e = fail("rename into place");
    ::unlink(tmp.c_str());
    throw e;
  }
}

std::string header_difference(const std::vector<std::string>& got,
                              const std::vector<std::string>& want) {
  std::size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  const auto name = [](const std::vector<std::string>& c, std::size_t at) {
    return at < c.size() ? "'" + c[at] + "'" : std::string("none");
  };
  return fmt::format("column {} is {}, expected {}", i + 1, name(got, i), name(want, i));
}

ValuesLine parse_values_line(const std::string& line) {
  const std::vector<std::string> f = split(line, ',');
  const bool shaped = f.size() == 5;
  const auto point = shaped ? parse_index<int>(f[0]) : std::nullopt;
  const auto index = shaped ? parse_index<std::uint32_t>(f[1]) : std::nullopt;
  const auto rank = shaped ? parse_index<int>(f[2]) : std::nullopt;
  // A number field, or nothing when the text is not one; `optional`: empty is no value.
  const auto number = [](const std::string& t, bool optional) -> std::optional<double> {
    if (t.empty()) return optional ? std::optional<double>(0.0) : std::nullopt;
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (end != t.c_str() + t.size()) return std::nullopt;
    return v;
  };
  const auto value = shaped ? number(f[3], false) : std::nullopt;
  const auto value_im = shaped ? number(f[4], true) : std::nullopt;
  if (!point || !index || !rank || !value || !value_im) {
    return {0, 0, 0, "field: not point,index,rank,value,value_im"};
  }
  if (!std::isfinite(*value) || !std::isfinite(*value_im)) {
    return {0, 0, 0, "nonfinite: the value is not finite"};
  }
  return {*point, *index, *rank, ""};
}

void ResultsDir::lock(const std::string& flag) {
  const fs::path path = m_dir / kLock;
  m_lock_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (m_lock_fd < 0) {
    throw UsageError(
        fmt::format("{}: cannot open '{}': {}", flag, path.string(), std::strerror(errno)));
  }
  if (::flock(m_lock_fd, LOCK_EX | LOCK_NB) != 0) {
    throw UsageError(
        fmt::format("{}: '{}' is in use by another gapbench run; wait for it or "
                    "choose another directory",
                    flag, m_dir.string()));
  }
}

namespace {

// Removes the *.tmp files an atomic write that died left behind (write_file_atomically).
void remove_stale_tmp(const fs::path& dir) {
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".tmp" && e.is_regular_file(ec)) fs::remove(e.path(), ec);
  }
}

// Why `dir` holds results a new run must not replace, or "" when it holds none: only the lock,
// *.tmp files, a meta.json of the same plan as `meta`'s, and a rows.csv and values.csv of at most
// a header (what a start that died before its first row leaves).
std::string held_results(const fs::path& dir, const nlohmann::json& meta) {
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name == kLock || e.path().extension() == ".tmp") continue;
    if (name == kRowsCsv || name == kValuesCsv) {
      const std::string text = read_file(e.path());
      const std::size_t newline = text.find('\n');
      if (newline == std::string::npos || newline + 1 == text.size()) continue;
      return fmt::format("{} holds rows", name);
    }
    if (name == kMetaJson) {
      nlohmann::json stored;
      try {
        stored = nlohmann::json::parse(read_file(e.path()));
      } catch (const nlohmann::json::exception&) {
        return "its meta.json is not valid JSON";
      }
      if (!stored.is_object() || stored.value("plan", nlohmann::json()) != meta.at("plan")) {
        return "it holds a run of another plan";
      }
      continue;
    }
    return fmt::format("it holds {}", name);
  }
  return "";
}

}  // namespace

ResultsDir ResultsDir::create(const fs::path& dir, bool force, const RowsLayout& layout,
                              bool with_values, const nlohmann::json& meta) {
  std::error_code ec;
  if (dir.has_parent_path()) fs::create_directories(dir.parent_path(), ec);
  // mkdir claims a new directory atomically: of two runs started on it at once one makes it, and
  // the other decides about it (in use, reusable or taken) only while holding its lock.
  const bool made = ::mkdir(dir.c_str(), 0755) == 0;
  if ((!made && errno != EEXIST) || !fs::is_directory(dir)) {
    throw UsageError(fmt::format("--out: cannot create '{}': {}", dir.string(),
                                 made ? "not a directory" : std::strerror(errno)));
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    throw UsageError(
        fmt::format("--out: '{}' is not writable: {}", dir.string(), std::strerror(errno)));
  }
  const std::string exists = fmt::format(
      "--out: '{}' exists already{{}}; continue it with --resume {} or replace it with --force",
      dir.string(), dir.string());
  // The lock file is made only in a directory that is new, empty, gapbench's, or replaced.
  if (!made && !force && !fs::exists(dir / ".gapbench.lock") && !fs::is_empty(dir, ec)) {
    throw UsageError(fmt::vformat(exists, fmt::make_format_args("")));
  }
  ResultsDir r;
  r.m_dir = dir;
  r.lock("--out");
  test_pause_point("directory");
  if (!made && !force) {
    const std::string held = held_results(dir, meta);
    if (!held.empty()) {
      throw UsageError(fmt::vformat(exists, fmt::make_format_args(" (" + held + ")")));
    }
    if (!fs::is_empty(dir, ec)) {
      std::cerr << fmt::format(
          "--out: '{}' holds no results (a start that stopped before its first row); starting "
          "it again\n",
          dir.string());
    }
  }
  for (const char* name : {kRowsCsv, kValuesCsv, kMetaJson, kRowsRejected, kValuesRejected}) {
    if (force || !made) fs::remove(dir / name, ec);
  }
  remove_stale_tmp(dir);
  r.write_meta(meta);  // first: a directory with rows always says what made them
  r.open_files(layout.columns, /*fresh=*/true, with_values);
  return r;
}

namespace {

// The lines a resume does not keep, by reason: written to the rejects file (reason first) and
// counted by class (the text before ':') for the message.
class Rejects {
 public:
  void add(const std::string& reason, const std::string& line) {
    const std::size_t colon = reason.find(": ");
    const std::string cls = reason.substr(0, colon);
    const std::string detail = colon == std::string::npos ? cls : reason.substr(colon + 2);
    auto [it, fresh] = m_classes.try_emplace(cls, 0, detail);
    ++it->second.first;
    std::string field = reason;
    std::replace(field.begin(), field.end(), ',', ';');
    m_lines += field + ',' + line + '\n';
  }
  std::int64_t count() const {
    std::int64_t n = 0;
    for (const auto& [cls, c] : m_classes) n += c.first;
    return n;
  }
  // "2 duplicate, 1 plan (column T is '100', the point's '64')": each class with its first
  // reason's detail, when it has one.
  std::string summary() const {
    std::string out;
    for (const auto& [cls, c] : m_classes) {
      out += fmt::format("{}{} {}{}", out.empty() ? "" : ", ", c.first, cls,
                         c.second == cls ? "" : " (" + c.second + ")");
    }
    return out;
  }
  // Appends the rejected lines to `path` (made with the header "reason,<header>" when new).
  void save(const fs::path& path, const std::string& header) const {
    if (m_lines.empty()) return;
    std::string text = fs::exists(path) ? read_file(path) : "reason," + header + '\n';
    if (!text.empty() && text.back() != '\n') text += '\n';
    write_file_atomically(path, text + m_lines);
  }

 private:
  std::map<std::string, std::pair<std::int64_t, std::string>> m_classes;
  std::string m_lines;
};

// Whether `text` is empty or the beginning of `header`: a rows.csv that a start which died
// before its first row left behind.
bool holds_no_rows(const std::string& text, const std::string& header) {
  return header.compare(0, text.size(), text) == 0;
}

}  // namespace

ResultsDir ResultsDir::resume(const fs::path& dir, const RowsLayout& layout, bool with_values,
                              int points, std::int64_t keys) {
  if (!fs::is_regular_file(dir / kMetaJson)) {
    throw UsageError(fmt::format(
        "--resume: '{}' is not a results directory (no {}); start it again with --out {}",
        dir.string(), kMetaJson, dir.string()));
  }
  ResultsDir r;
  r.m_dir = dir;
  r.lock("--resume");
  remove_stale_tmp(dir);
  const fs::path rows_path = dir / kRowsCsv;
  const std::string header_line = csv_line(layout.columns);
  const std::string on_disk = fs::exists(rows_path) ? read_file(rows_path) : std::string();
  const std::string text = holds_no_rows(on_disk, header_line) ? header_line : on_disk;
  // The header first: a file of other columns is another plan or version, refused untouched.
  const std::size_t header_end = text.find('\n');
  const std::vector<std::string> header =
      split(text.substr(0, header_end == std::string::npos ? text.size() : header_end), ',');
  if (header_end == std::string::npos || header != layout.columns) {
    throw UsageError(fmt::format(
        "--resume: {}: the header is not the one this plan writes ({}); it belongs to another "
        "plan or version: start a new run with --out",
        rows_path.string(), header_difference(header, layout.columns)));
  }
  Rejects rejects;
  std::string kept = header_line;
  std::int64_t lines = 0;
  // Consecutive rows of one key form a group; the first rows_per_key of a group are kept when
  // they are all there and the key is of the plan and not seen before.
  std::optional<std::pair<int, std::uint32_t>> group_key;
  constexpr std::pair<int, std::uint32_t> kNoKey{-1, 0};
  std::pair<int, std::uint32_t> spoiled_key = kNoKey;
  std::vector<std::pair<std::string, RowFields>> group;
  const auto group_size = [&](int point) {
    const auto p = static_cast<std::size_t>(point);
    return p < layout.rows_per_key.size()
               ? static_cast<std::size_t>(std::max(layout.rows_per_key[p], 1))
               : std::size_t{1};
  };
  const auto close_group = [&] {
    if (!group_key) return;
    const std::size_t size = group_size(group_key->first);
    const bool complete = group.size() >= size;
    const bool fresh = complete && r.m_done.insert(*group_key).second;
    for (std::size_t i = 0; i < group.size(); ++i) {
      if (fresh && i < size) {
        kept += group[i].first + '\n';
        r.m_existing.push_back(std::move(group[i].second));
      } else {
        rejects.add(complete ? "duplicate" : "incomplete: the key's rows are not all there",
                    group[i].first);
      }
    }
    group_key.reset();
    group.clear();
  };
  std::size_t at = header_end + 1;
  while (at < text.size()) {
    const std::size_t end = text.find('\n', at);
    const std::string line =
        text.substr(at, end == std::string::npos ? std::string::npos : end - at);
    at = end == std::string::npos ? text.size() : end + 1;
    ++lines;
    const auto reject = [&](const std::string& reason) {
      close_group();
      rejects.add(reason, line);
    };
    if (end == std::string::npos) {  // no newline: the write a kill interrupted
      reject("torn: the last line has no newline");
      continue;
    }
    const std::vector<std::string> fields = split(line, ',');
    if (fields.size() != header.size()) {
      reject(fmt::format("columns: {} fields, the header has {}", fields.size(), header.size()));
      continue;
    }
    RowFields row;
    for (std::size_t i = 0; i < header.size(); ++i) row[header[i]] = fields[i];
    const auto point = parse_index<int>(row[layout.point_column]);
    const auto index = parse_index<std::uint32_t>(row[layout.run_column]);
    if (!point || !index || *point >= points || *index < layout.first_run || *index >= keys) {
      reject(fmt::format("key: ({}, {}) is not a key of the plan", row[layout.point_column],
                         row[layout.run_column]));
      continue;
    }
    if (layout.owns && !layout.owns(*point, *index)) {
      reject(fmt::format("shard: ({}, {}) is a key of another shard", *point, *index));
      continue;
    }
    const std::pair<int, std::uint32_t> key{*point, *index};
    // The rows after a rejected one of the same group cannot make it whole.
    if (spoiled_key == key) {
      rejects.add("incomplete: the key's rows are not all there", line);
      continue;
    }
    spoiled_key = kNoKey;
    // A new key, or the same key once its group is whole (a copy: a duplicate when it closes).
    if (group_key != key || group.size() >= group_size(key.first)) close_group();
    if (layout.row_problem) {
      const std::string problem =
          layout.row_problem(*point, *index, static_cast<int>(group.size()), row);
      if (!problem.empty()) {
        reject(problem);
        if (group_size(key.first) > 1) spoiled_key = key;
        continue;
      }
    }
    group_key = key;
    group.emplace_back(line, std::move(row));
  }
  close_group();
  // values.csv: only the values of matrices whose row is kept.
  Rejects value_rejects;
  std::string vkept;
  const bool values_exist = fs::exists(dir / kValuesCsv);
  std::string vtext;
  if (values_exist) {
    vtext = read_file(dir / kValuesCsv);
    if (holds_no_rows(vtext, kValuesHeader)) vtext = kValuesHeader;
    if (vtext.compare(0, std::strlen(kValuesHeader), kValuesHeader) != 0) {
      throw UsageError(fmt::format(
          "--resume: {}: the header is not '{}'; it belongs to another version: start a new run "
          "with --out",
          (dir / kValuesCsv).string(), std::string(kValuesHeader, std::strlen(kValuesHeader) - 1)));
    }
    const std::vector<std::string> vlines = split_lines(vtext);
    const bool torn = vtext.back() != '\n';
    vkept = kValuesHeader;
    for (std::size_t i = 1; i < vlines.size(); ++i) {
      const ValuesLine v = parse_values_line(vlines[i]);
      if (torn && i + 1 == vlines.size()) {
        value_rejects.add("torn: the last line has no newline", vlines[i]);
      } else if (!v.problem.empty()) {
        value_rejects.add(v.problem, vlines[i]);
      } else if (!r.m_done.count({v.point, v.index})) {
        value_rejects.add("no-row: its matrix has no row kept", vlines[i]);
      } else {
        vkept += vlines[i] + '\n';
      }
    }
  }
  if (rejects.count() > 0) {
    rejects.save(dir / kRowsRejected, header_line.substr(0, header_line.size() - 1));
    std::cerr << fmt::format(
        "--resume: {} of {} rows of {} rejected: {}; moved to {}, computed again\n",
        rejects.count(), lines, rows_path.string(), rejects.summary(), kRowsRejected);
  }
  value_rejects.save(dir / kValuesRejected,
                     std::string(kValuesHeader, std::strlen(kValuesHeader) - 1));
  if (kept != on_disk) write_file_atomically(rows_path, kept);
  if (values_exist && vkept != vtext) write_file_atomically(dir / kValuesCsv, vkept);
  r.open_files(layout.columns, /*fresh=*/false, with_values);
  return r;
}

void ResultsDir::open_files(const std::vector<std::string>& columns, bool fresh, bool with_values) {
  const int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;
  const bool new_values = with_values && !fs::exists(m_dir / kValuesCsv);
  const auto open_append = [&](const char* name) {
    const int fd = ::open((m_dir / name).c_str(), flags, 0644);
    if (fd < 0) {
      throw Error(fmt::format("cannot open {}: {}", (m_dir / name).string(), std::strerror(errno)));
    }
    return fd;
  };
  m_rows_fd = open_append(kRowsCsv);
  if (with_values) m_values_fd = open_append(kValuesCsv);
  if (fresh) write_all(m_rows_fd, csv_line(columns), m_dir / kRowsCsv);
  if (new_values) write_all(m_values_fd, kValuesHeader, m_dir / kValuesCsv);
}

ResultsDir::ResultsDir(ResultsDir&& o) noexcept { *this = std::move(o); }

ResultsDir& ResultsDir::operator=(ResultsDir&& o) noexcept {
  std::swap(m_dir, o.m_dir);
  std::swap(m_lock_fd, o.m_lock_fd);
  std::swap(m_rows_fd, o.m_rows_fd);
  std::swap(m_values_fd, o.m_values_fd);
  std::swap(m_done, o.m_done);
  std::swap(m_existing, o.m_existing);
  return *this;
}

ResultsDir::~ResultsDir() {
  if (m_lock_fd >= 0) ::close(m_lock_fd);  // releases the flock
  if (m_rows_fd >= 0) ::close(m_rows_fd);
  if (m_values_fd >= 0) ::close(m_values_fd);
}

void ResultsDir::append_row(const std::string& line) {
  if (test_pause_due("row-torn")) {
    write_all(m_rows_fd, line.substr(0, line.size() / 2), m_dir / kRowsCsv);
    test_pause("row-torn");
  }
  append_whole(m_rows_fd, line, m_dir / kRowsCsv);
  test_pause_point("row-written");
}

void ResultsDir::append_values(const std::string& lines) {
  if (m_values_fd >= 0 && !lines.empty()) append_whole(m_values_fd, lines, m_dir / kValuesCsv);
}

nlohmann::json ResultsDir::read_meta() const {
  try {
    return nlohmann::json::parse(read_file(m_dir / kMetaJson));
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(
        fmt::format("--resume: {} is not valid JSON ({})", (m_dir / kMetaJson).string(), e.what()));
  }
}

void ResultsDir::write_meta(const nlohmann::json& meta) const {
  // Text that is not UTF-8 (a path or command line in another encoding) is replaced, not fatal.
  write_file_atomically(m_dir / kMetaJson,
                        meta.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

}  // namespace gapbench
