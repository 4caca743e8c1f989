// Metrics of one matrix (one results row) and the theory of PAPER.md next to them.
#pragma once

#include <optional>
#include <vector>

#include "gapbench/model.hpp"

namespace gapbench {

// Sums taken while generating, in float64 over the stored (rounded) entries.
struct FrobeniusSums {
  double frob_sq = 0;       // ||M||_F^2 of the matrix analysed (after the fix)
  double frob_perp_sq = 0;  // ||A - (1/T) 1 1^T||_F^2 of the unfixed matrix A
};

struct Metrics {
  double s1 = 0, s2 = 0;    // s2 is NaN when k = 1
  double gap = 0;           // s1 - s2
  double ratio = 0;         // s2 / s1
  double frob = 0;          // ||M||_F of the matrix analysed
  double frob_perp_sq = 0;  // ||A_perp||_F^2 of the model draw (the same with either fix)
  double stable_rank = 0;   // ||M||_F^2 / s1^2
  // Theory (markov only; empty otherwise):
  std::optional<double> c;                  // sigma/mu of the entries
  std::optional<double> s1_excess;          // (s1 - 1) 2T / c^2 -> 1; fix none only
  std::optional<double> edge_ratio;         // sqrt(T) s_edge / (2c) -> 1; s_edge = s2 (fix
                                            // none) or s1 (fix center: the top of A_perp)
  std::optional<double> frob_perp_over_c2;  // ||A_perp||_F^2 / c^2 -> 1
  // Eigenvalue rows (--spectrum eigen; NaN or empty for singular rows, where the five singular
  // metrics above are NaN or empty in turn):
  double lambda1_dist = 0;  // |lambda1 - 1|: the outlier of a row-stochastic A is exactly 1
  double abs_lambda2 = 0;   // |lambda2|, NaN when only one value
  double eigen_gap = 0;     // 1 - |lambda2|
  // sqrt(T) |lambda_edge| / c -> 1 (circular law; markov, fix none or center): lambda_edge =
  // lambda2 (fix none) or lambda1 (fix center: the largest of A_perp, no outlier left).
  std::optional<double> eigen_edge_ratio;
};

// Every metric NaN or empty: a failed row's, and where the others start.
Metrics no_metrics();

// `values` descending (at least one).
Metrics compute_metrics(const ModelSpec& spec, const std::vector<double>& values,
                        const FrobeniusSums& sums);

// The metrics of eigenvalues (re, im), ordered by modulus (at least one): the eigen metrics,
// and of the others those that do not depend on the values (frob, frob_perp_sq, c,
// frob_perp_over_c2); the singular ones NaN or empty.
Metrics compute_eigen_metrics(const ModelSpec& spec, const std::vector<double>& re,
                              const std::vector<double>& im, const FrobeniusSums& sums);

}  // namespace gapbench
