// Helpers shared by the test files: temporary directories, writing files, and running a built
// binary with its output captured.
#pragma once

#include <stdlib.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "gapbench/text.hpp"

namespace gapbench::test {

namespace fs = std::filesystem;

// A fresh directory under the system temporary directory, removed with its contents.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "gapbench_test") {
    std::string pattern = (fs::temp_directory_path() / (prefix + "_XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    m_path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(m_path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return m_path; }

 private:
  fs::path m_path;
};

// The rows of a rows.csv (a sweep's or propagate's) as column name -> text, by its header.
inline std::vector<std::map<std::string, std::string>> read_rows_csv(const fs::path& rows_csv) {
  const std::vector<std::string> lines = split_lines(read_file(rows_csv));
  const std::vector<std::string> header = split(lines.at(0), ',');
  std::vector<std::map<std::string, std::string>> rows;
  for (std::size_t l = 1; l < lines.size(); ++l) {
    const std::vector<std::string> f = split(lines[l], ',');
    std::map<std::string, std::string> row;
    for (std::size_t c = 0; c < header.size() && c < f.size(); ++c) row[header[c]] = f[c];
    rows.push_back(std::move(row));
  }
  return rows;
}

inline void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// `s` in single quotes for /bin/sh.
inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs `exe args...` in `cwd` with no standard input; stdout and stderr go through files in
// `capture_dir` (outside `cwd` when the test checks what the command wrote there).
inline CliResult run_command(const fs::path& cwd, const fs::path& capture_dir,
                             const std::string& exe, const std::vector<std::string>& args) {
  const fs::path out = capture_dir / "stdout.txt";
  const fs::path err = capture_dir / "stderr.txt";
  std::string command = "cd " + shell_quote(cwd.string()) + " && exec " + shell_quote(exe);
  for (const auto& a : args) command += ' ' + shell_quote(a);
  command += " >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string()) + " </dev/null";
  const int status = std::system(command.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

}  // namespace gapbench::test
