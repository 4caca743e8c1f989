// The per-row statistics of a softmax matrix, written once for the CPU loops and the CUDA kernels
// (GAPBENCH_HD): the running softmax normaliser (the online softmax), each row's squared sums for
// the Frobenius norms, and the causal mask's bounds.
//
// Online softmax: the maximum m of the logits seen so far, l = sum_j exp(x_j - m) and
// q = sum_j exp(2 (x_j - m)), in float64; a larger maximum rescales l and q. For positive weights
// (markov exponential and uniform entries) m stays 0 and the sums are of the weights. At the end
// the row's maximum, 1 / l and sum_j a_ij^2 = q / l^2 of the normalised row follow.
//
// Frobenius sums: ||A||_F^2 and ||A - (1/T) 1 1^T||_F^2, summed per row in float64 and then over
// the rows in row order on the host (sum_rows), so they do not depend on threads or launch shape.
#pragma once

#include <cstdint>
#include <vector>

#include "gapbench/hd.hpp"
#include "gapbench/metrics.hpp"
#include "gapbench/model.hpp"
#include "gapbench/rng.hpp"

namespace gapbench {

struct MaxSum {
  double max;
  double sum;
  double sum_sq;
};

// The empty row: no logit yet (max -inf), or no weight yet (max 0).
GAPBENCH_HD MaxSum empty_row(bool logits) { return {logits ? -INFINITY : 0.0, 0.0, 0.0}; }

// Raises the running maximum to m (when larger), rescaling the sums.
GAPBENCH_HD void raise_max(MaxSum& acc, double m) {
  if (m > acc.max) {
    const double f = detail::math_exp(acc.max - m);  // 0 from -inf
    acc.sum *= f;
    acc.sum_sq *= f * f;
    acc.max = m;
  }
}

// Adds a weight already taken against the running maximum (exp(x - max), or a markov weight).
GAPBENCH_HD void add_weight(MaxSum& acc, double w) {
  acc.sum += w;
  acc.sum_sq += w * w;
}

// Adds one logit: a new maximum rescales the sums first.
GAPBENCH_HD void add_logit(MaxSum& acc, double x) {
  if (x > acc.max) {
    raise_max(acc, x);
    add_weight(acc, 1.0);
  } else {
    add_weight(acc, detail::math_exp(x - acc.max));
  }
}

// The statistics of two disjoint parts of a row.
GAPBENCH_HD MaxSum combine(MaxSum a, MaxSum b) {
  const double m = a.max > b.max ? a.max : b.max;
  if (m == -INFINITY) return {m, 0.0, 0.0};
  const double fa = detail::math_exp(a.max - m), fb = detail::math_exp(b.max - m);
  return {m, a.sum * fa + b.sum * fb, a.sum_sq * fa * fa + b.sum_sq * fb * fb};
}

// sum_j a_ij^2 of the normalised row whose statistics are `s`.
GAPBENCH_HD double normalised_sum_sq(const MaxSum& s) { return s.sum_sq / (s.sum * s.sum); }

// ---- Frobenius sums ---------------------------------------------------------------------------

// One row's sums of squares: of its entries, and of its entries less 1/T.
struct RowSquares {
  double sq;
  double perp_sq;
};

// Adds entry v of a normalised row (before the fix) to the row's sums.
GAPBENCH_HD void add_entry(RowSquares& acc, double v, double inv_t) {
  acc.sq += v * v;
  acc.perp_sq += (v - inv_t) * (v - inv_t);
}

GAPBENCH_HD RowSquares add(RowSquares a, RowSquares b) {
  return {a.sq + b.sq, a.perp_sq + b.perp_sq};
}

// The row's sums from sum_j a_ij^2 alone: each row of A sums to 1 over all T columns, so
// sum_j (a_ij - 1/T)^2 = sum_j a_ij^2 - 1/T.
GAPBENCH_HD RowSquares row_squares_from_sum_sq(double sum_sq, std::int64_t T) {
  return {sum_sq, sum_sq - 1.0 / static_cast<double>(T)};
}

// The row's contribution to ||M||_F^2 of the matrix analysed (after the fix).
GAPBENCH_HD double analysed_sq(const RowSquares& r, Fix fix) {
  return fix == Fix::kCenter ? r.perp_sq : r.sq;
}

// The sums of a matrix from its rows' sums, added in row order (independent of thread count and
// launch shape). `rows` holds `count` rows.
inline FrobeniusSums sum_rows(const RowSquares* rows, std::int64_t count, Fix fix) {
  FrobeniusSums total;
  for (std::int64_t i = 0; i < count; ++i) {
    total.frob_sq += analysed_sq(rows[i], fix);
    total.frob_perp_sq += rows[i].perp_sq;
  }
  return total;
}
inline FrobeniusSums sum_rows(const std::vector<RowSquares>& rows, Fix fix) {
  return sum_rows(rows.data(), static_cast<std::int64_t>(rows.size()), fix);
}

// ---- the causal mask --------------------------------------------------------------------------

// Whether entry (i, j) takes part: under the causal mask row i attends to j <= i.
GAPBENCH_HD bool attends(std::int64_t i, std::int64_t j, bool causal) { return !causal || j <= i; }

// How many of columns [j0, j0 + nj) row i attends to (they come first).
GAPBENCH_HD std::int64_t attended_in(std::int64_t i, std::int64_t j0, std::int64_t nj,
                                      bool causal) {
  if (!causal) return nj;
  const std::int64_t reach = i + 1 - j0;
  return reach < 0 ? 0 : reach > nj ? nj : reach;
}

}  // namespace gapbench
