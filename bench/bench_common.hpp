// Shared state of the benchmark harness: the matrices benchmarked and their exact references.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gapbench::bench {

struct HarnessOptions {
  std::string matrix_path;  // --matrix=FILE.npy (float64): benchmark this matrix only
  std::vector<std::int64_t> sizes{256, 1024, 4096};  // --sizes=256,1024 (generated matrices)
};

HarnessOptions& harness_options();

// A float64 T x T matrix (row-major): loaded from --matrix or generated (markov, exponential
// entries, seed 0, index 0 — what `gapbench dump --T T` writes).
struct BenchMatrix {
  std::int64_t T = 0;
  std::string source;
  std::vector<double> a;
};
const BenchMatrix& bench_matrix(std::int64_t T);

// Top-4 singular values from LAPACK gesdd, computed once per matrix (cached).
const std::vector<double>& exact_top4(std::int64_t T);

void register_cpu_solver_benchmarks();

}  // namespace gapbench::bench
