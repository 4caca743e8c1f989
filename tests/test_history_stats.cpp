// The statistics of `gapbench history changes`: E-divisive means with its permutation test on
// synthetic histories of 60 commits (a step, pure noise, a slow drift, a bimodal benchmark), the
// statistic against a direct O(n^3) evaluation, the Benjamini–Hochberg step-up on hand-worked
// cases and over many series, and the bootstrap interval of a step.
//
// The synthetic series: value_i = (1 + step_i) (1 + 0.03 z_i), z_i standard normal: 3% noise on
// a per-run median. The normals come from std::mt19937_64 (its output is fixed by the standard)
// through Box–Muller written here, so every machine sees the same series and the same rates.
// Rates are over fixed seed sets and printed; the bounds asserted say how much room they leave.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "gapbench/history/change_points.hpp"

namespace gapbench::history {
namespace {

constexpr std::size_t kCommits = 60;
constexpr double kNoise = 0.03;
constexpr double kPi = 3.14159265358979323846;

// Standard normals from std::mt19937_64 by Box–Muller (both branches), reproducible everywhere.
class Normals {
 public:
  explicit Normals(std::uint64_t seed) : m_engine(seed) {}
  double next() {
    if (m_has_spare) {
      m_has_spare = false;
      return m_spare;
    }
    const double u1 = unit();
    const double u2 = unit();
    const double radius = std::sqrt(-2.0 * std::log(u1));
    m_spare = radius * std::sin(2 * kPi * u2);
    m_has_spare = true;
    return radius * std::cos(2 * kPi * u2);
  }
  // Uniform on (0, 1): 53 bits, offset by half a step so 0 never occurs.
  double unit() { return (static_cast<double>(m_engine() >> 11) + 0.5) * 0x1.0p-53; }

