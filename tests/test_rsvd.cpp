// The randomized subspace iteration solver (rsvd_top_k on cpu::DenseOperator and
// cpu::HostBlockOps) against LAPACK's exact singular values, its plan (defaults and refusals), its
// determinism, a run cut short, and rank-deficient operators whose products leave the subspace
// short of directions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "gapbench/cpu/cpu_device.hpp"
#include "gapbench/cpu/generate.hpp"
#include "gapbench/error.hpp"
#include "gapbench/model.hpp"
#include "gapbench/solvers/rsvd.hpp"
#include "gapbench/solvers/solver_types.hpp"
#include "test_models.hpp"

namespace gapbench {
namespace {

using test::at;
using test::markov;
using test::NamedModel;

ModelSpec attention(std::int64_t d, bool causal) {
  return test::attention(InputKind::kGaussian, d, causal);
}

std::vector<NamedModel> models() {
  return {{"MarkovExponential", markov(EntryLaw::kExponential)},
          {"MarkovLognormalBeta1", markov(EntryLaw::kLognormal, 1.0)},
          {"AttentionGaussianD16", attention(16, false)},
          {"AttentionCausalD16", attention(16, true)}};
}

template <typename Real>
constexpr Precision precision_of() {
  return sizeof(Real) == 8 ? Precision::kFloat64 : Precision::kFloat32;
}

SolverOptions rsvd_options(int k) {
  SolverOptions o;
  o.kind = SolverKind::kRsvd;
  o.k = k;
  return o;
}

// rsvd on a dense row-major T x T matrix; checks that `passes` is the operator's own count.
template <typename Real>
SolveResult solve_rsvd(const std::vector<Real>& a, std::int64_t T, const SolverOptions& options,
                       std::uint64_t seed = 0) {
  RsvdPlan plan = plan_rsvd(options, precision_of<Real>(), T);
  plan.seed = seed;
  cpu::DenseOperator<Real> op(a.data(), T, T);
  cpu::HostBlockOps<Real> ops;
  const SolveResult r = rsvd_top_k<Real>(op, ops, plan);
  EXPECT_EQ(r.passes, op.passes());
  return r;
}

// The `count` largest exact singular values (LAPACK gesdd on a copy).
std::vector<double> exact_values(std::vector<double> a, std::int64_t T, int count) {
  return cpu::exact_singular_values<double>(a.data(), T, T, count, false).values;
}

void expect_descending(const std::vector<double>& v) {
  for (std::size_t i = 1; i < v.size(); ++i) EXPECT_GE(v[i - 1], v[i]) << "value " << i;
}

// Distance from s_i to the nearest other singular value, relative to s_i (`exact` holds at least
// one value more than the index asked for).
double relative_gap(const std::vector<double>& exact, std::size_t i) {
  double gap = std::numeric_limits<double>::infinity();
  if (i > 0) gap = std::min(gap, exact[i - 1] - exact[i]);
  if (i + 1 < exact.size()) gap = std::min(gap, exact[i] - exact[i + 1]);
  return gap / exact[i];
}

// How far a Ritz value can sit from s_i, relative to s_i, when its residual
// r = ||(A v - s u, A^T u - s v)|| is at most `residual` s_i: (u, v) / sqrt(2) is a unit
// approximate eigenvector of [[0, A], [A^T, 0]] (eigenvalues +-s_j) with residual r / sqrt(2), so
// the error is at most r / sqrt(2) (Weyl) and at most (r^2 / 2) / gap (Kato-Temple, gap to the
// other eigenvalues).
double ritz_error_bound(double residual, double relative_gap) {
  return std::min(residual / std::sqrt(2.0), residual * residual / (2 * relative_gap));
}

// Tolerances of the comparison with exact values, each checked against ritz_error_bound of the
// case before it is used (so that a tolerance a case cannot justify fails loudly, not silently):
// - float64: converged means r_i <= 1e-8 s_i (the rounding floor, 10 eps sqrt(T) s_1 ~ 7e-14 s_1,
//   is far below that here); the smallest relative gap in these spectra is ~1e-3 (s3, s4 of
//   markov at T = 1000), so Kato-Temple gives <= 1e-16 / 2e-3 = 5e-14, and LAPACK and the solver
//   add ~1e-15 s_1 / s_k ~ 2e-14 of rounding: 1e-10 leaves a wide margin, yet fails for a value
//   that is merely within its residual (1e-8) or any value that was missed.
// - float32: converged means r_i <= max(1e-4 s_i, 10 eps_32 s_1); the floor is ~2e-5 s_i for
//   s_4 of markov at T = 1000, so tol binds for all four and Weyl bounds each error by 7e-5 s_i.
//   (With the floor of 10 eps_32 sqrt(T) s_1 used before, ~6e-4 s_i there, bulk values were
//   called converged far from tol: 1e-2 errors at T = 32768.) The reference is the float64 exact
//   value of the float64 matrix, which the float32 matrix differs from by ~6e-8 ||A||_F, ~1e-6
//   relative to s2: well inside 1e-4.
constexpr double kRelTol64 = 1e-10;
constexpr double kRelTol32 = 1e-4;

// ---- rsvd against exact, every model, fix and T -------------------------------------------

using RsvdCase = std::tuple<NamedModel, std::int64_t, Fix>;

class RsvdVersusExact : public ::testing::TestWithParam<RsvdCase> {};

TEST_P(RsvdVersusExact, TopFourMatchInBothPrecisions) {
  const auto& [model, T, fix] = GetParam();
  const ModelSpec spec = at(model.spec, T, fix);
  constexpr int kK = 4;
  const std::vector<double> a64 = cpu::generate_dense<double>(spec, 0, 1);
  const std::vector<double> ref = exact_values(a64, T, kK + 1);
  ASSERT_EQ(ref.size(), static_cast<std::size_t>(kK + 1));

  const SolveResult r64 = solve_rsvd(a64, T, rsvd_options(kK));
  EXPECT_TRUE(r64.converged);
  ASSERT_EQ(r64.values.size(), static_cast<std::size_t>(kK));
  expect_descending(r64.values);
  EXPECT_LE(r64.residual, default_tol(Precision::kFloat64));
  // The tested residuals are formed from the products with A: they are the reported ones.
  EXPECT_EQ(r64.residual, r64.residual_estimate);
  EXPECT_EQ(r64.passes, 2 * r64.iterations + 1);
  for (int i = 0; i < kK; ++i) {
    ASSERT_LE(ritz_error_bound(r64.residual, relative_gap(ref, i)), kRelTol64 / 10)
        << "float64 s" << i + 1 << ": the tolerance is not justified for this spectrum";
    EXPECT_NEAR(r64.values[i], ref[i], kRelTol64 * ref[i]) << "float64 s" << i + 1;
  }

  const std::vector<float> a32 = cpu::generate_dense<float>(spec, 0, 1);
  const SolveResult r32 = solve_rsvd(a32, T, rsvd_options(kK));
  EXPECT_TRUE(r32.converged);
  ASSERT_EQ(r32.values.size(), static_cast<std::size_t>(kK));
  expect_descending(r32.values);
  EXPECT_EQ(r32.passes, 2 * r32.iterations + 1);
  // The convergence test: r_i <= max(tol s_i, 10 eps s_1) for each of the top k.
  const double floor = 10 * std::numeric_limits<float>::epsilon() * r32.values[0];
  EXPECT_LE(r32.residual, std::max(default_tol(Precision::kFloat32), floor / r32.values[kK - 1]));
  for (int i = 0; i < kK; ++i) {
    ASSERT_LE(ritz_error_bound(r32.residual, relative_gap(ref, i)), kRelTol32 / 2)
        << "float32 s" << i + 1 << ": the tolerance is not justified for this spectrum";
    EXPECT_NEAR(r32.values[i], ref[i], kRelTol32 * ref[i]) << "float32 s" << i + 1;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, RsvdVersusExact,
                         ::testing::Combine(::testing::ValuesIn(models()),
                                            ::testing::Values(64, 1000),
                                            ::testing::Values(Fix::kNone, Fix::kCenter)),
                         [](const ::testing::TestParamInfo<RsvdCase>& info) {
                           return std::get<0>(info.param).name + "T" +
                                  std::to_string(std::get<1>(info.param)) +
                                  (std::get<2>(info.param) == Fix::kNone ? "FixNone" : "FixCenter");
                         });

// ---- the plan: defaults and refusals ------------------------------------------------------

TEST(RsvdPlan, FillsInTheDefaults) {
  const RsvdPlan p = plan_rsvd(rsvd_options(4), Precision::kFloat64, 1000);
  EXPECT_EQ(p.k, 4);
  EXPECT_EQ(p.oversample, default_oversample(4));
  EXPECT_EQ(p.tol, default_tol(Precision::kFloat64));
  EXPECT_EQ(p.max_iter, kDefaultMaxIter);
  EXPECT_EQ(plan_rsvd(rsvd_options(4), Precision::kFloat32, 1000).tol,
            default_tol(Precision::kFloat32));
  EXPECT_EQ(plan_rsvd(rsvd_options(kMaxK), Precision::kFloat64, 1000).oversample,
            default_oversample(kMaxK));
}

TEST(RsvdPlan, KeepsExplicitValues) {
  SolverOptions o = rsvd_options(3);
  o.oversample = 5;
  o.tol = 1e-6;
  o.max_iter = 17;
  o.power_iters = 9;  // xgesvdr's, not rsvd's: ignored
  const RsvdPlan p = plan_rsvd(o, Precision::kFloat64, 64);
  EXPECT_EQ(p.k, 3);
  EXPECT_EQ(p.oversample, 5);
  EXPECT_EQ(p.tol, 1e-6);
  EXPECT_EQ(p.max_iter, 17);
}

// The default oversampling must not make a small T fail: it shrinks to the whole space.
TEST(RsvdPlan, DefaultOversampleShrinksToFitSmallT) {
  EXPECT_EQ(plan_rsvd(rsvd_options(4), Precision::kFloat64, 10).oversample, 6);
  EXPECT_EQ(plan_rsvd(rsvd_options(4), Precision::kFloat64, 4).oversample, 0);
}

struct Refusal {
  std::string name;
  int k;
  int oversample;
  std::int64_t T;
  std::string flag;
  std::string text;  // a part of the message
};

void PrintTo(const Refusal& r, std::ostream* os) { *os << r.name; }

class RsvdPlanRefuses : public ::testing::TestWithParam<Refusal> {};

TEST_P(RsvdPlanRefuses, WithAUsageErrorNamingTheFlag) {
  const Refusal& c = GetParam();
  SolverOptions o = rsvd_options(c.k);
  o.oversample = c.oversample;
  try {
    plan_rsvd(o, Precision::kFloat64, c.T);
    FAIL() << c.name << " was accepted";
  } catch (const UsageError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(c.flag + ":", 0), 0u) << what;
    EXPECT_NE(what.find(c.text), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RsvdPlanRefuses,
    ::testing::Values(Refusal{"KZero", 0, 0, 64, "--k", "not 0"},
                      Refusal{"KNegative", -2, 0, 64, "--k", "not -2"},
                      Refusal{"KAboveMax", kMaxK + 1, 0, 1000, "--k", "not 33"},
                      Refusal{"KAboveT", 8, 0, 6, "--k", "exceeds T = 6"},
                      Refusal{"OversampleNegative", 4, -1, 64, "--oversample", "negative"},
                      Refusal{"SubspaceAboveT", 4, 61, 64, "--oversample",
                              "k + p = 65 exceeds T = 64"}),
    [](const auto& info) { return info.param.name; });

// ---- determinism --------------------------------------------------------------------------

TEST(RsvdDeterminism, SameSeedGivesBitwiseTheSameResult) {
  constexpr std::int64_t kT = 257;
  const std::vector<double> a =
      cpu::generate_dense<double>(at(markov(EntryLaw::kLognormal), kT, Fix::kCenter), 5, 0);
  const SolveResult first = solve_rsvd(a, kT, rsvd_options(4), /*seed=*/7);
  const SolveResult second = solve_rsvd(a, kT, rsvd_options(4), /*seed=*/7);
  EXPECT_EQ(first.values, second.values);  // bitwise: operator== on doubles
  EXPECT_EQ(first.iterations, second.iterations);
  EXPECT_EQ(first.passes, second.passes);
  EXPECT_EQ(first.residual, second.residual);

  // Another seed is another start block: other rounding, the same values to the tolerance (the
  // seed reaches the solver, and the answer does not hang on it).
  const SolveResult other = solve_rsvd(a, kT, rsvd_options(4), /*seed=*/8);
  EXPECT_NE(first.values, other.values);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(other.values[i], first.values[i], kRelTol64 * first.values[i]) << "s" << i + 1;
  }
}

TEST(RsvdDeterminism, FloatSameSeedGivesBitwiseTheSameResult) {
  constexpr std::int64_t kT = 257;
  const std::vector<float> a =
      cpu::generate_dense<float>(at(attention(16, true), kT, Fix::kNone), 5, 0);
  const SolveResult first = solve_rsvd(a, kT, rsvd_options(4), /*seed=*/3);
  const SolveResult second = solve_rsvd(a, kT, rsvd_options(4), /*seed=*/3);
  EXPECT_EQ(first.values, second.values);
  EXPECT_EQ(first.passes, second.passes);
}

// ---- a run cut short is flagged, not hidden -----------------------------------------------

TEST(RsvdCutShort, OneIterationWithATightTolIsNotConverged) {
  constexpr std::int64_t kT = 64;
  constexpr int kK = 4;
  const std::vector<double> a =
      cpu::generate_dense<double>(at(markov(EntryLaw::kExponential), kT, Fix::kNone), 0, 0);
  const std::vector<double> all = exact_values(a, kT, kT);
  SolverOptions o = rsvd_options(kK);
  o.max_iter = 1;
  o.tol = 1e-12;
  const SolveResult r = solve_rsvd(a, kT, o);
  EXPECT_FALSE(r.converged);
  EXPECT_EQ(r.iterations, 1);
  EXPECT_EQ(r.passes, 3);  // A V of the start block, then A^T U and A V
  EXPECT_GT(r.residual, o.tol);
  ASSERT_EQ(r.values.size(), static_cast<std::size_t>(kK));
  expect_descending(r.values);
  // Ritz values of a projection U^T A V (orthonormal U, V) interlace with the true values:
  // s_min <= theta_i <= s_i. A value outside that range is not a Ritz value at all.
  for (int i = 0; i < kK; ++i) {
    EXPECT_TRUE(std::isfinite(r.values[i])) << "theta" << i + 1;
    EXPECT_GE(r.values[i], all.back() * (1 - 1e-12)) << "theta" << i + 1;
    EXPECT_LE(r.values[i], all[i] * (1 + 1e-12)) << "theta" << i + 1;
    // The reported residual is an honest bound (Weyl, see ritz_error_bound): some singular value
    // lies within r_i / sqrt(2) of theta_i, r_i <= residual * theta_i. An underestimated residual
    // (one side of it only, say) fails here, since theta_i is still far from converged.
    double distance = std::numeric_limits<double>::infinity();
    for (const double s : all) distance = std::min(distance, std::abs(r.values[i] - s));
    EXPECT_LE(distance, r.residual * r.values[i] / std::sqrt(2.0) * (1 + 1e-6)) << "theta" << i + 1;
  }
  // More iterations pass the same tolerance: the flag is about the budget, not the matrix.
  o.max_iter = 0;
  const SolveResult full = solve_rsvd(a, kT, o);
  EXPECT_TRUE(full.converged);
  EXPECT_GT(full.iterations, 1);
  EXPECT_EQ(full.passes, 2 * full.iterations + 1);
}

// ---- rank-deficient operators --------------------------------------------------------------

// A = 1.0 x1 y1^T + 0.5 x2 y2^T with orthonormal x's and y's (T = 64): with l = 12 > rank 2,
// ten columns of every product are rounding noise and must be replaced by random directions,
// not divided by ~0.
TEST(RsvdRankDeficient, RankTwoOperatorGivesTwoValuesAndZeros) {
  constexpr std::int64_t kT = 64;
  std::vector<double> a(static_cast<std::size_t>(kT * kT), 0.0);
  for (std::int64_t i = 0; i < kT; ++i) {
    for (std::int64_t j = 0; j < kT; ++j) {
      // x1 = e_0, y1 = 1/sqrt(T); x2 = e_1, y2 = alternating signs / sqrt(T): orthonormal.
      const double y1 = 1.0 / std::sqrt(static_cast<double>(kT));
      const double y2 = (j % 2 ? -1.0 : 1.0) / std::sqrt(static_cast<double>(kT));
      a[i * kT + j] = (i == 0 ? 1.0 * y1 : 0.0) + (i == 1 ? 0.5 * y2 : 0.0);
    }
  }
  const SolveResult r = solve_rsvd(a, kT, rsvd_options(4));
  ASSERT_EQ(r.values.size(), 4u);
  for (double v : r.values) EXPECT_TRUE(std::isfinite(v));
  // Exact values are 1, 0.5, 0, 0; rounding leaves ~eps * ||A|| on the zeros.
  EXPECT_NEAR(r.values[0], 1.0, 1e-13);
  EXPECT_NEAR(r.values[1], 0.5, 1e-13);
  EXPECT_LE(r.values[2], 1e-13);
  EXPECT_LE(r.values[3], 1e-13);
  EXPECT_TRUE(r.converged);
  // The subspace holds the whole range after one product: the first test passes.
  EXPECT_EQ(r.iterations, 1);
}

// The centered matrix A - (1/T) 1 1^T has 1 in its null space. With the subspace the whole space
// (k + p = T) one product column is rounding noise; the values are then exact after one
// iteration, the zero among them.
class RsvdWholeSpace : public ::testing::TestWithParam<NamedModel> {};

TEST_P(RsvdWholeSpace, CenteredMatrixWithItsZeroValue) {
  constexpr std::int64_t kT = 12;
  constexpr int kK = 4;
  const std::vector<double> a =
      cpu::generate_dense<double>(at(GetParam().spec, kT, Fix::kCenter), 0, 0);
  const std::vector<double> all = exact_values(a, kT, kT);
  ASSERT_LE(all.back(), 1e-14 * all[0]) << "the centered matrix should be singular";
  for (const int k : {kK, static_cast<int>(kT)}) {
    SolverOptions o = rsvd_options(k);
    o.oversample = k < kT ? static_cast<int>(kT) - k : 0;
    const SolveResult r = solve_rsvd(a, kT, o);
    ASSERT_EQ(r.values.size(), static_cast<std::size_t>(k));
    EXPECT_TRUE(r.converged) << "k = " << k;
    EXPECT_EQ(r.iterations, 1) << "k = " << k;
    for (int i = 0; i < k; ++i) {
      ASSERT_TRUE(std::isfinite(r.values[i])) << "k = " << k << ", s" << i + 1;
      // The SVD of the whole projected matrix: rounding only, ~eps ||A|| per value.
      EXPECT_NEAR(r.values[i], all[i], 1e-13 * all[0]) << "k = " << k << ", s" << i + 1;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, RsvdWholeSpace, ::testing::ValuesIn(models()),
                         [](const auto& info) { return info.param.name; });

// A = X Y^T / T with Gaussian X, Y (T x 5): rank 5 with a generic spectrum, below l = 12, so
// seven columns of every product are rounding noise and are refilled each iteration.
TEST(RsvdRankDeficient, RankFiveOperatorMatchesExact) {
  constexpr std::int64_t kT = 200, kRank = 5;
  const std::vector<double> x =
      cpu::gaussian_matrix<double>(Stream::kInputs, 1.0, 11, 0, kT, kRank);
  const std::vector<double> y =
      cpu::gaussian_matrix<double>(Stream::kInputs, 1.0, 11, 1, kT, kRank);
  std::vector<double> a(static_cast<std::size_t>(kT * kT));
  cpu::deterministic_gemm<double>(/*transpose_b=*/true, kT, kT, kRank, x.data(), y.data(),
                                  a.data());
  for (double& v : a) v /= kT;
  const std::vector<double> ref = exact_values(a, kT, 6);
  ASSERT_LE(ref[5], 1e-13 * ref[0]) << "A should have rank 5";
  const SolveResult r = solve_rsvd(a, kT, rsvd_options(4));
  EXPECT_TRUE(r.converged);
  // The subspace holds the whole range after one product: the first test passes.
  EXPECT_EQ(r.iterations, 1);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(std::isfinite(r.values[i])) << "s" << i + 1;
    EXPECT_NEAR(r.values[i], ref[i], kRelTol64 * ref[i]) << "s" << i + 1;
  }
}

}  // namespace
}  // namespace gapbench
