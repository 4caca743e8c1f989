// The .npy reader (`gapbench run --qk Q.npy,K.npy`): a whole file in memory, read as float and as
// double; every header field and the data length come from the input.
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "gapbench/npy.hpp"

GAPBENCH_FUZZ_READER([](std::string_view bytes) {
  std::vector<std::int64_t> shape;
  try {
    gapbench::parse_npy_array<float>(bytes, "fuzz.npy", shape);
  } catch (const gapbench::UsageError&) {
  }
  gapbench::parse_npy_array<double>(bytes, "fuzz.npy", shape);
})
