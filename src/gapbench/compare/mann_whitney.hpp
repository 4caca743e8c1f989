// The two-sided Mann–Whitney U test (Wilcoxon rank-sum test) that `gapbench compare` applies to the
// repetitions of a benchmark, computed as scipy.stats.mannwhitneyu does (the test Google
// Benchmark's tools/compare.py uses): exact from the distribution of U for small samples without
// ties, else the normal approximation with tie and continuity corrections.
#pragma once

#include <cstdint>
#include <vector>

namespace gapbench {

// The statistic of sample `a` against `b`: U_a = R_a - n_a (n_a + 1) / 2, where R_a is the sum of
// the ranks of `a` in the pooled sample (ties take their average rank). U_a + U_b = n_a n_b.
double mann_whitney_u(const std::vector<double>& a, const std::vector<double>& b);

// P(U >= u) for the statistic of an m-sample against an n-sample when there are no ties and the
// samples come from one distribution (every interleaving equally likely). Exact, by dynamic
// programming over the counts of interleavings; O(m n * m n) time, O(n * m n) memory.
double mann_whitney_exact_sf(std::int64_t u, int m, int n);

// The two-sided p-value from the normal approximation: z = (max(U_a, U_b) - m n / 2 - 1/2) / sigma
// with sigma^2 = m n / 12 * ((N + 1) - sum(t^3 - t) / (N (N - 1))) over the tie groups t,
// N = m + n. Returns 1 when sigma is 0 (all values equal).
double mann_whitney_asymptotic_p_value(const std::vector<double>& a, const std::vector<double>& b);

// Samples up to this size (each) without ties get the exact p-value.
inline constexpr int kMannWhitneyExactMax = 50;

// The two-sided p-value of the hypothesis that `a` and `b` come from one distribution: exact when
// both have at most kMannWhitneyExactMax values and no value repeats in the pooled sample, else
// asymptotic. Both samples must be non-empty and finite (std::invalid_argument otherwise).
double mann_whitney_p_value(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace gapbench
