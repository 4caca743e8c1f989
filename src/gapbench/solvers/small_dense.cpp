#include "gapbench/solvers/small_dense.hpp"

#include <lapacke.h>

#include <algorithm>

#include "gapbench/cpu/blas.hpp"
#include "gapbench/error.hpp"

namespace gapbench::detail {

SmallSvd small_svd(const std::vector<double>& h, std::int64_t n) {
  SmallSvd out;
  std::vector<double> a(h.begin(), h.begin() + n * n);
  out.left.resize(static_cast<std::size_t>(n * n));
  out.right.resize(static_cast<std::size_t>(n * n));
  out.values.resize(static_cast<std::size_t>(n));
  std::vector<double> vt(static_cast<std::size_t>(n * n));
  GAPBENCH_LAPACK_CHECK(LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'A', n, n, a.data(), n, out.values.data(),
                                       out.left.data(), n, vt.data(), n));
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < n; ++j) out.right[j * n + i] = vt[i * n + j];
  }
  return out;
}

void small_symmetric_eig(const std::vector<double>& g, std::int64_t n, std::vector<double>& values,
                         std::vector<double>& vectors) {
  std::vector<double> a(g.begin(), g.begin() + n * n);
  std::vector<double> w(static_cast<std::size_t>(n));
  GAPBENCH_LAPACK_CHECK(LAPACKE_dsyev(LAPACK_COL_MAJOR, 'V', 'U', n, a.data(), n, w.data()));
  // dsyev sorts ascending; reverse to descending.
  values.assign(w.rbegin(), w.rend());
  vectors.resize(static_cast<std::size_t>(n * n));
  for (std::int64_t c = 0; c < n; ++c) {
    std::copy(a.begin() + (n - 1 - c) * n, a.begin() + (n - c) * n, vectors.begin() + c * n);
  }
}

double small_symmetric_top_eigenvalue(std::vector<double> g, std::int64_t n) {
  // dsyevd's reduction runs on OpenBLAS's threads and its rounding depends on their count: on
  // one thread the value is the same bitwise whatever --threads is (propagate's metrics).
  const cpu::SerialBlas serial;
  std::vector<double> w(static_cast<std::size_t>(n));
  GAPBENCH_LAPACK_CHECK(LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', n, g.data(), n, w.data()));
  return w.back();
}

}  // namespace gapbench::detail
