// What every gapbench fuzzer asserts about a reader: on any input it returns a value or refuses
// with a gapbench::UsageError (exit 2 in the CLI); anything else, a std::bad_alloc, a
// std::length_error, a nlohmann exception or a non-usage gapbench::Error, is a bug and aborts so
// that libFuzzer (or run_corpus) reports the input. The sanitizers catch the rest (overflow, out of
// bounds reads).
//
// A fuzzer is one line:
//   GAPBENCH_FUZZ_READER([](std::string_view bytes) { parse_something(bytes); })
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>

#include "gapbench/error.hpp"

namespace gapbench::fuzz {

template <typename Read>
int run_reader(const std::uint8_t* data, std::size_t size, Read&& read) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    read(bytes);
  } catch (const UsageError&) {
    // The reader's refusal: expected.
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: the reader threw something other than a UsageError: %s\n",
                 e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "fuzz: the reader threw a non-std exception\n");
    std::abort();
  }
  return 0;
}

}  // namespace gapbench::fuzz

// Defines libFuzzer's entry point (also called by run_corpus.cpp) over `read(std::string_view)`.
// Variadic, so that a comma in the reader (a brace list, a template's arguments) needs no guard.
#define GAPBENCH_FUZZ_READER(...)                                                     \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { \
    return ::gapbench::fuzz::run_reader(data, size, __VA_ARGS__);                     \
  }
