// The block Lanczos solver against LAPACK's exact singular values (cpu::solve_dense with
// SolverKind::kLanczos and kExact on copies of the same generated matrix), its options (k, block,
// max_iter) and the spectral facts of PAPER.md that exact values must satisfy (interlacing of A
// and A_perp, s1 >= 1).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "gapbench/cpu/cpu_device.hpp"
#include "gapbench/cpu/generate.hpp"
#include "gapbench/error.hpp"
#include "gapbench/model.hpp"
#include "gapbench/solvers/solver_types.hpp"
#include "test_models.hpp"

namespace gapbench {
namespace {

using test::at;
using test::attention;
using test::markov;
using test::NamedModel;

// d = 0 marks isometric inputs, whose d follows T (d = T, the smallest that is allowed).
std::vector<NamedModel> models() {
  return {{"MarkovExponential", markov(EntryLaw::kExponential)},
          {"MarkovLognormalBeta05", markov(EntryLaw::kLognormal, 0.5)},
          {"MarkovLognormalBeta1", markov(EntryLaw::kLognormal, 1.0)},
          {"MarkovUniform", markov(EntryLaw::kUniform)},
          {"MarkovGammaShape2", markov(EntryLaw::kGamma, 2.0)},
          {"AttentionGaussianD64", attention(InputKind::kGaussian, 64, false)},
          {"AttentionIsometric", attention(InputKind::kIsometric, 0, false)},
          {"AttentionCausalD64", attention(InputKind::kGaussian, 64, true)}};
}

template <typename Real>
SolveResult solve(std::vector<Real> a, std::int64_t T, SolverOptions options) {
  // solve_dense destroys its input for the exact solver: always hand it a copy.
  const Precision p = sizeof(Real) == 8 ? Precision::kFloat64 : Precision::kFloat32;
  return cpu::solve_dense<Real>(a.data(), T, options, p, /*start_seed=*/0);
}

SolverOptions exact(int k, bool all_values = false) {
  SolverOptions o;
  o.kind = SolverKind::kExact;
  o.k = k;
  o.all_values = all_values;
  return o;
}

SolverOptions lanczos(int k) {
  SolverOptions o;
  o.kind = SolverKind::kLanczos;
  o.k = k;
  return o;
}

void expect_descending(const std::vector<double>& v) {
  for (std::size_t i = 1; i < v.size(); ++i) EXPECT_GE(v[i - 1], v[i]) << "value " << i;
}

// Tolerances of the comparison with exact values:
// - float64: the solver stops when every residual ||(A v - s u, A^T u - s v)|| <= 1e-10 s, and a
//   residual bounds the distance to a singular value, so |s_lanczos - s_exact| <= 1e-10 s.
// - float32: the default tolerance is 1e-4 (rounding in float32 products is ~1e-7 ||A||, and
//   s_k may be ~0.03 ||A||); the reference is the float64 exact value of the float64 matrix,
//   which differs from the float32 matrix by ~1e-7 relative per entry, far below 1e-4.
constexpr double kRelTol64 = 1e-10;
constexpr double kRelTol32 = 1e-4;
// The reported residual is recomputed from the final vectors, while convergence tested the
// Lanczos estimate; they differ by rounding only, so the recomputed one stays within a few times
// the tolerance (2x here).
constexpr double kResidualSlack = 2.0;

// ---- lanczos against exact, every model, fix and T -----------------------------------------

using LanczosCase = std::tuple<NamedModel, std::int64_t, Fix>;

class LanczosVersusExact : public ::testing::TestWithParam<LanczosCase> {};

TEST_P(LanczosVersusExact, TopFourMatchInBothPrecisions) {
  const auto& [model, T, fix] = GetParam();
  const ModelSpec spec = at(model.spec, T, fix);
  constexpr int kK = 4;
  const std::vector<double> a64 = cpu::generate_dense<double>(spec, 0, 1);
  const SolveResult ref = solve(a64, T, exact(kK));
  ASSERT_EQ(ref.values.size(), static_cast<std::size_t>(kK));

  const SolveResult r64 = solve(a64, T, lanczos(kK));
  EXPECT_TRUE(r64.converged);
  ASSERT_EQ(r64.values.size(), static_cast<std::size_t>(kK));
  expect_descending(r64.values);
  for (int i = 0; i < kK; ++i) {
    EXPECT_NEAR(r64.values[i], ref.values[i], kRelTol64 * ref.values[i]) << "float64 s" << i + 1;
  }
  EXPECT_LE(r64.residual, kResidualSlack * default_tol(Precision::kFloat64));
  EXPECT_LE(r64.residual_estimate, default_tol(Precision::kFloat64));
  EXPECT_GT(r64.passes, 0);
  EXPECT_GT(r64.iterations, 0);

  const std::vector<float> a32 = cpu::generate_dense<float>(spec, 0, 1);
  const SolveResult r32 = solve(a32, T, lanczos(kK));
  EXPECT_TRUE(r32.converged);
  ASSERT_EQ(r32.values.size(), static_cast<std::size_t>(kK));
  expect_descending(r32.values);
  for (int i = 0; i < kK; ++i) {
    EXPECT_NEAR(r32.values[i], ref.values[i], kRelTol32 * ref.values[i]) << "float32 s" << i + 1;
  }
  EXPECT_LE(r32.residual, kResidualSlack * default_tol(Precision::kFloat32));
}

INSTANTIATE_TEST_SUITE_P(Models, LanczosVersusExact,
                         ::testing::Combine(::testing::ValuesIn(models()),
                                            ::testing::Values(64, 257, 1024),
                                            ::testing::Values(Fix::kNone, Fix::kCenter)),
                         [](const ::testing::TestParamInfo<LanczosCase>& info) {
                           return std::get<0>(info.param).name + "T" +
                                  std::to_string(std::get<1>(info.param)) +
                                  (std::get<2>(info.param) == Fix::kNone ? "FixNone" : "FixCenter");
                         });

// ---- k = 32 ----------------------------------------------------------------------------------

class LanczosManyValues : public ::testing::TestWithParam<NamedModel> {};

TEST_P(LanczosManyValues, TopThirtyTwoAtT257) {
  constexpr std::int64_t kT = 257;
  constexpr int kK = kMaxK;
  const ModelSpec spec = at(GetParam().spec, kT, Fix::kNone);
  const std::vector<double> a = cpu::generate_dense<double>(spec, 3, 0);
  const SolveResult ref = solve(a, kT, exact(kK));
  const SolveResult r = solve(a, kT, lanczos(kK));
  EXPECT_TRUE(r.converged);
  ASSERT_EQ(r.values.size(), static_cast<std::size_t>(kK));
  expect_descending(r.values);
  for (int i = 0; i < kK; ++i) {
    EXPECT_NEAR(r.values[i], ref.values[i], kRelTol64 * ref.values[i]) << "s" << i + 1;
  }
  EXPECT_LE(r.residual, kResidualSlack * default_tol(Precision::kFloat64));
}

INSTANTIATE_TEST_SUITE_P(Models, LanczosManyValues, ::testing::ValuesIn(models()),
                         [](const auto& info) { return info.param.name; });

// ---- block sizes ---------------------------------------------------------------------------

using BlockCase = std::tuple<NamedModel, int>;

class LanczosBlocks : public ::testing::TestWithParam<BlockCase> {};

TEST_P(LanczosBlocks, EveryBlockSizeFindsTheSameValues) {
  const auto& [model, block] = GetParam();
  constexpr std::int64_t kT = 257;
  constexpr int kK = 8;
  const ModelSpec spec = at(model.spec, kT, Fix::kNone);
  const std::vector<double> a = cpu::generate_dense<double>(spec, 0, 0);
  const SolveResult ref = solve(a, kT, exact(kK));
  SolverOptions o = lanczos(kK);
  o.block = block;
  const SolveResult r = solve(a, kT, o);
  EXPECT_TRUE(r.converged);
  ASSERT_EQ(r.values.size(), static_cast<std::size_t>(kK));
  for (int i = 0; i < kK; ++i) {
    EXPECT_NEAR(r.values[i], ref.values[i], kRelTol64 * ref.values[i]) << "s" << i + 1;
  }
  EXPECT_LE(r.residual, kResidualSlack * default_tol(Precision::kFloat64));
}

INSTANTIATE_TEST_SUITE_P(Blocks, LanczosBlocks,
                         ::testing::Combine(::testing::Values(models()[0], models()[2],
                                                              models()[4]),
                                            ::testing::Values(1, 4, 8)),
                         [](const ::testing::TestParamInfo<BlockCase>& info) {
                           return std::get<0>(info.param).name + "Block" +
                                  std::to_string(std::get<1>(info.param));
                         });

// ---- a run cut short is flagged, not hidden ------------------------------------------------

struct ShortRun {
  int block;
  int max_iter;
};

void PrintTo(const ShortRun& c, std::ostream* os) {
  *os << "block " << c.block << ", max_iter " << c.max_iter;
}

class LanczosCutShort : public ::testing::TestWithParam<ShortRun> {};

TEST_P(LanczosCutShort, ReportsNotConvergedWithKRitzValues) {
  const ShortRun c = GetParam();
  constexpr std::int64_t kT = 64;
  constexpr int kK = 4;
  ModelSpec spec = markov(EntryLaw::kExponential);
  spec.T = kT;
  const std::vector<double> a = cpu::generate_dense<double>(spec, 0, 0);
  const SolveResult all = solve(a, kT, exact(kK, /*all_values=*/true));
  ASSERT_EQ(all.values.size(), static_cast<std::size_t>(kT));
  SolverOptions o = lanczos(kK);
  o.block = c.block;
  o.max_iter = c.max_iter;
  const SolveResult r = solve(a, kT, o);
  EXPECT_FALSE(r.converged);
  EXPECT_LE(r.iterations, c.max_iter);
  EXPECT_GT(r.residual_estimate, default_tol(Precision::kFloat64));
  ASSERT_EQ(r.values.size(), static_cast<std::size_t>(kK));
  expect_descending(r.values);
  // Ritz values of a projection interlace with the true values: s_min <= theta_i <= s_i. (A
  // value outside that range is not a Ritz value at all.)
  const double s_min = all.values.back();
  for (int i = 0; i < kK; ++i) {
    EXPECT_TRUE(std::isfinite(r.values[i])) << "theta" << i + 1;
    EXPECT_GE(r.values[i], s_min * (1 - 1e-12)) << "theta" << i + 1;
    EXPECT_LE(r.values[i], all.values[i] * (1 + 1e-12)) << "theta" << i + 1;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, LanczosCutShort,
                         ::testing::Values(ShortRun{1, 5}, ShortRun{1, 6}, ShortRun{4, 2}),
                         [](const auto& info) {
                           return "Block" + std::to_string(info.param.block) + "MaxIter" +
                                  std::to_string(info.param.max_iter);
                         });

// Fewer block steps than it takes to hold k + b vectors cannot give k Ritz values: refused up
// front, naming the flag, rather than returning values that were never computed.
TEST(LanczosCutShort, TooFewStepsForKValuesIsAUsageError) {
  constexpr std::int64_t kT = 64;
  ModelSpec spec = markov(EntryLaw::kExponential);
  spec.T = kT;
  const std::vector<double> a = cpu::generate_dense<double>(spec, 0, 0);
  SolverOptions o = lanczos(4);
  o.block = 1;
  o.max_iter = 4;  // needs (k + b) / b = 5
  try {
    solve(a, kT, o);
    FAIL() << "max_iter 4 with k 4, block 1 was accepted";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("--max-iter", 0), 0u) << e.what();
  }
}

// ---- spectral facts of the exact values (PAPER.md) -----------------------------------------

class ExactSpectrum : public ::testing::TestWithParam<NamedModel> {};

TEST_P(ExactSpectrum, FixInterlacesAndTopValueIsAtLeastOne) {
  constexpr std::int64_t kT = 257;
  const ModelSpec spec = at(GetParam().spec, kT, Fix::kNone);
  const ModelSpec fixed = at(GetParam().spec, kT, Fix::kCenter);
  const SolveResult a = solve(cpu::generate_dense<double>(spec, 0, 2), kT, exact(1, true));
  const SolveResult p = solve(cpu::generate_dense<double>(fixed, 0, 2), kT, exact(1, true));
  ASSERT_EQ(a.values.size(), static_cast<std::size_t>(kT));
  ASSERT_EQ(p.values.size(), static_cast<std::size_t>(kT));
  // LAPACK's values carry ~1e-15 ||A|| absolute error; 1e-12 * s1 absorbs it.
  const double slack = 1e-12 * a.values[0];
  // A 1 = 1 gives ||A||_2 >= ||A 1|| / ||1|| = 1.
  EXPECT_GE(a.values[0], 1.0 - slack);
  for (std::int64_t k = 0; k + 1 < kT; ++k) {
    // s_{k+1}(A_perp) <= s_{k+1}(A) <= s_k(A_perp), 1-based; here 0-based k.
    ASSERT_LE(p.values[k + 1], a.values[k + 1] + slack) << "k = " << k + 1;
    ASSERT_LE(a.values[k + 1], p.values[k] + slack) << "k = " << k + 1;
  }
  // A_perp 1 = 0: its smallest singular value is 0.
  EXPECT_LE(p.values.back(), slack);
}

INSTANTIATE_TEST_SUITE_P(Models, ExactSpectrum, ::testing::ValuesIn(models()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace gapbench

namespace gapbench {
namespace {

// ---- rank-deficient operators: the Krylov space closes ------------------------------------

// A = 1.0 x1 y1^T + 0.5 x2 y2^T with orthonormal x's and y's (T = 64): after two steps the
// block products have nothing left, which must be refilled with random directions, not divided
// by ~0 (the review found NaN and a LAPACK failure for blocks of 2 and 4 here).
class LanczosLowRank : public ::testing::TestWithParam<int> {};

TEST_P(LanczosLowRank, FindsTheTwoValuesAndZeros) {
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
  SolverOptions o;
  o.kind = SolverKind::kLanczos;
  o.k = 4;
  o.block = GetParam();
  const SolveResult r = cpu::solve_dense<double>(a.data(), kT, o, Precision::kFloat64, 0);
  ASSERT_EQ(r.values.size(), 4u);
  for (double v : r.values) EXPECT_TRUE(std::isfinite(v));
  // Exact values are 1, 0.5, 0, 0; rounding leaves ~eps * ||A|| on the zeros.
  EXPECT_NEAR(r.values[0], 1.0, 1e-13);
  EXPECT_NEAR(r.values[1], 0.5, 1e-13);
  EXPECT_LE(r.values[2], 1e-13);
  EXPECT_LE(r.values[3], 1e-13);
  EXPECT_TRUE(r.converged);
}

INSTANTIATE_TEST_SUITE_P(Blocks, LanczosLowRank, ::testing::Values(1, 2, 4, 8),
                         [](const auto& info) { return "Block" + std::to_string(info.param); });

// ---- float32, exactly low rank, large entries ---------------------------------------------

// A = s * sum_r (r + 1) x_r y_r^T (rank 1 or 3, T = 64) in float32 with s = 1, 1e4, 1e8: every
// test of the solver must scale with A, so the values are exact to the float32 tolerance and
// converged at every scale (large entries once gave values ~300x too large, not converged).
class LanczosLowRankFloat32 : public ::testing::TestWithParam<std::tuple<int, double>> {};

TEST_P(LanczosLowRankFloat32, ValuesScaleWithTheMatrix) {
  constexpr std::int64_t kT = 64;
  const auto [rank, scale] = GetParam();
  // Orthogonal x_r and y_r with entries +-1 (Walsh functions): x_r^T x_r = T, so the values are
  // s * (r + 1) * T, and every entry of A is exact in float32 for these scales.
  const auto walsh = [](std::int64_t r, std::int64_t i) {
    int parity = 0;
    for (std::int64_t bits = r & i; bits != 0; bits &= bits - 1) parity ^= 1;
    return parity ? -1.0 : 1.0;
  };
  std::vector<float> a(static_cast<std::size_t>(kT * kT), 0.0f);
  for (std::int64_t i = 0; i < kT; ++i) {
    for (std::int64_t j = 0; j < kT; ++j) {
      double x = 0;
      for (int r = 0; r < rank; ++r) x += (r + 1) * walsh(r, i) * walsh(r + 1, j);
      a[i * kT + j] = static_cast<float>(scale * x);
    }
  }
  constexpr int kK = 4;
  for (int block : {1, 2, 4}) {
    SCOPED_TRACE("block " + std::to_string(block));
    SolverOptions o = lanczos(kK);
    o.block = block;
    const SolveResult r = solve<float>(a, kT, o);
    ASSERT_EQ(r.values.size(), static_cast<std::size_t>(kK));
    const double s1 = scale * rank * kT;
    for (int i = 0; i < kK; ++i) {
      if (i < rank) {
        const double exact = scale * (rank - i) * kT;
        EXPECT_NEAR(r.values[i], exact, kRelTol32 * s1) << "value " << i;
      } else {
        EXPECT_LE(r.values[i], 1e-5 * s1) << "value " << i;
      }
    }
    EXPECT_TRUE(r.converged);
  }
}

INSTANTIATE_TEST_SUITE_P(RanksAndScales, LanczosLowRankFloat32,
                         ::testing::Combine(::testing::Values(1, 3),
                                            ::testing::Values(1.0, 1e4, 1e8)),
                         [](const auto& info) {
                           const double s = std::get<1>(info.param);
                           return "Rank" + std::to_string(std::get<0>(info.param)) + "Scale1e" +
                                  std::to_string(static_cast<int>(std::lround(std::log10(s))));
                         });

}  // namespace
}  // namespace gapbench
