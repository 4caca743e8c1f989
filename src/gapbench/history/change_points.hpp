// The statistics of the performance history (`gapbench history changes`): change points in a
// series of per-run medians by E-divisive means with a permutation test (Matteson and James,
// "A nonparametric approach for multiple change point analysis of multivariate data", JASA 2014;
// as MongoDB's performance CI uses it: Daly et al., ICPE 2020), the Benjamini–Hochberg
// false-discovery-rate correction over many series, and the size of a step with a bootstrap
// interval. Everything here is a pure function of its input and a seed: the same series and seed
// give the same report on every machine (the random numbers are Philox draws, not std::shuffle's
// implementation-defined use of an engine).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace gapbench::history {

struct EDivisiveOptions {
  double exponent = 1.0;             // a of the energy distance |x - y|^a, in (0, 2)
  std::size_t min_segment = 3;       // fewest points on either side of a change point (>= 2)
  double significance = 0.05;        // a change point is kept while its p-value is <= this
  std::size_t permutations = 999;    // most permutations per test (p-values >= 1/(this+1))
  std::size_t stop_exceedances = 20; // a test stops early once this many permuted statistics
                                     // reach the observed one (Besag and Clifford 1991)
  std::uint64_t seed = 0x9e3779b97f4a7c15ULL;
};

struct ChangePoint {
  std::size_t index = 0;         // the first point after the change: 0 < index < n
  double statistic = 0;          // the scaled energy statistic q-hat of the split
  double p_value = 1;            // (exceedances + 1) / (permutations run + 1)
  std::size_t permutations = 0;  // permutations run (fewer than the most when stopped early)
  std::size_t order = 0;         // 0 for the first change point found, 1 for the next, ...
};

struct EDivisiveResult {
  std::vector<ChangePoint> change_points;  // the significant ones, sorted by index
  // The test of "no change at all": the p-value of the best split of the whole series, whether
  // significant or not (1 when the series is too short to split). What the false-discovery-rate
  // correction over many series takes.
  double first_p_value = 1;
};

// E-divisive means over `series` (in commit order). Hierarchical: the best split (tau, kappa) of
// the current segments by the scaled energy statistic, its p-value by permuting the points within
// each current segment, kept and the search repeated while p <= options.significance. kappa is
// fixed to the end of the segment, as MongoDB does. Throws
// std::invalid_argument for options out of range; a series shorter than 2 * min_segment has no
// change point and first_p_value 1.
EDivisiveResult e_divisive(std::span<const double> series, const EDivisiveOptions& options);

// Benjamini–Hochberg at level q over `p_values`: which hypotheses are rejected (true) with the
// false discovery rate controlled at q (independent or positively dependent tests).
std::vector<bool> benjamini_hochberg(std::span<const double> p_values, double q);

// The size of a step between two segments of per-run medians: after / before - 1 on their
// medians, with a percentile bootstrap interval at `confidence` (resampling each segment with
// replacement, `resamples` times, seeded).
struct StepEstimate {
  double before = 0;  // median of the segment before
  double after = 0;   // median of the segment after
  double change = 0;  // after / before - 1
  double low = 0;     // the interval of change
  double high = 0;
};
StepEstimate estimate_step(std::span<const double> before, std::span<const double> after,
                           double confidence = 0.95, std::size_t resamples = 2000,
                           std::uint64_t seed = 0x9e3779b97f4a7c15ULL);

}  // namespace gapbench::history
