#include "gapbench/compare/mann_whitney.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace gapbench {
namespace {

// The ranks (1-based, ties averaged) of the pooled sample a ++ b, and the sizes of its tie groups.
struct PooledRanks {
  std::vector<double> ranks;  // ranks[i] is the rank of pooled value i
  std::vector<std::size_t> tie_sizes;
};

PooledRanks pooled_ranks(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> pooled(a);
  pooled.insert(pooled.end(), b.begin(), b.end());
  std::vector<std::size_t> order(pooled.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(),
            [&](std::size_t x, std::size_t y) { return pooled[x] < pooled[y]; });
  PooledRanks r;
  r.ranks.resize(pooled.size());
  for (std::size_t first = 0; first < order.size();) {
    std::size_t last = first + 1;
    while (last < order.size() && pooled[order[last]] == pooled[order[first]]) ++last;
    // Positions first..last-1 (0-based) share the average of ranks first+1..last.
    const double rank = 0.5 * static_cast<double>(first + 1 + last);
    for (std::size_t i = first; i < last; ++i) r.ranks[order[i]] = rank;
    r.tie_sizes.push_back(last - first);
    first = last;
  }
  return r;
}

void check_samples(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.empty() || b.empty()) throw std::invalid_argument("Mann-Whitney U test: empty sample");
  const auto finite = [](double v) { return std::isfinite(v); };
  if (!std::all_of(a.begin(), a.end(), finite) || !std::all_of(b.begin(), b.end(), finite)) {
    throw std::invalid_argument("Mann-Whitney U test: non-finite value");
  }
}

double u_from_ranks(const PooledRanks& r, std::size_t n_a) {
  const double rank_sum = std::accumulate(r.ranks.begin(), r.ranks.begin() + n_a, 0.0);
  const double m = static_cast<double>(n_a);
  return rank_sum - m * (m + 1) / 2;
}

double asymptotic_p_value(const PooledRanks& r, std::size_t n_a, std::size_t n_b) {
  const double m = static_cast<double>(n_a);
  const double n = static_cast<double>(n_b);
  const double total = m + n;
  const double u_a = u_from_ranks(r, n_a);
  const double u = std::max(u_a, m * n - u_a);
  double tie_term = 0;
  for (const std::size_t t : r.tie_sizes) {
    const double td = static_cast<double>(t);
    tie_term += td * td * td - td;
  }
  const double variance = m * n / 12 * ((total + 1) - tie_term / (total * (total - 1)));
  if (!(variance > 0)) return 1.0;  // every value equal: no evidence of a difference
  const double z = (u - m * n / 2 - 0.5) / std::sqrt(variance);
  // Two-sided: 2 * P(Z > z) = erfc(z / sqrt 2).
  return std::min(1.0, std::erfc(z / std::sqrt(2.0)));
}

}  // namespace

double mann_whitney_u(const std::vector<double>& a, const std::vector<double>& b) {
  check_samples(a, b);
  return u_from_ranks(pooled_ranks(a, b), a.size());
}

double mann_whitney_exact_sf(std::int64_t u, int m, int n) {
  if (m < 0 || n < 0) throw std::invalid_argument("Mann-Whitney U test: negative sample size");
  const std::int64_t u_max = static_cast<std::int64_t>(m) * n;
  if (u <= 0) return 1.0;
  if (u > u_max) return 0.0;
  // counts[j][v]: the number of interleavings of i values of the first sample with j of the
  // second in which U = v. Adding the largest value decides the recurrence: from the first
  // sample it beats all j others, c(i, j, v) = c(i-1, j, v-j) + c(i, j-1, v). Only additions of
  // non-negative numbers, so doubles hold the counts (up to C(100, 50) ~ 1e29) to rounding.
  const std::size_t width = static_cast<std::size_t>(u_max) + 1;
  std::vector<std::vector<double>> previous(n + 1, std::vector<double>(width, 0.0));
  std::vector<std::vector<double>> current = previous;
  for (int j = 0; j <= n; ++j) previous[j][0] = 1.0;  // i = 0: U = 0, one interleaving
  for (int i = 1; i <= m; ++i) {
    std::fill(current[0].begin(), current[0].end(), 0.0);
    current[0][0] = 1.0;
    for (int j = 1; j <= n; ++j) {
      const std::int64_t top = static_cast<std::int64_t>(i) * j;
      for (std::int64_t v = 0; v <= top; ++v) {
        const double from_first = v >= j ? previous[j][v - j] : 0.0;
        const double from_second = current[j - 1][v];
        current[j][v] = from_first + from_second;
      }
    }
    std::swap(previous, current);
  }
  const std::vector<double>& counts = previous[n];
  // Sum the smaller tail to keep small p-values accurate.
  double tail = 0;
  double total = 0;
  for (std::int64_t v = 0; v <= u_max; ++v) {
    total += counts[v];
    if (v >= u) tail += counts[v];
  }
  return tail / total;
}

double mann_whitney_asymptotic_p_value(const std::vector<double>& a, const std::vector<double>& b) {
  check_samples(a, b);
  return asymptotic_p_value(pooled_ranks(a, b), a.size(), b.size());
}

double mann_whitney_p_value(const std::vector<double>& a, const std::vector<double>& b) {
  check_samples(a, b);
  const PooledRanks r = pooled_ranks(a, b);
  const bool ties = r.tie_sizes.size() < r.ranks.size();
  const bool small = a.size() <= kMannWhitneyExactMax && b.size() <= kMannWhitneyExactMax;
  if (ties || !small) return asymptotic_p_value(r, a.size(), b.size());
  const double m = static_cast<double>(a.size());
  const double n = static_cast<double>(b.size());
  const double u_a = u_from_ranks(r, a.size());
  // Without ties U is an integer; the larger of U_a and U_b gives the upper tail.
  const auto u = static_cast<std::int64_t>(std::llround(std::max(u_a, m * n - u_a)));
  const double p =
      2 * mann_whitney_exact_sf(u, static_cast<int>(a.size()), static_cast<int>(b.size()));
  return std::min(1.0, p);
}

}  // namespace gapbench
