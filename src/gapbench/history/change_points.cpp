#include "gapbench/history/change_points.hpp"

#include <Random123/philox.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

namespace gapbench::history {
namespace {

// ---- Random numbers -----------------------------------------------------------------------------

// The fourth counter word of the draws made here: which family of numbers a draw belongs to.
// Frozen values (changing one changes every p-value and interval for a given seed).
enum class DrawFamily : std::uint32_t {
  kPermutations = 0x68697301,  // the permutation tests of e_divisive
  kBootstrap = 0x68697302,     // the resamples of estimate_step
};

// A sequence of 32-bit words from Philox4x32-10: key = (seed low, seed high), counter = (block
// low, block high, test, family). The counter alone fixes every word, so the same seed gives the
// same numbers on every machine, and each test of e_divisive draws its own numbers.
class PhiloxWords {
 public:
  PhiloxWords(std::uint64_t seed, std::uint32_t test, DrawFamily family)
      : m_key({{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}}),
        m_test(test),
        m_family(static_cast<std::uint32_t>(family)) {}

  std::uint32_t next32() {
    if (m_next == 4) refill();
    return m_words[m_next++];
  }

  std::uint64_t next64() {
    const std::uint64_t high = next32();
    return (high << 32) | next32();
  }

  // Uniform on [0, range) without bias: Lemire's multiply-and-reject ("Fast random integer
  // generation in an interval", ACM TOMACS 2019). range >= 1.
  std::uint64_t below(std::uint64_t range) {
    if (range <= std::uint64_t{1} << 32) {
      // 32-bit words suffice; 2^32 itself is the whole word (the threshold below is then 0).
      const auto r = range;
      std::uint64_t product = std::uint64_t{next32()} * r;
      auto low = static_cast<std::uint32_t>(product);
      if (low < r) {
        const auto threshold = static_cast<std::uint32_t>((std::uint64_t{1} << 32) % r);
        while (low < threshold) {
          product = std::uint64_t{next32()} * r;
          low = static_cast<std::uint32_t>(product);
        }
      }
      return product >> 32;
    }
    __extension__ using Wide = unsigned __int128;
    Wide product = static_cast<Wide>(next64()) * range;
    auto low = static_cast<std::uint64_t>(product);
    if (low < range) {
      const std::uint64_t threshold = (0 - range) % range;  // 2^64 mod range
      while (low < threshold) {
        product = static_cast<Wide>(next64()) * range;
        low = static_cast<std::uint64_t>(product);
      }
    }
    return static_cast<std::uint64_t>(product >> 64);
  }

 private:
  void refill() {
    const r123::Philox4x32::ctr_type counter = {{static_cast<std::uint32_t>(m_block),
                                                 static_cast<std::uint32_t>(m_block >> 32), m_test,
                                                 m_family}};
    m_words = r123::Philox4x32()(counter, m_key);
    ++m_block;
    m_next = 0;
  }

