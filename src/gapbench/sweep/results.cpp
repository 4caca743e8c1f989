#include "gapbench/sweep/results.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
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

constexpr const char* kRows = "rows.csv";
constexpr const char* kValues = "values.csv";
constexpr const char* kMeta = "meta.json";
constexpr const char* kValuesHeader = "point,index,rank,value\n";

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

}  // namespace

nlohmann::json read_resume_meta(const fs::path& dir, const std::string& schema,
                                const std::string& kind) {
  const fs::path meta_path = dir / kMeta;
  if (!fs::is_regular_file(meta_path)) {
    throw UsageError(
        fmt::format("--resume: '{}' is not a {} directory (no {})", dir.string(), kind, kMeta));
  }
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(read_file(meta_path));
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(
        fmt::format("--resume: {} is not valid JSON ({})", meta_path.string(), e.what()));
  }
  if (!meta.is_object() || !meta.contains("plan")) {
    throw UsageError(fmt::format("--resume: {} has no plan", meta_path.string()));
  }
  const nlohmann::json stored_schema = meta.value("schema", nlohmann::json());
  const nlohmann::json rng_version = meta.contains("rng") && meta.at("rng").is_object()
                                         ? meta.at("rng").value("version", nlohmann::json())
                                         : nlohmann::json();
  if (stored_schema != schema || rng_version != kRngLayoutVersion) {
    throw UsageError(fmt::format(
        "--resume: '{}' was written with schema {} and RNG layout {}; this gapbench writes {} "
        "and layout {}: start a new sweep",
        dir.string(), stored_schema.dump(), rng_version.dump(), schema, kRngLayoutVersion));
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
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw Error(fmt::format("cannot write {}: {}", tmp.string(), std::strerror(errno)));
  }
  try {
    write_all(fd, text, tmp);
    if (::fsync(fd) != 0) {
      throw Error(fmt::format("cannot flush {}: {}", tmp.string(), std::strerror(errno)));
    }
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  test_pause_point("atomic-tmp");
  fs::rename(tmp, path);
}

namespace {

// A non-negative integer field, or nothing when the text is not one.
template <typename Int>
std::optional<Int> parse_index(const std::string& text) {
  Int v{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return v;
}

}  // namespace

void ResultsDir::lock(const std::string& flag) {
  const fs::path path = m_dir / ".gapbench.lock";
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

ResultsDir ResultsDir::create(const fs::path& dir, bool force, const RowsLayout& layout,
                              bool with_values, const nlohmann::json& meta) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!force) {
      throw UsageError(fmt::format(
          "--out: '{}' exists already; continue it with --resume {} or replace it with --force",
          dir.string(), dir.string()));
    }
  }
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    throw UsageError(fmt::format("--out: cannot create '{}': {}", dir.string(),
                                 ec ? ec.message() : "not a directory"));
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    throw UsageError(
        fmt::format("--out: '{}' is not writable: {}", dir.string(), std::strerror(errno)));
  }
  ResultsDir r;
  r.m_dir = dir;
  r.lock("--out");
  test_pause_point("directory");
  if (force) {
    for (const char* name : {kRows, kValues, kMeta}) fs::remove(dir / name, ec);
  }
  r.write_meta(meta);  // first: a directory with rows always says what made them
  r.open_files(layout.columns, /*fresh=*/true, with_values);
  return r;
}

