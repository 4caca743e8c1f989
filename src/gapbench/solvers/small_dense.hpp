// Host linear algebra on the small projected matrices of the iterative solvers (float64,
// column-major, LAPACKE). Sizes are at most a few hundred.
#pragma once

#include <cstdint>
#include <vector>

namespace gapbench::detail {

struct SmallSvd {
  std::vector<double> left;    // n x n, column i is the left singular vector of values[i]
  std::vector<double> values;  // descending
  std::vector<double> right;   // n x n, column i is the right singular vector
};

// Full SVD of the n x n column-major matrix h.
SmallSvd small_svd(const std::vector<double>& h, std::int64_t n);

// Eigenvalues (descending) and eigenvectors (columns) of the symmetric n x n matrix g.
void small_symmetric_eig(const std::vector<double>& g, std::int64_t n, std::vector<double>& values,
                         std::vector<double>& vectors);

// The largest eigenvalue of the symmetric n x n matrix g (full storage; LAPACK ?syevd, values
// only).
double small_symmetric_top_eigenvalue(std::vector<double> g, std::int64_t n);

}  // namespace gapbench::detail
