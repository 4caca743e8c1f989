// The list and range grammar of sweep axes ("256:8192:x2", "0.5,1", "markov,attention"), as an
// integer axis, a real axis and a name list.
#include <string>

#include "fuzz_support.hpp"
#include "gapbench/sweep/range.hpp"

GAPBENCH_FUZZ_READER([](std::string_view bytes) {
  const std::string text(bytes);
  try {
    gapbench::parse_int_axis(text, "--T");
  } catch (const gapbench::UsageError&) {
  }
  try {
    gapbench::parse_name_list(text, "--model");
  } catch (const gapbench::UsageError&) {
  }
  gapbench::parse_real_axis(text, "--beta");
})