ResultsDir ResultsDir::resume(const fs::path& dir, const RowsLayout& layout, bool with_values,
                              int points, std::int64_t seeds) {
  if (!fs::is_regular_file(dir / kMeta) || !fs::is_regular_file(dir / kRows)) {
    throw UsageError(fmt::format("--resume: '{}' is not a sweep directory (no {} and {})",
                                 dir.string(), kMeta, kRows));
  }
  ResultsDir r;
  r.m_dir = dir;
  r.lock("--resume");
  // rows.csv: keep the header and whole lines; drop a torn last line.
  const std::string text = read_file(dir / kRows);
  const std::size_t last_newline = text.rfind('\n');
  const std::size_t keep = last_newline == std::string::npos ? 0 : last_newline + 1;
  std::istringstream in(text.substr(0, keep));
  std::string line;
  std::vector<std::string> header;
  if (!std::getline(in, line) || (header = split(line, ',')) != layout.columns) {
    throw UsageError(fmt::format(
        "--resume: {} does not have the columns this plan writes; it belongs to another plan "
        "or version",
        (dir / kRows).string()));
  }
  std::string kept = line + '\n';
  // Consecutive rows of one key form a group; the first rows_per_key of a group are kept when
  // they are all there and the key is of the plan and not seen before.
  std::optional<std::pair<int, std::uint32_t>> group_key;
  std::vector<std::pair<std::string, RowFields>> group;
  const auto close_group = [&] {
    if (!group_key) return;
    const std::size_t point = static_cast<std::size_t>(group_key->first);
    const std::size_t group_size =
        point < layout.rows_per_key.size()
            ? static_cast<std::size_t>(std::max(layout.rows_per_key[point], 1))
            : 1;
    if (group.size() >= group_size && r.m_done.insert(*group_key).second) {
      for (std::size_t i = 0; i < group_size; ++i) {
        kept += group[i].first + '\n';
        r.m_existing.push_back(std::move(group[i].second));
      }
    }
    group_key.reset();
    group.clear();
  };
  while (std::getline(in, line)) {
    const std::vector<std::string> fields = split(line, ',');
    if (fields.size() != header.size()) continue;  // damaged line: recomputed
    RowFields row;
    for (std::size_t i = 0; i < header.size(); ++i) row[header[i]] = fields[i];
    const auto point = parse_index<int>(row[layout.point_column]);
    const auto index = parse_index<std::uint32_t>(row[layout.run_column]);
    if (!point || !index || *point >= points || *index >= seeds) continue;  // not of this plan
    if (layout.check_row) {
      try {
        layout.check_row(row);
      } catch (const std::exception&) {
        continue;  // a field that does not parse: recomputed
      }
    }
    const std::pair<int, std::uint32_t> key{*point, *index};
    if (group_key != key) close_group();
    group_key = key;
    group.emplace_back(line, std::move(row));
  }
  close_group();
  if (kept != text) write_file_atomically(dir / kRows, kept);
  // values.csv: keep only the values of matrices whose row is present.
  if (fs::exists(dir / kValues)) {
    std::istringstream vin(read_file(dir / kValues));
    std::string vkept = kValuesHeader;
    std::getline(vin, line);
    while (std::getline(vin, line)) {
      if (vin.eof()) break;  // no newline: torn
      const std::vector<std::string> f = split(line, ',');
      if (f.size() != 4) continue;
      const auto point = parse_index<int>(f[0]);
      const auto index = parse_index<std::uint32_t>(f[1]);
      if (point && index && r.m_done.count({*point, *index})) vkept += line + '\n';
    }
    write_file_atomically(dir / kValues, vkept);
  }
  r.open_files(layout.columns, /*fresh=*/false, with_values);
  return r;
}

void ResultsDir::open_files(const std::vector<std::string>& columns, bool fresh, bool with_values) {
  const int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;
  const bool new_values = with_values && !fs::exists(m_dir / kValues);
  m_rows_fd = ::open((m_dir / kRows).c_str(), flags, 0644);
  if (with_values) m_values_fd = ::open((m_dir / kValues).c_str(), flags, 0644);
  if (m_rows_fd < 0 || (with_values && m_values_fd < 0)) {
    throw UsageError(fmt::format("--out: cannot open results files in '{}': {}", m_dir.string(),
                                 std::strerror(errno)));
  }
  if (fresh) write_all(m_rows_fd, csv_line(columns), m_dir / kRows);
  if (new_values) write_all(m_values_fd, kValuesHeader, m_dir / kValues);
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
    write_all(m_rows_fd, line.substr(0, line.size() / 2), m_dir / kRows);
    test_pause("row-torn");
  }
  write_all(m_rows_fd, line, m_dir / kRows);
  test_pause_point("row-written");
}

void ResultsDir::append_values(const std::string& lines) {
  if (m_values_fd >= 0 && !lines.empty()) write_all(m_values_fd, lines, m_dir / kValues);
}

nlohmann::json ResultsDir::read_meta() const {
  try {
    return nlohmann::json::parse(read_file(m_dir / kMeta));
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(
        fmt::format("--resume: {} is not valid JSON ({})", (m_dir / kMeta).string(), e.what()));
  }
}

void ResultsDir::write_meta(const nlohmann::json& meta) const {
  // Text that is not UTF-8 (a path or command line in another encoding) is replaced, not fatal.
  write_file_atomically(m_dir / kMeta,
                        meta.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

}  // namespace gapbench
