// The one order of eigenvalues every eigen solver returns (exact geev on either device, arnoldi,
// diagonal): by modulus, descending; a complex conjugate pair adjacent, positive imaginary part
// first, and never split.
#pragma once

#include <vector>

#include "gapbench/solvers/solver_types.hpp"

namespace gapbench {

// Orders the eigenvalues (re[i], im[i]) and keeps the top k of them in result.values and
// result.values_im (all of them when `all_values`); when the k-th is the first of a conjugate
// pair, the pair is taken whole (k + 1 values). re and im have the same length, at least 1.
void keep_top_eigenvalues(std::vector<double> re, std::vector<double> im, int k, bool all_values,
                          SolveResult& result);

// How many of the ordered eigenvalues (re, im) the top k take: k, or k + 1 when the k-th is the
// first of a conjugate pair (positive imaginary part), whose second then follows (in the whole
// spectrum; `im` may hold fewer).
int eigen_count(const std::vector<double>& im, int k);

// Whether the eigenvalues of `model`'s matrix are read off its diagonal: causal attention (lower
// triangular) with fix none or center (A_perp keeps them but 1 -> 0); deflation moves them.
bool eigenvalues_are_diagonal(const ModelSpec& model);

// Throws UsageError naming --solver when solver `o` does not compute its spectrum
// (o.spectrum), or does not apply to `model`: diagonal needs eigenvalues_are_diagonal, and
// arnoldi is refused there (the diagonal is exact in O(T)).
void check_solver_applies(const SolverOptions& o, const ModelSpec& model);

// The eigenvalues of causal attention, a lower-triangular A: its diagonal `diagonal_of_a` (of A
// itself, before the fix). With fix center, A_perp = A - (1/T) 1 1^T keeps every eigenvalue of
// A but the outlier 1 (the row sums), which it maps to 0; the outlier is A_00 = 1 (the first
// token attends to itself alone). The top k (or all) in the order above.
SolveResult causal_eigenvalues(std::vector<double> diagonal_of_a, Fix fix, int k, bool all_values);

}  // namespace gapbench