  r123::Philox4x32::key_type m_key;
  std::uint32_t m_test;
  std::uint32_t m_family;
  std::uint64_t m_block = 0;
  r123::Philox4x32::ctr_type m_words = {};
  int m_next = 4;
};

// Fisher–Yates with the unbiased draw above (not std::shuffle, whose use of the engine is
// implementation-defined).
template <typename T>
void shuffle(std::vector<T>& values, PhiloxWords& words) {
  for (std::size_t i = values.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(words.below(i));
    std::swap(values[i - 1], values[j]);
  }
}

// ---- E-divisive ---------------------------------------------------------------------------------

void check_options(const EDivisiveOptions& o) {
  if (!(o.exponent > 0 && o.exponent < 2)) {
    throw std::invalid_argument("e_divisive: exponent must be in (0, 2), got " +
                                std::to_string(o.exponent));
  }
  if (o.min_segment < 2) {
    throw std::invalid_argument("e_divisive: min_segment must be at least 2, got " +
                                std::to_string(o.min_segment));
  }
  if (!(o.significance > 0 && o.significance < 1)) {
    throw std::invalid_argument("e_divisive: significance must be in (0, 1), got " +
                                std::to_string(o.significance));
  }
  if (o.permutations < 1) {
    throw std::invalid_argument("e_divisive: permutations must be at least 1");
  }
  if (o.stop_exceedances < 1) {
    throw std::invalid_argument("e_divisive: stop_exceedances must be at least 1");
  }
}

struct Split {
  std::size_t at = 0;  // points [0, at) of the segment on the left, [at, size) on the right
  double statistic = -std::numeric_limits<double>::infinity();
};

// A run of the series that the search has not split yet, with what every evaluation of its
// splits needs: the sum of each point's distances to the other points of the segment and the
// sum over all pairs, both invariant under permutation of the segment's points.
struct Segment {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::vector<double> row_sums;    // row_sums[k]: sum over j in the segment of d(begin + k, j)
  double pair_sum = 0;             // sum over pairs i < j of the segment of d(i, j)
  std::vector<std::size_t> order;  // scratch: the points (series indices) in permuted order
  Split best;                      // the best split of the points in series order
};

// The distances |x_i - x_j|^a of all pairs, computed once (row-major, n by n).
class Distances {
 public:
  Distances(std::span<const double> series, double exponent) : m_n(series.size()) {
    m_values.assign(m_n * m_n, 0.0);
    for (std::size_t i = 0; i < m_n; ++i) {
      for (std::size_t j = i + 1; j < m_n; ++j) {
        const double d = std::fabs(series[i] - series[j]);
        const double v = exponent == 1.0 ? d : std::pow(d, exponent);
        m_values[i * m_n + j] = v;
        m_values[j * m_n + i] = v;
      }
    }
  }
  const double* row(std::size_t i) const { return m_values.data() + i * m_n; }

