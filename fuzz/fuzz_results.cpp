// Fuzz target for the results-directory reader that --resume trusts: the input is split at NUL
// bytes into meta.json, rows.csv and (when there is a third part) values.csv, written to a fresh
// temporary directory, and opened as `gapbench sweep --resume DIR` opens it before computing
// anything (open_sweep_for_resume: meta.json's types, schema, RNG layout and plan_hash, then
// every row against the stored plan, rejects moved aside). A UsageError is the expected answer
// to bad input; any other exception, a crash or a sanitizer report is a bug (abort).
//
// Built by the fuzz infrastructure as a libFuzzer target; with -DGAPBENCH_FUZZ_MAIN it is a
// plain program that runs the files given as arguments (a seed corpus: fuzz/corpus/results/).
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gapbench/error.hpp"
#include "gapbench/sweep/runner.hpp"

namespace {

namespace fs = std::filesystem;

// The parts of the input between NUL bytes: meta.json, rows.csv, values.csv.
std::vector<std::string> split_at_nul(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> parts(1);
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      parts.emplace_back();
    } else {
      parts.back() += static_cast<char>(data[i]);
    }
  }
  return parts;
}

void write(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<std::string> parts = split_at_nul(data, size);
  std::string pattern = (fs::temp_directory_path() / "gapbench_fuzz_XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) std::abort();
  const fs::path dir = pattern;
  const char* names[] = {"meta.json", "rows.csv", "values.csv"};
  for (std::size_t i = 0; i < parts.size() && i < 3; ++i) write(dir / names[i], parts[i]);
  try {
    gapbench::open_sweep_for_resume(dir);
  } catch (const gapbench::UsageError&) {
    // bad input, refused with a message: expected
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_results: not a UsageError: %s\n", e.what());
    std::abort();
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}

#ifdef GAPBENCH_FUZZ_MAIN
// Runs each file given as an argument through the target once.
int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    std::fprintf(stderr, "fuzz_results: %s ok\n", argv[i]);
  }
  return 0;
}
#endif
