// Orthogonalisation of blocks of vectors through BlockOps only, shared by the iterative solvers
// (lanczos, rsvd), so it runs on whichever backend's memory the blocks live in. Small Gram and
// coefficient matrices come back to the host in float64.
//
// Robust to rank deficiency: a block whose columns are (nearly) dependent, such as a product with
// a matrix of lower rank than the block is wide, is completed with fresh random directions rather
// than divided by ~0.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "gapbench/operator.hpp"
#include "gapbench/solvers/small_dense.hpp"

namespace gapbench::detail {

template <typename Real>
class BlockOrthonormalizer {
 public:
  // `scratch`: a block with at least as many rows as the longest block handled and as many
  // columns as the widest; it is never live across calls, so a caller may use it in between.
  // Random completions come from fill_random(seed, salt) with salts 1, 2, ... (salt 0 is left to
  // the caller's start block).
  BlockOrthonormalizer(BlockOps<Real>& ops, BlockView<Real> scratch, std::uint64_t seed)
      : m_ops(ops), m_scratch(scratch), m_seed(seed) {}

  // W -= Q (Q^T W), twice (classical Gram-Schmidt with reorthogonalisation). Returns the summed
  // coefficients (q.cols x w.cols, column-major).
  std::vector<double> orthogonalize(BlockView<Real> q, BlockView<Real> w) {
    std::vector<double> total(static_cast<std::size_t>(q.cols * w.cols), 0.0);
    if (q.cols == 0) return total;
    std::vector<double> c(total.size());
    for (int pass = 0; pass < 2; ++pass) {
      m_ops.project(as_const(q), as_const(w), c.data());
      m_ops.update(as_const(q), c.data(), -1.0, 1.0, w);
      for (std::size_t i = 0; i < c.size(); ++i) total[i] += c[i];
    }
    return total;
  }

  // dest = an orthonormal basis of span(w) (w already orthogonal to `basis`, which may have no
  // columns), completed with random vectors where w is rank-deficient. w is kept. Returns
  // R = dest^T w (w.cols x w.cols, column-major), so w = dest R to rounding. `is_product`: w came
  // from a product with A, so its norm tells the scale of A below which a direction is rounding
  // noise.
  std::vector<double> orthonormalize(BlockView<Real> w, BlockView<Real> basis, BlockView<Real> dest,
                                     bool is_product) {
    const std::int64_t b = w.cols;
    std::vector<double> g(static_cast<std::size_t>(b * b)), values, vectors;
    m_ops.project(as_const(w), as_const(w), g.data());
    small_symmetric_eig(g, b, values, vectors);
    if (is_product) m_scale = std::max(m_scale, std::sqrt(std::max(values[0], 0.0)));
    // Fast path (as CholeskyQR2): whiten twice when every direction stands clear of the absolute
    // floor and of the rounding noise of the Gram matrix (~eps * lambda_max), i.e. when
    // cond(w) < ~0.03 / sqrt(eps). Otherwise go column by column.
    const double floor = 100 * eps() * (is_product ? m_scale : std::sqrt(values[0]));
    const bool clear =
        values[b - 1] > std::max(floor * floor, 1e3 * eps() * values[0]) && values[b - 1] > 0;
    if (clear) {
      m_ops.update(as_const(w), inverse_sqrt(values, vectors, b).data(), 1.0, 0.0, dest);
      // Whitening scales the rounding left along the basis by up to cond(w): clean it.
      if (values[0] > 100 * values[b - 1]) orthogonalize(basis, dest);
      m_ops.project(as_const(dest), as_const(dest), g.data());
      small_symmetric_eig(g, b, values, vectors);
      BlockView<Real> tmp = scratch(dest.rows, b);
      m_ops.update(as_const(dest), inverse_sqrt(values, vectors, b).data(), 1.0, 0.0, tmp);
      m_ops.copy(as_const(tmp), dest);
    } else {
      orthonormalize_by_columns(w, basis, dest, is_product);
    }
    std::vector<double> r(static_cast<std::size_t>(b * b));
    m_ops.project(as_const(dest), as_const(w), r.data());
    return r;
  }

  // The largest norm of a product block seen so far: the scale of A for the breakdown tests.
  double scale() const { return m_scale; }

 private:
  static double eps() { return std::numeric_limits<Real>::epsilon(); }

  // Column-by-column Gram-Schmidt (twice) against the basis and the columns done so far; a
  // column with nothing left above the rounding floor is replaced by a random one (up to three
  // times), which is orthogonalised in turn.
  void orthonormalize_by_columns(BlockView<Real> w, BlockView<Real> basis, BlockView<Real> dest,
                                 bool is_product) {
    constexpr int kMaxFills = 3;
    double norm_sq = 0;
    for (std::int64_t c = 0; c < w.cols; ++c) {
      BlockView<Real> col = dest.columns(c, 1);
      m_ops.copy(as_const(w.columns(c, 1)), col);
      m_ops.project(as_const(col), as_const(col), &norm_sq);
      double floor = 100 * eps() * (is_product ? m_scale : std::sqrt(norm_sq));
      for (int fills = 0;; ++fills) {
        orthogonalize(basis, col);
        orthogonalize(dest.columns(0, c), col);
        m_ops.project(as_const(col), as_const(col), &norm_sq);
        if ((std::sqrt(norm_sq) > floor && norm_sq > 0) || fills == kMaxFills) break;
        m_ops.fill_random(col, m_seed, static_cast<std::uint32_t>(++m_random_fills));
        m_ops.project(as_const(col), as_const(col), &norm_sq);
        // A random column is no product with A: its rounding floor follows its own norm (~sqrt
        // of its length), not the scale of A. Against 100 eps ||A||, a float32 A with entries
        // ~1e4 rejected every fill and kept the last one unorthogonalised: wrong values.
        floor = 100 * eps() * std::sqrt(norm_sq);
      }
      const double inv = 1.0 / std::sqrt(norm_sq);
      BlockView<Real> tmp = scratch(col.rows, 1);
      m_ops.update(as_const(col), &inv, 1.0, 0.0, tmp);
      m_ops.copy(as_const(tmp), col);
    }
  }

  // Z diag(1/sqrt(lambda)) Z^T: the inverse square root of a positive definite Gram matrix.
  static std::vector<double> inverse_sqrt(const std::vector<double>& values,
                                          const std::vector<double>& vectors, std::int64_t b) {
    std::vector<double> c(static_cast<std::size_t>(b * b), 0.0);
    for (std::int64_t j = 0; j < b; ++j) {
      for (std::int64_t i = 0; i < b; ++i) {
        double s = 0;
        for (std::int64_t l = 0; l < b; ++l) {
          s += vectors[l * b + i] * vectors[l * b + j] / std::sqrt(values[l]);
        }
        c[j * b + i] = s;
      }
    }
    return c;
  }

  BlockView<Real> scratch(std::int64_t rows, std::int64_t cols) const {
    BlockView<Real> v = m_scratch.columns(0, cols);
    v.rows = rows;
    return v;
  }

  BlockOps<Real>& m_ops;
  BlockView<Real> m_scratch;
  std::uint64_t m_seed;
  double m_scale = 0;  // largest product block norm seen
  int m_random_fills = 0;
};

}  // namespace gapbench::detail