 private:
  std::size_t m_n;
  std::vector<double> m_values;
};

Segment make_segment(const Distances& d, std::size_t begin, std::size_t end) {
  Segment s;
  s.begin = begin;
  s.end = end;
  s.row_sums.assign(end - begin, 0.0);
  for (std::size_t i = begin; i < end; ++i) {
    const double* row = d.row(i);
    double sum = 0;
    for (std::size_t j = begin; j < end; ++j) sum += row[j];
    s.row_sums[i - begin] = sum;
    s.pair_sum += sum;
  }
  s.pair_sum /= 2;
  s.order.resize(end - begin);
  std::iota(s.order.begin(), s.order.end(), begin);
  return s;
}

// The best split of the segment's points taken in `order` (series indices), with at least
// min_segment points on either side, in O(L^2) for a segment of L points. Moving the points one
// at a time from the right part to the left one, with r = the sum of the moved point's distances
// to the points already on the left, the left within-sum grows by r and the between-sum by
// (row sum - r) - r; the right within-sum is the rest of the pair sum.
//
// kappa is fixed to the segment's end, as in MongoDB's signal-processing-algorithms: Matteson and
// James also search an end kappa < segment end for the right part, which costs O(L^3) per
// evaluation, and a change point after tau is found by the later searches anyway.
Split best_split(const Distances& d, const Segment& s, const std::vector<std::size_t>& order,
                 std::size_t min_segment) {
  const std::size_t size = order.size();
  Split best;
  double within_left = 0;
  double between = 0;
  for (std::size_t t = 0; t + min_segment < size + 1; ++t) {
    if (t >= min_segment) {
      const double m = static_cast<double>(t);
      const double n = static_cast<double>(size - t);
      const double within_right = s.pair_sum - within_left - between;
      const double energy = 2 * between / (m * n) - 2 * within_left / (m * (m - 1)) -
                            2 * within_right / (n * (n - 1));
      const double statistic = m * n / (m + n) * energy;
      if (statistic > best.statistic) best = {t, statistic};
    }
    if (t + min_segment == size) break;
    // Move point order[t] to the left part.
    const std::size_t point = order[t];
    const double* row = d.row(point);
    double to_left = 0;
    for (std::size_t i = 0; i < t; ++i) to_left += row[order[i]];
    within_left += to_left;
    between += s.row_sums[point - s.begin] - 2 * to_left;
  }
  return best;
}

bool splittable(const Segment& s, std::size_t min_segment) {
  return s.end - s.begin >= 2 * min_segment;
}

}  // namespace

EDivisiveResult e_divisive(std::span<const double> series, const EDivisiveOptions& options) {
  check_options(options);
  if (!std::all_of(series.begin(), series.end(), [](double v) { return std::isfinite(v); })) {
    throw std::invalid_argument("e_divisive: series has a non-finite value");
  }
  EDivisiveResult result;
  const std::size_t n = series.size();
  if (n < 2 * options.min_segment) return result;

  const Distances distances(series, options.exponent);
  std::vector<Segment> segments;
  segments.push_back(make_segment(distances, 0, n));
  const auto evaluate = [&](Segment& s) {
    std::iota(s.order.begin(), s.order.end(), s.begin);
    s.best = best_split(distances, s, s.order, options.min_segment);
  };
  evaluate(segments.front());

  for (std::uint32_t test = 0;; ++test) {
    // The best split among the current segments.
    std::size_t chosen = segments.size();
    for (std::size_t k = 0; k < segments.size(); ++k) {
      if (!splittable(segments[k], options.min_segment)) continue;
      if (chosen == segments.size() ||
          segments[k].best.statistic > segments[chosen].best.statistic) {
        chosen = k;
      }
    }
    if (chosen == segments.size()) break;
    const double observed = segments[chosen].best.statistic;
    // Permuted maxima within a relative 1e-12 of the observed one count as reaching it: the same
    // split summed in another order must not pass for a smaller statistic (a constant series,
    // for one, has p = 1).
    const double threshold = observed - 1e-12 * std::fabs(observed);

    // The permutation test: the points permuted within each current segment (no further change),
    // the maximum over all segments recomputed the same way.
    PhiloxWords words(options.seed, test, DrawFamily::kPermutations);
    std::size_t exceedances = 0;
    std::size_t run = 0;
    while (run < options.permutations && exceedances < options.stop_exceedances) {
      double maximum = -std::numeric_limits<double>::infinity();
      for (Segment& s : segments) {
        if (!splittable(s, options.min_segment)) continue;
        shuffle(s.order, words);
        maximum =
            std::max(maximum, best_split(distances, s, s.order, options.min_segment).statistic);
      }
      ++run;
      if (maximum >= threshold) ++exceedances;
    }
    const double p_value = static_cast<double>(exceedances + 1) / static_cast<double>(run + 1);
    if (test == 0) result.first_p_value = p_value;
    if (!(p_value <= options.significance)) break;

    const Segment parent = std::move(segments[chosen]);
    const std::size_t index = parent.begin + parent.best.at;
    result.change_points.push_back({index, observed, p_value, run, test});
    segments[chosen] = make_segment(distances, parent.begin, index);
    segments.push_back(make_segment(distances, index, parent.end));
    evaluate(segments[chosen]);
    evaluate(segments.back());
  }

  std::sort(result.change_points.begin(), result.change_points.end(),
            [](const ChangePoint& a, const ChangePoint& b) { return a.index < b.index; });
  return result;
}

// ---- Benjamini–Hochberg -------------------------------------------------------------------------

std::vector<bool> benjamini_hochberg(std::span<const double> p_values, double q) {
  if (!(q > 0 && q < 1)) {
    throw std::invalid_argument("benjamini_hochberg: q must be in (0, 1), got " +
                                std::to_string(q));
  }
  for (const double p : p_values) {
    if (!(p >= 0 && p <= 1)) {
      throw std::invalid_argument("benjamini_hochberg: p-value out of [0, 1]: " +
                                  std::to_string(p));
    }
  }
  const std::size_t m = p_values.size();
  std::vector<std::size_t> order(m);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return p_values[a] < p_values[b]; });
  // Step-up: the largest rank k (1-based) with p_(k) <= k q / m; ranks 1..k are rejected.
  std::size_t rejected = 0;
  for (std::size_t k = m; k >= 1; --k) {
    if (p_values[order[k - 1]] <= static_cast<double>(k) * q / static_cast<double>(m)) {
      rejected = k;
      break;
    }
  }
  std::vector<bool> reject(m, false);
  for (std::size_t k = 0; k < rejected; ++k) reject[order[k]] = true;
  return reject;
}