 private:
  std::mt19937_64 m_engine;
  bool m_has_spare = false;
  double m_spare = 0;
};

// A history of kCommits per-run medians: value_i = level_i (1 + 0.03 z_i).
std::vector<double> synthetic_series(const std::function<double(std::size_t)>& level,
                                     std::uint64_t seed, std::size_t n = kCommits) {
  Normals normals(seed);
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = level(i) * (1 + kNoise * normals.next());
  return v;
}

double step_at_30(std::size_t i) { return i >= 30 ? 1.12 : 1.0; }
double flat(std::size_t) { return 1.0; }
// Rising linearly from 1 (commit 0) to 1.12 (the last commit).
double drift(std::size_t i) { return 1.0 + 0.12 * static_cast<double>(i) / (kCommits - 1); }

// The data seed and the permutation seed of series k of a rate: distinct, fixed.
std::uint64_t data_seed(std::uint64_t family, std::uint64_t k) { return family * 1000003 + k; }
EDivisiveOptions options_for(std::uint64_t k) {
  EDivisiveOptions o;
  o.seed = 0x5eed0000ULL + 7919 * k;
  return o;
}

// ---- Detection rates with the default options ---------------------------------------------------

// A 12% step against 3% noise is 4 standard deviations: E-divisive should find it nearly always
// (first p-value 1/1000 at 999 permutations) and place it within one commit of the true index.
TEST(EDivisiveRates, StepOf12PercentFoundAtItsCommit) {
  constexpr std::size_t kSeeds = 300;
  std::size_t found = 0;
  std::size_t found_anywhere = 0;
  std::size_t extra = 0;  // change points other than the one near commit 30
  for (std::size_t k = 0; k < kSeeds; ++k) {
    const auto series = synthetic_series(step_at_30, data_seed(1, k));
    const EDivisiveResult r = e_divisive(series, options_for(k));
    const auto near =
        std::count_if(r.change_points.begin(), r.change_points.end(),
                      [](const ChangePoint& c) { return c.index >= 29 && c.index <= 31; });
    found += near > 0;
    found_anywhere += !r.change_points.empty();
    extra += r.change_points.size() - static_cast<std::size_t>(near);
  }
  const double rate = static_cast<double>(found) / kSeeds;
  std::printf(
      "12%% step at commit 30: found within 30 +- 1 in %zu/%zu (%.1f%%), any change point "
      "in %zu, other change points %zu\n",
      found, kSeeds, 100 * rate, found_anywhere, extra);
  EXPECT_GE(rate, 0.95);
}

// The false-alarm rate of a test whose size is the significance: under no change the points are
// exchangeable, and with Besag–Clifford stopping at h = 20 the first test rejects when fewer than
// 20 of the first 418 permutations reach the observed statistic, probability 20/419 = 4.77%. A
// measured rate over N series scatters around that by sqrt(0.05 * 0.95 / N); asserting <= 5%
// exactly would pass or fail by the draw of the seed set (over the first 400 of these seeds it is
// 6.75%), so the bound is 5% plus three such deviations (0.65% at N = 10000).
double false_alarm_bound(std::size_t series) {
  return 0.05 + 3 * std::sqrt(0.05 * 0.95 / static_cast<double>(series));
}

// No change at all: a change point is reported only when the first (whole-series) test is
// significant.
TEST(EDivisiveRates, PureNoiseRarelyReportsAChange) {
  constexpr std::size_t kSeeds = 10000;
  std::size_t alarms = 0;
  for (std::size_t k = 0; k < kSeeds; ++k) {
    const auto series = synthetic_series(flat, data_seed(2, k));
    const EDivisiveResult r = e_divisive(series, options_for(k));
    alarms += !r.change_points.empty();
    // The first test is the one that decides whether any change point is reported.
    ASSERT_EQ(r.change_points.empty(), r.first_p_value > 0.05) << "seed " << k;
  }
  const double rate = static_cast<double>(alarms) / kSeeds;
  std::printf("pure noise: a change point reported in %zu/%zu series (%.2f%%; size 4.77%%)\n",
              alarms, kSeeds, 100 * rate);
  EXPECT_LE(rate, false_alarm_bound(kSeeds));
}

// A slow drift of 12% over 60 commits has no step. What E-divisive reports for it, measured and
// pinned with margins (over 2000 seeds of this kind: a change in every series; 1, 2 or 3 change
// points in 30%, 58% and 11%; the first one found at commits 15..44 in 96%; all upward): the
// drift is cut into steps, the first near the middle where the halves differ by 6% (2 noise
// deviations over 30 points each), and each step up, so a drift shows as a regression of one or
// a few steps rather than as nothing.
TEST(EDivisiveRates, SlowDriftIsReportedAsStepsUpFirstNearTheMiddle) {
  constexpr std::size_t kSeeds = 200;
  std::size_t with_change = 0;
  std::size_t several = 0;  // series with more than one change point
  std::size_t total_points = 0;
  std::size_t first_in_middle = 0;  // the first change point found at commits 15..44
  std::size_t upward = 0;           // mean of the segment after > mean of the one before
  for (std::size_t k = 0; k < kSeeds; ++k) {
    const auto series = synthetic_series(drift, data_seed(3, k));
    const EDivisiveResult r = e_divisive(series, options_for(k));
    with_change += !r.change_points.empty();
    several += r.change_points.size() > 1;
    total_points += r.change_points.size();
    std::size_t previous = 0;
    for (std::size_t c = 0; c < r.change_points.size(); ++c) {
      const std::size_t index = r.change_points[c].index;
      const std::size_t next =
          c + 1 < r.change_points.size() ? r.change_points[c + 1].index : series.size();
      double before = 0;
      double after = 0;
      for (std::size_t i = previous; i < index; ++i) before += series[i];
      for (std::size_t i = index; i < next; ++i) after += series[i];
      before /= static_cast<double>(index - previous);
      after /= static_cast<double>(next - index);
      upward += after > before;
      if (r.change_points[c].order == 0) first_in_middle += index >= 15 && index < 45;
      previous = index;
    }
  }
  const double detected = static_cast<double>(with_change) / kSeeds;
  const double per_series = static_cast<double>(total_points) / kSeeds;
  const double middle = static_cast<double>(first_in_middle) / kSeeds;
  const double up = static_cast<double>(upward) / static_cast<double>(total_points);
  std::printf(
      "slow drift 0 -> 12%%: change in %.1f%% of %zu series, %.2f change points per "
      "series, more than one in %.1f%%, first one at commits 15..44 in %.1f%%, %.1f%% of "
      "them upward\n",
      100 * detected, kSeeds, per_series, 100.0 * several / kSeeds, 100 * middle, 100 * up);
  EXPECT_GE(detected, 0.95);
  EXPECT_GE(per_series, 1.4);
  EXPECT_LE(per_series, 2.3);
  EXPECT_GE(static_cast<double>(several) / kSeeds, 0.5);
  EXPECT_GE(middle, 0.85);
  EXPECT_GE(up, 0.98);
}

// A bimodal benchmark: each run's median is 0.95 or 1.05 at random (with 3% noise), the same
// distribution at every commit. The points are exchangeable, so the permutation test keeps its
// size (4.77%), bounded as for pure noise. The modes are 3.3 noise deviations apart, so a long
// run of one mode by chance is what could fool a test that assumed one normal level.
TEST(EDivisiveRates, BimodalBenchmarkWithoutChangeRarelyAlarms) {
  constexpr std::size_t kSeeds = 10000;
  std::size_t alarms = 0;
  for (std::size_t k = 0; k < kSeeds; ++k) {
    Normals normals(data_seed(4, k));
    std::vector<double> series(kCommits);
    for (double& v : series) {
      const double mode = normals.unit() < 0.5 ? 0.95 : 1.05;
      v = mode * (1 + kNoise * normals.next());
    }
    alarms += !e_divisive(series, options_for(k)).change_points.empty();
  }
  const double rate = static_cast<double>(alarms) / kSeeds;
  std::printf("bimodal, no change: a change point reported in %zu/%zu series (%.2f%%)\n", alarms,
              kSeeds, 100 * rate);
  EXPECT_LE(rate, false_alarm_bound(kSeeds));
}

// ---- E-divisive: the statistic, the search and the test -----------------------------------------

// q-hat of every split evaluated directly from its definition, O(n^3).
double direct_statistic(const std::vector<double>& x, std::size_t tau, double a) {
  const std::size_t n = x.size();
  const auto d = [&](std::size_t i, std::size_t j) { return std::pow(std::fabs(x[i] - x[j]), a); };
  double between = 0;
  double left = 0;
  double right = 0;
  for (std::size_t i = 0; i < tau; ++i) {
    for (std::size_t j = tau; j < n; ++j) between += d(i, j);
  }
  for (std::size_t i = 0; i < tau; ++i) {
    for (std::size_t j = i + 1; j < tau; ++j) left += d(i, j);
  }
  for (std::size_t i = tau; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) right += d(i, j);
  }
  const double m = static_cast<double>(tau);
  const double k = static_cast<double>(n - tau);
  const double energy =
      2 * between / (m * k) - left / (m * (m - 1) / 2) - right / (k * (k - 1) / 2);
  return m * k / (m + k) * energy;
}

class EDivisiveStatistic : public ::testing::TestWithParam<double> {};

// The incremental O(n^2) evaluation against the direct sums: the same terms summed in another
// order, so 1e-10 relative (the statistic is about 10, the sums about 100).
TEST_P(EDivisiveStatistic, FirstSplitMatchesTheDirectDefinition) {
  const double a = GetParam();
  const auto x = synthetic_series([](std::size_t i) { return i >= 23 ? 1.3 : 1.0; }, 77, 50);
  EDivisiveOptions o;
  o.exponent = a;
  o.min_segment = 4;
  const EDivisiveResult r = e_divisive(x, o);
  ASSERT_FALSE(r.change_points.empty());
  const ChangePoint& first = *std::find_if(r.change_points.begin(), r.change_points.end(),
                                           [](const ChangePoint& c) { return c.order == 0; });
  std::size_t best_tau = 0;
  double best = -1e300;
  for (std::size_t tau = o.min_segment; tau + o.min_segment <= x.size(); ++tau) {
    const double q = direct_statistic(x, tau, a);
    if (q > best) best = q, best_tau = tau;
  }
  EXPECT_EQ(first.index, best_tau);
  EXPECT_EQ(best_tau, 23u);
  EXPECT_NEAR(first.statistic, best, 1e-10 * std::fabs(best));
}

INSTANTIATE_TEST_SUITE_P(Exponents, EDivisiveStatistic, ::testing::Values(0.5, 1.0, 1.5));

// Two steps (up at 20, down at 40): the hierarchical search finds both, the larger first.
TEST(EDivisive, FindsTwoStepsInOrder) {
  const auto x = synthetic_series(
      [](std::size_t i) { return i >= 20 && i < 40 ? 1.25 : (i >= 40 ? 1.10 : 1.0); }, 5);
  const EDivisiveResult r = e_divisive(x, EDivisiveOptions{});
  ASSERT_EQ(r.change_points.size(), 2u);
  EXPECT_EQ(r.change_points[0].index, 20u);
  EXPECT_EQ(r.change_points[1].index, 40u);
  EXPECT_EQ(r.change_points[0].order + r.change_points[1].order, 1u);
  for (const ChangePoint& c : r.change_points) {
    EXPECT_LE(c.p_value, 0.05);
    EXPECT_GT(c.statistic, 0);
  }
}

// A clear step reaches no permuted statistic: p is the floor 1 / (permutations + 1), every
// permutation run.
TEST(EDivisive, PValueFloorIsOneOverPermutationsPlusOne) {
  const auto x = synthetic_series(step_at_30, 11);
  for (const std::size_t permutations : {std::size_t{1}, std::size_t{99}, std::size_t{1999}}) {
    EDivisiveOptions o;
    o.permutations = permutations;
    o.significance = 0.9;  // so that one permutation can already keep the change point
    const EDivisiveResult r = e_divisive(x, o);
    const double floor = 1.0 / static_cast<double>(permutations + 1);
    EXPECT_DOUBLE_EQ(r.first_p_value, floor) << permutations;
    ASSERT_FALSE(r.change_points.empty());
    const ChangePoint& first = *std::find_if(r.change_points.begin(), r.change_points.end(),
                                             [](const ChangePoint& c) { return c.order == 0; });
    EXPECT_EQ(first.index, 30u);
    EXPECT_EQ(first.permutations, permutations);
    EXPECT_DOUBLE_EQ(first.p_value, floor);
  }
}

// Besag–Clifford: on noise the test stops at stop_exceedances exceedances, p = (h + 1)/(run + 1).
TEST(EDivisive, StopsEarlyAfterEnoughExceedances) {
  const auto x = synthetic_series(flat, 12);
  EDivisiveOptions o;
  o.permutations = 100000;
  o.stop_exceedances = 5;
  const EDivisiveResult r = e_divisive(x, o);
  EXPECT_TRUE(r.change_points.empty());
  // The run is (h + 1) / p - 1 permutations, an integer at most the limit, and short.
  const double run = 6 / r.first_p_value - 1;
  EXPECT_NEAR(run, std::round(run), 1e-6);
  EXPECT_LT(run, 1000.0) << "p = " << r.first_p_value;
  EXPECT_GE(run, 5.0);
}

// A constant series: every permutation reaches the observed statistic (0), p = 1.
TEST(EDivisive, ConstantSeriesHasPValueOne) {
  const std::vector<double> x(40, 2.5);
  const EDivisiveResult r = e_divisive(x, EDivisiveOptions{});
  EXPECT_TRUE(r.change_points.empty());
  EXPECT_DOUBLE_EQ(r.first_p_value, 1.0);
}

TEST(EDivisive, SameSeedSameResultOtherSeedsDiffer) {
  const auto x = synthetic_series(step_at_30, 21);
  const auto noise = synthetic_series(flat, 22);
  EDivisiveOptions o;
  o.seed = 42;
  for (const auto* series : {&x, &noise}) {
    const EDivisiveResult a = e_divisive(*series, o);
    const EDivisiveResult b = e_divisive(*series, o);
    EXPECT_EQ(a.first_p_value, b.first_p_value);
    ASSERT_EQ(a.change_points.size(), b.change_points.size());
    for (std::size_t i = 0; i < a.change_points.size(); ++i) {
      EXPECT_EQ(a.change_points[i].index, b.change_points[i].index);
      EXPECT_EQ(a.change_points[i].statistic, b.change_points[i].statistic);
      EXPECT_EQ(a.change_points[i].p_value, b.change_points[i].p_value);
      EXPECT_EQ(a.change_points[i].permutations, b.change_points[i].permutations);
      EXPECT_EQ(a.change_points[i].order, b.change_points[i].order);
    }
  }
  // On noise p is far from its floor and depends on the permutations drawn: of five other seeds,
  // at least one gives another p-value (all equal would mean the seed is ignored).
  const double p42 = e_divisive(noise, o).first_p_value;
  std::size_t differ = 0;
  for (const std::uint64_t seed : {1, 2, 3, 4, 5}) {
    o.seed = seed;
    differ += e_divisive(noise, o).first_p_value != p42;
  }
  EXPECT_GE(differ, 1u);
}

// Pinned for seed 42 (the value this implementation gave when written): the header promises
// the same report on every machine, so a change in the Philox counter layout, the bounded draw or
// the shuffle, which moves this p-value, must be deliberate. All 999 permutations run (no early
// stop), so p = (exceedances + 1) / 1000 exactly.
TEST(EDivisive, PValueIsPinnedForAGivenSeed) {
  const auto noise = synthetic_series(flat, 22);
  EDivisiveOptions o;
  o.seed = 42;
  o.stop_exceedances = 1000;
  EXPECT_DOUBLE_EQ(e_divisive(noise, o).first_p_value, 0.454);
}

TEST(EDivisive, SeriesShorterThanTwoMinimumSegmentsHasNoChange) {
  EDivisiveOptions o;
  o.min_segment = 5;
  const std::vector<double> nine = {1, 1, 1, 1, 5, 5, 5, 5, 5};
  const EDivisiveResult r = e_divisive(nine, o);
  EXPECT_TRUE(r.change_points.empty());
  EXPECT_EQ(r.first_p_value, 1.0);
  EXPECT_TRUE(e_divisive(std::vector<double>{}, o).change_points.empty());
  EXPECT_EQ(e_divisive(std::vector<double>{3.0}, o).first_p_value, 1.0);
  // Exactly 2 * min_segment points: one split, tested.
  const std::vector<double> ten = {1, 1.01, 0.99, 1, 1.02, 5, 5.01, 4.99, 5, 5.02};
  const EDivisiveResult t = e_divisive(ten, o);
  // Of the 252 ways to choose the left five, two (the low five on either side) reach the
  // observed statistic: about 999 * 2/252 = 8 exceedances, p ~ 0.009.
  EXPECT_LT(t.first_p_value, 0.05);
  ASSERT_EQ(t.change_points.size(), 1u);
  EXPECT_EQ(t.change_points[0].index, 5u);
}

struct BadOption {
  const char* name;  // the option the message must name
  std::function<void(EDivisiveOptions&)> set;
};
void PrintTo(const BadOption& b, std::ostream* os) { *os << b.name; }

class EDivisiveOptionValidation : public ::testing::TestWithParam<BadOption> {};

TEST_P(EDivisiveOptionValidation, ThrowsNamingTheOption) {
  EDivisiveOptions o;
  GetParam().set(o);
  const auto x = synthetic_series(step_at_30, 1);
  try {
    e_divisive(x, o);
    FAIL() << "no exception for " << GetParam().name;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(GetParam().name), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Options, EDivisiveOptionValidation,
    ::testing::Values(BadOption{"exponent", [](EDivisiveOptions& o) { o.exponent = 0; }},
                      BadOption{"exponent", [](EDivisiveOptions& o) { o.exponent = 2; }},
                      BadOption{"exponent", [](EDivisiveOptions& o) { o.exponent = std::nan(""); }},
                      BadOption{"min_segment", [](EDivisiveOptions& o) { o.min_segment = 1; }},
                      BadOption{"significance", [](EDivisiveOptions& o) { o.significance = 0; }},
                      BadOption{"significance", [](EDivisiveOptions& o) { o.significance = 1; }},
                      BadOption{"permutations", [](EDivisiveOptions& o) { o.permutations = 0; }},
                      BadOption{"stop_exceedances",
                                [](EDivisiveOptions& o) { o.stop_exceedances = 0; }}));

TEST(EDivisive, NonFiniteValueThrows) {
  std::vector<double> x(20, 1.0);
  x[7] = std::nan("");
  EXPECT_THROW(e_divisive(x, EDivisiveOptions{}), std::invalid_argument);
}

// 20000 permutations of a 60-point series with a real 12% step run all 20000 (p at its floor):
// the O(n^2)-per-permutation evaluation must keep this well under a second in Release. The bound
// asserted is loose (2 s) so that a slow or shared CI machine does not fail it; the time is
// printed.
TEST(EDivisive, TwentyThousandPermutationsOfSixtyPointsAreFast) {
  const auto x = synthetic_series(step_at_30, 31);
  EDivisiveOptions o;
  o.permutations = 20000;
  const auto start = std::chrono::steady_clock::now();
  const EDivisiveResult r = e_divisive(x, o);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("60 points, 20000 permutations: %.3f s\n", seconds);
  EXPECT_DOUBLE_EQ(r.first_p_value, 1.0 / 20001);
  EXPECT_LT(seconds, 2.0);
}

// ---- Benjamini–Hochberg -------------------------------------------------------------------------

// m = 10, q = 0.05: thresholds k q / m = 0.005 k. Sorted p: 0.001 (<= .005), 0.008 (<= .010),
// 0.039 (> .015), 0.041 (> .020), 0.042 (> .025), 0.060, 0.074, 0.205, 0.212, 0.216: the largest
// k with p_(k) <= 0.005 k is 2, so the two smallest are rejected. With q = 0.25 (thresholds
// 0.025 k): 0.042 <= 0.125 at k = 5, 0.074 <= 0.175 at k = 7, 0.205 <= 0.200? no, 0.212 <= 0.225
// at k = 9, 0.216 <= 0.25 at k = 10: all ten, although 0.205 alone fails its own threshold
// (step-up, not step-down).
TEST(BenjaminiHochberg, HandWorkedExample) {
  const std::vector<double> p = {0.205, 0.001, 0.042, 0.074, 0.008,
                                 0.216, 0.039, 0.060, 0.212, 0.041};
  const std::vector<bool> at_05 = benjamini_hochberg(p, 0.05);
  const std::vector<bool> expected_05 = {false, true,  false, false, true,
                                         false, false, false, false, false};
  EXPECT_EQ(at_05, expected_05);
  const std::vector<bool> at_25 = benjamini_hochberg(p, 0.25);
  EXPECT_EQ(at_25, std::vector<bool>(10, true));
  // q = 0.2 (thresholds 0.02 k): 0.042 <= 0.10 at k = 5, 0.074 <= 0.14 at k = 7, 0.205 > 0.16,
  // 0.212 > 0.18, 0.216 > 0.20: the seven smallest.
  const std::vector<bool> at_20 = benjamini_hochberg(p, 0.2);
  const std::vector<bool> expected_20 = {false, true, true, true,  true,
                                         false, true, true, false, true};
  EXPECT_EQ(at_20, expected_20);
}

TEST(BenjaminiHochberg, EdgeCases) {
  EXPECT_TRUE(benjamini_hochberg(std::vector<double>{}, 0.05).empty());
  EXPECT_EQ(benjamini_hochberg(std::vector<double>{0.05}, 0.05), std::vector<bool>{true});
  EXPECT_EQ(benjamini_hochberg(std::vector<double>{0.0500001}, 0.05), std::vector<bool>{false});
  EXPECT_EQ(benjamini_hochberg(std::vector<double>{1, 1, 1}, 0.05), std::vector<bool>(3, false));
  EXPECT_EQ(benjamini_hochberg(std::vector<double>{0, 0, 1}, 0.05),
            (std::vector<bool>{true, true, false}));
  // Ties at the boundary: three p = 0.03 with m = 3, q = 0.05 (0.03 <= 3 * 0.05 / 3).
  EXPECT_EQ(benjamini_hochberg(std::vector<double>{0.03, 0.03, 0.03}, 0.05),
            std::vector<bool>(3, true));
  EXPECT_THROW(benjamini_hochberg(std::vector<double>{0.1}, 0.0), std::invalid_argument);
  EXPECT_THROW(benjamini_hochberg(std::vector<double>{0.1}, 1.0), std::invalid_argument);
  EXPECT_THROW(benjamini_hochberg(std::vector<double>{-0.1}, 0.05), std::invalid_argument);
  EXPECT_THROW(benjamini_hochberg(std::vector<double>{1.1}, 0.05), std::invalid_argument);
  EXPECT_THROW(benjamini_hochberg(std::vector<double>{std::nan("")}, 0.05), std::invalid_argument);
}

// 300 pure-noise series and 10 with a 12% step, each tested with enough permutations that the
// p-value floor is 1/20 of BH's smallest threshold (ceil(20 * 310 / 0.05) = 124000), BH at 0.05.
// The steps' p-values sit at the floor, 8e-6, under 0.05 / 310: all ten rejected in every seed
// set is expected, at least 9 in each asserted. BH keeps the expected proportion of false
// discoveries among discoveries at 0.05 * 300/310, here about 0.6 false ones per seed set (over 40
// seed sets: mean 0.57, at most 4 in one; these three give 2 each); asserted: at most 4 per seed
// set, where no correction (each p <= 0.05) would let through about 14.
TEST(BenjaminiHochberg, ManySeriesFindTheStepsAndFewFalseOnes) {
  constexpr std::size_t kNoiseSeries = 300;
  constexpr std::size_t kStepSeries = 10;
  constexpr std::size_t kSeeds = 3;
  const auto permutations =
      static_cast<std::size_t>(std::ceil(20.0 * (kNoiseSeries + kStepSeries) / 0.05));
  ASSERT_EQ(permutations, 124000u);
  for (std::size_t seed = 0; seed < kSeeds; ++seed) {
    std::vector<double> p;
    for (std::size_t k = 0; k < kNoiseSeries + kStepSeries; ++k) {
      const bool step = k >= kNoiseSeries;
      const auto series = synthetic_series(step ? step_at_30 : flat, data_seed(10 + seed, k));
      EDivisiveOptions o = options_for(1000 * seed + k);
      o.permutations = permutations;
      p.push_back(e_divisive(series, o).first_p_value);
    }
    const std::vector<bool> rejected = benjamini_hochberg(p, 0.05);
    const auto true_found = std::count(rejected.begin() + kNoiseSeries, rejected.end(), true);
    const auto false_found = std::count(rejected.begin(), rejected.begin() + kNoiseSeries, true);
    std::printf(
        "BH over %zu noise + %zu step series (seed set %zu): %td steps rejected, %td "
        "false discoveries\n",
        kNoiseSeries, kStepSeries, seed, true_found, false_found);
    EXPECT_GE(true_found, 9);
    EXPECT_LE(false_found, 4);
  }
}

// ---- Step size ----------------------------------------------------------------------------------

TEST(EstimateStep, KnownMedians) {
  const std::vector<double> before = {1, 3, 2};
  const std::vector<double> after = {6, 2, 4, 5};  // median (4 + 5) / 2
  const StepEstimate e = estimate_step(before, after);
  EXPECT_DOUBLE_EQ(e.before, 2.0);
  EXPECT_DOUBLE_EQ(e.after, 4.5);
  EXPECT_DOUBLE_EQ(e.change, 1.25);
  EXPECT_LE(e.low, e.change);
  EXPECT_GE(e.high, e.change);
  // Every resampled median lies between the samples' extremes: change in [4/3 ... ] bounds
  // (2/3 - 1, 6/1 - 1) = (-1/3, 5).
  EXPECT_GE(e.low, 2.0 / 3 - 1);
  EXPECT_LE(e.high, 5.0);
}

// A clean 12% step, 30 points each side with 3% noise: the median's standard error is about
// 1.25 * 0.03 / sqrt(30) = 0.7%, so the 95% interval is about +-2% around 0.12 and must contain
// it (the data seeds are fixed; checked over 20 of them, at least 17 intervals must cover 0.12,
// since a 95% interval misses one time in twenty), and exclude 0 in all.
TEST(EstimateStep, IntervalOfACleanStepContainsTheTrueChange) {
  std::size_t covered = 0;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    const auto x = synthetic_series(step_at_30, data_seed(5, seed));
    const std::vector<double> before(x.begin(), x.begin() + 30);
    const std::vector<double> after(x.begin() + 30, x.end());
    const StepEstimate e = estimate_step(before, after, 0.95, 2000, seed);
    EXPECT_NEAR(e.change, 0.12, 0.04);
    EXPECT_GT(e.low, 0.0);
    EXPECT_LT(e.low, e.high);
    covered += e.low <= 0.12 && 0.12 <= e.high;
    // And the regression the other way round: a drop of 1 - 1/1.12 = 10.7%.
    const StepEstimate down = estimate_step(after, before, 0.95, 2000, seed);
    EXPECT_LT(down.change, 0.0);
    EXPECT_LT(down.high, 0.0);
  }
  std::printf("bootstrap 95%% interval covered the 12%% step in %zu/20\n", covered);
  EXPECT_GE(covered, 17u);
}

TEST(EstimateStep, SameSeedSameInterval) {
  const auto x = synthetic_series(step_at_30, 3);
  const std::vector<double> before(x.begin(), x.begin() + 30);
  const std::vector<double> after(x.begin() + 30, x.end());
  const StepEstimate a = estimate_step(before, after, 0.9, 500, 7);
  const StepEstimate b = estimate_step(before, after, 0.9, 500, 7);
  EXPECT_EQ(a.low, b.low);
  EXPECT_EQ(a.high, b.high);
  const StepEstimate c = estimate_step(before, after, 0.9, 500, 8);
  EXPECT_EQ(a.change, c.change);
  EXPECT_TRUE(a.low != c.low || a.high != c.high);
}

TEST(EstimateStep, BadInputThrows) {
  const std::vector<double> some = {1, 2, 3};
  const std::vector<double> none;
  EXPECT_THROW(estimate_step(none, some), std::invalid_argument);
  EXPECT_THROW(estimate_step(some, none), std::invalid_argument);
  EXPECT_THROW(estimate_step(std::vector<double>{0, 0, 1}, some), std::invalid_argument);
  EXPECT_THROW(estimate_step(some, some, 0.0), std::invalid_argument);
  EXPECT_THROW(estimate_step(some, some, 1.0), std::invalid_argument);
  EXPECT_THROW(estimate_step(some, some, 0.95, 0), std::invalid_argument);
}

}  // namespace
}  // namespace gapbench::history
