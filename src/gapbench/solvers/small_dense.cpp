#include "gapbench/solvers/small_dense.hpp"

#include <lapacke.h>

#include <algorithm>
#include <cmath>

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

namespace {

// The size (1 or 2) of the diagonal block of quasi-triangular t (n x n) that starts at i.
std::int64_t block_size(const std::vector<double>& t, std::int64_t n, std::int64_t i) {
  return i + 1 < n && t[static_cast<std::size_t>(i * n + i + 1)] != 0.0 ? 2 : 1;
}

// The eigenvalue (with positive imaginary part for a pair) of the block at i.
void block_eigenvalue(const std::vector<double>& t, std::int64_t n, std::int64_t i,
                      std::int64_t size, double& re, double& im) {
  const auto at = [&](std::int64_t r, std::int64_t c) {
    return t[static_cast<std::size_t>(c * n + r)];
  };
  if (size == 1) {
    re = at(i, i);
    im = 0;
    return;
  }
  // Standardised by LAPACK: equal diagonal a and b c < 0, eigenvalues a +- sqrt(-b c) i.
  re = 0.5 * (at(i, i) + at(i + 1, i + 1));
  im = std::sqrt(std::abs(at(i, i + 1))) * std::sqrt(std::abs(at(i + 1, i)));
}

}  // namespace

double small_top_singular_value(const double* h, std::int64_t rows, std::int64_t cols,
                                std::int64_t ld) {
  // Column-major lower triangle = the row-major upper one that small_symmetric_top_eigenvalue
  // reads.
  std::vector<double> g(static_cast<std::size_t>(cols * cols), 0.0);
  {
    const cpu::SerialBlas serial;
    cpu::blas::syrk(CblasColMajor, CblasLower, CblasTrans, cols, rows, h, ld, g.data(), cols);
  }
  return std::sqrt(std::max(small_symmetric_top_eigenvalue(std::move(g), cols), 0.0));
}

SmallSchur small_schur_by_modulus(const std::vector<double>& s, std::int64_t n,
                                  std::int64_t sorted) {
  const cpu::SerialBlas serial;
  SmallSchur out;
  out.t.assign(s.begin(), s.begin() + n * n);
  out.q.resize(static_cast<std::size_t>(n * n));
  out.re.resize(static_cast<std::size_t>(n));
  out.im.resize(static_cast<std::size_t>(n));
  lapack_int sdim = 0;
  GAPBENCH_LAPACK_CHECK(LAPACKE_dgees(LAPACK_COL_MAJOR, 'V', 'N', nullptr, n, out.t.data(), n,
                                      &sdim, out.re.data(), out.im.data(), out.q.data(), n));
  // Selection sort of the blocks: the block of largest modulus among those from `pos` on moves
  // to `pos` (dtrexc swaps neighbouring blocks orthogonally and updates Q). Ties keep the
  // earlier block, so the order is deterministic.
  const std::int64_t sort_end = sorted < 0 ? n : std::min(sorted, n);
  std::int64_t pos = 0;
  while (pos < sort_end) {
    std::int64_t best = pos;
    double best_modulus = -1;
    for (std::int64_t i = pos; i < n;) {
      const std::int64_t size = block_size(out.t, n, i);
      double re = 0, im = 0;
      block_eigenvalue(out.t, n, i, size, re, im);
      const double modulus = std::hypot(re, im);
      if (modulus > best_modulus) {
        best_modulus = modulus;
        best = i;
      }
      i += size;
    }
    if (best != pos) {
      lapack_int ifst = static_cast<lapack_int>(best + 1), ilst = static_cast<lapack_int>(pos + 1);
      // info = 1: the swap was refused as too ill-conditioned; the blocks stay where they are
      // (T and Q remain a valid Schur form), which only costs the order.
      LAPACKE_dtrexc(LAPACK_COL_MAJOR, 'V', n, out.t.data(), n, out.q.data(), n, &ifst, &ilst);
    }
    pos += block_size(out.t, n, pos);
  }
  for (std::int64_t i = 0; i < n;) {
    const std::int64_t size = block_size(out.t, n, i);
    double re = 0, im = 0;
    block_eigenvalue(out.t, n, i, size, re, im);
    out.re[static_cast<std::size_t>(i)] = re;
    out.im[static_cast<std::size_t>(i)] = im;
    if (size == 2) {
      out.re[static_cast<std::size_t>(i + 1)] = re;
      out.im[static_cast<std::size_t>(i + 1)] = -im;
    }
    i += size;
  }
  return out;
}

std::vector<double> small_schur_eigenvectors(const SmallSchur& schur, std::int64_t n) {
  const cpu::SerialBlas serial;
  std::vector<double> vectors(schur.q);
  lapack_int used = 0;
  GAPBENCH_LAPACK_CHECK(LAPACKE_dtrevc(LAPACK_COL_MAJOR, 'R', 'B', nullptr, n, schur.t.data(), n,
                                       nullptr, 1, vectors.data(), n, n, &used));
  return vectors;
}

void small_eigenvalues(std::vector<double> a, std::int64_t n, std::vector<double>& re,
                       std::vector<double>& im) {
  re.resize(static_cast<std::size_t>(n));
  im.resize(static_cast<std::size_t>(n));
  GAPBENCH_LAPACK_CHECK(LAPACKE_dgeev(LAPACK_COL_MAJOR, 'N', 'N', n, a.data(), n, re.data(),
                                      im.data(), nullptr, 1, nullptr, 1));
}

}  // namespace gapbench::detail
