// Fuzzer of the results-directory reader that `gapbench sweep --resume DIR` trusts: the input is
// split at NUL bytes into meta.json, rows.csv and (when there is a third part) values.csv, written
// to a fresh temporary directory, and opened as --resume opens it before computing anything
// (open_sweep_for_resume: meta.json's types, schema, RNG layout and plan_hash, then every row
// against the stored plan, rejects moved aside). The corpus (corpus/fuzz_results/) holds real
// small sweep directories joined that way, whole and damaged.
#include <stdlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "gapbench/sweep/runner.hpp"

namespace {

namespace fs = std::filesystem;

// A temporary directory removed with everything in it, also when the reader throws.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "gapbench_fuzz_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void open_as_sweep_directory(std::string_view bytes) {
  const TempDir dir;
  constexpr const char* kNames[] = {"meta.json", "rows.csv", "values.csv"};
  for (const char* name : kNames) {
    const std::size_t end = std::min(bytes.find('\0'), bytes.size());
    std::ofstream(dir.path / name, std::ios::binary) << bytes.substr(0, end);
    if (end == bytes.size()) break;
    bytes.remove_prefix(end + 1);
  }
  gapbench::open_sweep_for_resume(dir.path);
}

}  // namespace

GAPBENCH_FUZZ_READER(open_as_sweep_directory)