// ---- Step size ----------------------------------------------------------------------------------

namespace {

double median_of(std::vector<double>& values) {
  const std::size_t n = values.size();
  const auto middle = values.begin() + static_cast<std::ptrdiff_t>(n / 2);
  std::nth_element(values.begin(), middle, values.end());
  if (n % 2 == 1) return *middle;
  const double below = *std::max_element(values.begin(), middle);
  return 0.5 * (below + *middle);
}

// after / before - 1 for medians that may be 0 in a resample: equal medians are no change, any
// other change from 0 is infinite in the direction of `after`.
double relative_change(double before, double after) {
  if (before != 0) return after / before - 1;
  if (after == before) return 0;
  return after > 0 ? std::numeric_limits<double>::infinity()
                   : -std::numeric_limits<double>::infinity();
}

// The quantile at `level` of sorted values, interpolated linearly between order statistics
// (Hyndman and Fan's type 7, numpy's default).
double sorted_quantile(const std::vector<double>& sorted, double level) {
  const double position = level * static_cast<double>(sorted.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, sorted.size() - 1);
  const double fraction = position - static_cast<double>(below);
  if (fraction == 0 || sorted[above] == sorted[below]) return sorted[below];
  // An infinite change (a resample whose median before is 0) is not interpolated: the nearer one.
  if (!std::isfinite(sorted[below]) || !std::isfinite(sorted[above])) {
    return fraction < 0.5 ? sorted[below] : sorted[above];
  }
  return sorted[below] + fraction * (sorted[above] - sorted[below]);
}

}  // namespace

StepEstimate estimate_step(std::span<const double> before, std::span<const double> after,
                           double confidence, std::size_t resamples, std::uint64_t seed) {
  if (before.empty() || after.empty()) {
    throw std::invalid_argument("estimate_step: the segment before and the one after need a value");
  }
  const auto finite = [](double v) { return std::isfinite(v); };
  if (!std::all_of(before.begin(), before.end(), finite) ||
      !std::all_of(after.begin(), after.end(), finite)) {
    throw std::invalid_argument("estimate_step: non-finite value");
  }
  if (!(confidence > 0 && confidence < 1)) {
    throw std::invalid_argument("estimate_step: confidence must be in (0, 1), got " +
                                std::to_string(confidence));
  }
  if (resamples < 1) throw std::invalid_argument("estimate_step: resamples must be at least 1");

  std::vector<double> scratch_before(before.begin(), before.end());
  std::vector<double> scratch_after(after.begin(), after.end());
  StepEstimate e;
  e.before = median_of(scratch_before);
  e.after = median_of(scratch_after);
  if (e.before == 0) {
    throw std::invalid_argument(
        "estimate_step: the median before the step is 0 (no relative change)");
  }
  e.change = e.after / e.before - 1;

  PhiloxWords words(seed, 0, DrawFamily::kBootstrap);
  std::vector<double> changes(resamples);
  for (double& change : changes) {
    for (double& v : scratch_before) v = before[words.below(before.size())];
    for (double& v : scratch_after) v = after[words.below(after.size())];
    change = relative_change(median_of(scratch_before), median_of(scratch_after));
  }
  std::sort(changes.begin(), changes.end());
  e.low = sorted_quantile(changes, (1 - confidence) / 2);
  e.high = sorted_quantile(changes, (1 + confidence) / 2);
  return e;
}

}  // namespace gapbench::history
