// The restarted Arnoldi (Krylov-Schur) solver against LAPACK's geev (cpu::solve_dense with
// SolverKind::kArnoldi and kExact under --spectrum eigen on copies of the same generated matrix),
// on the CPU's dense and fused operators, in float64 and float32; the ordering contract of eigen
// results (by modulus, a conjugate pair adjacent and never split); k = 32; an operator whose
// Krylov space closes; determinism; pass counting; plan_arnoldi's refusals; and the sorted
// Schur form of small_dense against dgeev. A DISABLED_ test measures |lambda_2| against geev at T =
// 1000, 2048, 4096 for docs/solvers.md (run it with --gtest_also_run_disabled_tests).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <tuple>
#include <vector>

#include "gapbench/cpu/cpu_device.hpp"
#include "gapbench/cpu/fused_operator.hpp"
#include "gapbench/cpu/generate.hpp"
#include "gapbench/error.hpp"
#include "gapbench/model.hpp"
#include "gapbench/solvers/arnoldi.hpp"
#include "gapbench/solvers/iterative.hpp"
#include "gapbench/solvers/small_dense.hpp"
#include "gapbench/solvers/solver_types.hpp"
#include "gapbench/text.hpp"
#include "test_models.hpp"

namespace gapbench {
namespace {

using test::at;
using test::attention;
using test::markov;
using test::NamedModel;

template <typename Real>
constexpr Precision precision_of() {
  return sizeof(Real) == 8 ? Precision::kFloat64 : Precision::kFloat32;
}

SolverOptions eigen_options(SolverKind kind, int k) {
  SolverOptions o;
  o.kind = kind;
  o.k = k;
  o.spectrum = Spectrum::kEigen;
  return o;
}

// geev's top k of the float64 matrix (solve_dense destroys its input: a copy).
SolveResult geev_top(std::vector<double> a, std::int64_t T, int k) {
  return cpu::solve_dense<double>(a.data(), T, eigen_options(SolverKind::kExact, k),
                                  Precision::kFloat64, 0);
}

template <typename Real>
SolveResult arnoldi_dense(std::vector<Real> a, std::int64_t T, SolverOptions o,
                          std::uint64_t seed = 0) {
  return cpu::solve_dense<Real>(a.data(), T, o, precision_of<Real>(), seed);
}

double modulus(const SolveResult& r, std::size_t i) {
  return std::hypot(r.values[i], r.values_im[i]);
}

// The ordering contract of SolveResult for eigenvalues.
void expect_eigen_order(const SolveResult& r) {
  ASSERT_EQ(r.values.size(), r.values_im.size());
  for (std::size_t i = 1; i < r.values.size(); ++i) {
    EXPECT_GE(modulus(r, i - 1), modulus(r, i)) << "value " << i;
  }
  for (std::size_t i = 0; i < r.values.size(); ++i) {
    if (r.values_im[i] > 0) {
      ASSERT_LT(i + 1, r.values.size()) << "pair split at " << i;
      EXPECT_EQ(r.values[i + 1], r.values[i]) << "pair at " << i;
      EXPECT_EQ(r.values_im[i + 1], -r.values_im[i]) << "pair at " << i;
      ++i;
    } else {
      EXPECT_EQ(r.values_im[i], 0.0) << "value " << i << " has no partner before it";
    }
  }
}

// Each of the reference values has a returned value within `tol`, the same count, and a
// conjugate pair of the reference is a pair in the result (the positive member matches the
// positive member).
void expect_same_values(const SolveResult& got, const SolveResult& ref, double tol,
                        const std::string& what) {
  ASSERT_EQ(got.values.size(), ref.values.size()) << what;
  for (std::size_t i = 0; i < ref.values.size(); ++i) {
    double best = INFINITY;
    for (std::size_t j = 0; j < got.values.size(); ++j) {
      best = std::min(
          best, std::hypot(got.values[j] - ref.values[i], got.values_im[j] - ref.values_im[i]));
    }
    EXPECT_LE(best, tol) << what << ": lambda" << i + 1 << " = " << ref.values[i] << " + "
                         << ref.values_im[i] << "i";
  }
}

// ---- arnoldi against geev ------------------------------------------------------------------

std::vector<NamedModel> models() {
  return {{"MarkovExponential", markov(EntryLaw::kExponential)},
          {"AttentionGaussianD64", attention(InputKind::kGaussian, 64, false)}};
}

// Tolerances against geev, absolute, relative to |lambda_1| (1 for these row-stochastic
// matrices, and bounding the rest):
// - float64: the solver stops at residual ||A x - lambda x|| <= 1e-8 scale (scale <= s1); an
//   eigenvalue moves by at most the residual times its condition number, which exceeds 1 at the
//   crowded bulk edge of these non-normal matrices, while Ritz values converge faster than their
//   vectors. Measured: errors up to 3.3e-10 over these cases (2.2e-9 with a basis of 60):
//   1e-8 leaves 30x margin and fails a value from the wrong place in the spectrum (neighbouring
//   edge eigenvalues lie ~1e-4 to 1e-3 apart).
// - float32: the reference is geev of the float64 matrix; the float32 matrix differs by ~6e-8
//   relative per entry and its products round at ~1e-7 ||A||, which moves an eigenvalue by that
//   times its condition number, and the solver's own test is 1e-4 scale. Measured: errors up to
//   2.6e-6 over these cases (5e-6 with a basis of 60): 1e-4 leaves 20x margin.
constexpr double kTol64 = 1e-8;
constexpr double kTol32 = 1e-4;
// The recomputed residual may exceed the estimate the test used by rounding only (2x here).
constexpr double kResidualSlack = 2.0;
constexpr int kK = 4;

enum class OperatorKind { kDense, kFused };

using ArnoldiCase = std::tuple<NamedModel, std::int64_t, Fix, OperatorKind>;

template <typename Real>
SolveResult run_case(const ModelSpec& spec, OperatorKind kind, std::uint64_t seed,
                     std::uint32_t index) {
  const SolverOptions o = eigen_options(SolverKind::kArnoldi, kK);
  if (kind == OperatorKind::kDense) {
    return arnoldi_dense<Real>(cpu::generate_dense<Real>(spec, seed, index), spec.T, o);
  }
  const auto fused = cpu::FusedOperator<Real>::from_model(spec, seed, index);
  cpu::HostBlockOps<Real> ops;
  return solve_iterative<Real>(fused, ops, o, precision_of<Real>(), 0, cpu::kFusedLanczosBlock);
}

class ArnoldiVersusGeev : public ::testing::TestWithParam<ArnoldiCase> {};

TEST_P(ArnoldiVersusGeev, TopFourMatchInBothPrecisions) {
  const auto& [model, T, fix, kind] = GetParam();
  const ModelSpec spec = at(model.spec, T, fix);
  const SolveResult ref = geev_top(cpu::generate_dense<double>(spec, 5, 1), T, kK);
  const double scale = std::hypot(ref.values[0], ref.values_im[0]);

  const SolveResult r64 = run_case<double>(spec, kind, 5, 1);
  EXPECT_TRUE(r64.converged);
  expect_eigen_order(r64);
  expect_same_values(r64, ref, kTol64 * scale, "float64");
  EXPECT_LE(r64.residual_estimate, default_tol(Precision::kFloat64));
  EXPECT_LE(r64.residual, kResidualSlack * default_tol(Precision::kFloat64));
  EXPECT_GT(r64.iterations, 0);
  // One product per Arnoldi step and one for the final residuals.
  EXPECT_EQ(r64.passes, r64.iterations + 1);
  if (spec.kind == ModelKind::kMarkov && fix == Fix::kNone) {
    // A 1 = 1 for a row-stochastic A: lambda_1 = 1, isolated (the rest lie within ~1/sqrt(T)),
    // so it converges to rounding: 1e-12.
    EXPECT_NEAR(r64.values[0], 1.0, 1e-12);
    EXPECT_EQ(r64.values_im[0], 0.0);
  }

  const SolveResult r32 = run_case<float>(spec, kind, 5, 1);
  EXPECT_TRUE(r32.converged);
  expect_eigen_order(r32);
  expect_same_values(r32, ref, kTol32 * scale, "float32");
  EXPECT_LE(r32.residual, kResidualSlack * default_tol(Precision::kFloat32));
}

INSTANTIATE_TEST_SUITE_P(
    Models, ArnoldiVersusGeev,
    ::testing::Combine(::testing::ValuesIn(models()), ::testing::Values(64, 257, 1000),
                       ::testing::Values(Fix::kNone, Fix::kCenter),
                       ::testing::Values(OperatorKind::kDense, OperatorKind::kFused)),
    [](const ::testing::TestParamInfo<ArnoldiCase>& info) {
      return std::get<0>(info.param).name + "T" + std::to_string(std::get<1>(info.param)) +
             (std::get<2>(info.param) == Fix::kNone ? "FixNone" : "FixCenter") +
             (std::get<3>(info.param) == OperatorKind::kDense ? "Dense" : "Fused");
    });

// ---- k = 32: the default basis grows with k -------------------------------------------------

class ArnoldiManyValues : public ::testing::TestWithParam<NamedModel> {};

TEST_P(ArnoldiManyValues, TopThirtyTwoAtT257) {
  constexpr std::int64_t kT = 257;
  const ModelSpec spec = at(GetParam().spec, kT, Fix::kNone);
  const std::vector<double> a = cpu::generate_dense<double>(spec, 3, 0);
  const SolveResult ref = geev_top(a, kT, kMaxK);
  const SolveResult r = arnoldi_dense<double>(a, kT, eigen_options(SolverKind::kArnoldi, kMaxK));
  EXPECT_TRUE(r.converged);
  expect_eigen_order(r);
  // As kTol64 above (the same residual test; values deeper in the bulk are no worse
  // conditioned than the edge).
  expect_same_values(r, ref, kTol64 * std::hypot(ref.values[0], ref.values_im[0]), "k = 32");
  EXPECT_LE(r.residual, kResidualSlack * default_tol(Precision::kFloat64));
}

INSTANTIATE_TEST_SUITE_P(Models, ArnoldiManyValues, ::testing::ValuesIn(models()),
                         [](const auto& info) { return info.param.name; });

// ---- the Krylov space closes: rank 2 -------------------------------------------------------

// A = e0 e0^T + 0.5 (e1 + e0) e1^T (T = 64, row-major): eigenvalues 1, 0.5 and 62 zeros. After
// two or three steps the products have nothing new left, which must be refilled with random
// directions (block_orth), not divided by ~0; the zeros then converge as exact null vectors.
TEST(ArnoldiRun, RankTwoOperatorFindsItsValuesAndZeros) {
  constexpr std::int64_t kT = 64;
  std::vector<double> a(static_cast<std::size_t>(kT * kT), 0.0);
  a[0] = 1.0;       // (0, 0)
  a[1] = 0.5;       // (0, 1)
  a[kT + 1] = 0.5;  // (1, 1)
  const SolveResult r = arnoldi_dense<double>(a, kT, eigen_options(SolverKind::kArnoldi, kK));
  ASSERT_EQ(r.values.size(), static_cast<std::size_t>(kK));
  for (std::size_t i = 0; i < r.values.size(); ++i) {
    EXPECT_TRUE(std::isfinite(r.values[i]) && std::isfinite(r.values_im[i])) << "value " << i;
  }
  EXPECT_TRUE(r.converged);
  // Rounding leaves ~eps ||A|| on each value; 1e-12 absorbs it.
  EXPECT_NEAR(r.values[0], 1.0, 1e-12);
  EXPECT_NEAR(r.values[1], 0.5, 1e-12);
  EXPECT_LE(modulus(r, 2), 1e-12);
  EXPECT_LE(modulus(r, 3), 1e-12);
}

// The zero operator: every product is refilled at random, the scale is 0, and the result is
// zeros with finite residuals, not NaN.
TEST(ArnoldiRun, ZeroOperatorGivesZerosNotNaN) {
  constexpr std::int64_t kT = 16;
  const std::vector<double> a(static_cast<std::size_t>(kT * kT), 0.0);
  const SolveResult r = arnoldi_dense<double>(a, kT, eigen_options(SolverKind::kArnoldi, 2));
  ASSERT_EQ(r.values.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(r.values[i], 0.0) << "value " << i;
    EXPECT_EQ(r.values_im[i], 0.0) << "value " << i;
  }
  EXPECT_EQ(r.residual, 0.0);
  EXPECT_EQ(r.residual_estimate, 0.0);
  EXPECT_TRUE(r.converged);
}

// ---- the ordering contract: a conjugate pair is never split ---------------------------------

// Block-diagonal, row-major T x T: real eigenvalues 1, -0.9, 0.8, then a rotation block
// 0.7 [[cos t, -sin t], [sin t, cos t]] (eigenvalues 0.7 e^{+-it}), then 0.5 ... 0.05 on the
// rest of the diagonal; conjugated by a fixed upper-triangular matrix so that the operator is
// not normal (the eigenvalues stay the same).
std::vector<double> matrix_with_pair(std::int64_t T, double theta) {
  std::vector<double> d(static_cast<std::size_t>(T * T), 0.0);
  const auto at_rc = [&](std::vector<double>& m, std::int64_t r, std::int64_t c) -> double& {
    return m[static_cast<std::size_t>(r * T + c)];
  };
  at_rc(d, 0, 0) = 1.0;
  at_rc(d, 1, 1) = -0.9;
  at_rc(d, 2, 2) = 0.8;
  at_rc(d, 3, 3) = 0.7 * std::cos(theta);
  at_rc(d, 3, 4) = -0.7 * std::sin(theta);
  at_rc(d, 4, 3) = 0.7 * std::sin(theta);
  at_rc(d, 4, 4) = 0.7 * std::cos(theta);
  for (std::int64_t i = 5; i < T; ++i) {
    at_rc(d, i, i) = 0.5 - 0.45 * static_cast<double>(i - 5) / static_cast<double>(T - 5);
  }
  // A = U D U^{-1} with U = I + 0.1 (strictly upper ones), U^{-1} by back substitution per
  // column.
  std::vector<double> u(d.size(), 0.0), uinv(d.size(), 0.0);
  for (std::int64_t i = 0; i < T; ++i) {
    for (std::int64_t j = i; j < T; ++j) at_rc(u, i, j) = i == j ? 1.0 : 0.1;
  }
  for (std::int64_t c = 0; c < T; ++c) {
    for (std::int64_t r = T - 1; r >= 0; --r) {
      double s = r == c ? 1.0 : 0.0;
      for (std::int64_t l = r + 1; l < T; ++l) s -= at_rc(u, r, l) * at_rc(uinv, l, c);
      at_rc(uinv, r, c) = s;
    }
  }
  std::vector<double> ud(d.size(), 0.0), a(d.size(), 0.0);
  for (std::int64_t i = 0; i < T; ++i) {
    for (std::int64_t l = 0; l < T; ++l) {
      for (std::int64_t j = 0; j < T; ++j) at_rc(ud, i, j) += at_rc(u, i, l) * at_rc(d, l, j);
    }
  }
  for (std::int64_t i = 0; i < T; ++i) {
    for (std::int64_t l = 0; l < T; ++l) {
      for (std::int64_t j = 0; j < T; ++j) at_rc(a, i, j) += at_rc(ud, i, l) * at_rc(uinv, l, j);
    }
  }
  return a;
}

// k = 4 ends on the first of the pair: 5 values, the pair adjacent, positive imaginary part
// first; k = 5 ends on its second: 5 values; k = 3 stops before it: 3 values.
class ArnoldiPair : public ::testing::TestWithParam<int> {};

TEST_P(ArnoldiPair, TakesThePairWholeInModulusOrder) {
  constexpr std::int64_t kT = 96;
  const double theta = 1.1;
  const int k = GetParam();
  const std::vector<double> a = matrix_with_pair(kT, theta);
  const SolveResult r = arnoldi_dense<double>(a, kT, eigen_options(SolverKind::kArnoldi, k));
  EXPECT_TRUE(r.converged);
  expect_eigen_order(r);
  const std::size_t expected = k == 3 ? 3 : 5;
  ASSERT_EQ(r.values.size(), expected);
  // Every eigenvalue here has condition number <= cond(U) ~ 1e2 (U = I + 0.1 upper ones,
  // T = 96), and the residual is <= 1e-8 * scale: 1e-6.
  constexpr double kTol = 1e-6;
  EXPECT_NEAR(r.values[0], 1.0, kTol);
  EXPECT_NEAR(r.values[1], -0.9, kTol);
  EXPECT_NEAR(r.values[2], 0.8, kTol);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(r.values_im[i], 0.0) << "value " << i;
  if (expected == 5) {
    EXPECT_NEAR(r.values[3], 0.7 * std::cos(theta), kTol);
    EXPECT_NEAR(r.values_im[3], 0.7 * std::sin(theta), kTol);
    EXPECT_EQ(r.values[4], r.values[3]);
    EXPECT_EQ(r.values_im[4], -r.values_im[3]);
  }
  // The same values as geev's, taken the same way.
  expect_same_values(r, geev_top(a, kT, k), kTol, "geev");
}

INSTANTIATE_TEST_SUITE_P(K, ArnoldiPair, ::testing::Values(3, 4, 5),
                         [](const auto& info) { return "K" + std::to_string(info.param); });

// ---- blocks (--block) ---------------------------------------------------------------------

// Block Krylov-Schur against geev: the same top 4 to the float64 tolerance above, on the dense
// and the fused operator, one pass per block step (and one at the end).
using BlockCase = std::tuple<int, OperatorKind>;
class ArnoldiBlock : public ::testing::TestWithParam<BlockCase> {};

TEST_P(ArnoldiBlock, MatchesGeevWithOnePassPerBlockStep) {
  const auto& [block, kind] = GetParam();
  constexpr std::int64_t kT = 257;
  for (const NamedModel& model : models()) {
    const ModelSpec spec = at(model.spec, kT, Fix::kNone);
    const SolveResult ref = geev_top(cpu::generate_dense<double>(spec, 5, 1), kT, kK);
    SolverOptions o = eigen_options(SolverKind::kArnoldi, kK);
    o.block = block;
    SolveResult r;
    if (kind == OperatorKind::kDense) {
      r = arnoldi_dense<double>(cpu::generate_dense<double>(spec, 5, 1), kT, o);
    } else {
      const auto fused = cpu::FusedOperator<double>::from_model(spec, 5, 1);
      cpu::HostBlockOps<double> ops;
      r = solve_iterative<double>(fused, ops, o, Precision::kFloat64, 0, 1);
    }
    EXPECT_TRUE(r.converged) << model.name;
    expect_eigen_order(r);
    expect_same_values(r, ref, kTol64 * std::hypot(ref.values[0], ref.values_im[0]), model.name);
    EXPECT_LE(r.residual, kResidualSlack * default_tol(Precision::kFloat64)) << model.name;
    EXPECT_EQ(r.passes, r.iterations + 1) << model.name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Blocks, ArnoldiBlock,
    ::testing::Combine(::testing::Values(2, 4, 8),
                       ::testing::Values(OperatorKind::kDense, OperatorKind::kFused)),
    [](const ::testing::TestParamInfo<BlockCase>& info) {
      return "Block" + std::to_string(std::get<0>(info.param)) +
             (std::get<1>(info.param) == OperatorKind::kDense ? "Dense" : "Fused");
    });

// A pair is taken whole with blocks too (k = 4 ends on its first value: 5 values).
TEST(ArnoldiBlock, TakesThePairWhole) {
  constexpr std::int64_t kT = 96;
  const std::vector<double> a = matrix_with_pair(kT, 1.1);
  SolverOptions o = eigen_options(SolverKind::kArnoldi, 4);
  o.block = 3;
  const SolveResult r = arnoldi_dense<double>(a, kT, o);
  EXPECT_TRUE(r.converged);
  expect_eigen_order(r);
  ASSERT_EQ(r.values.size(), 5u);
  expect_same_values(r, geev_top(a, kT, 4), 1e-6, "geev");  // as ArnoldiPair
}

// An eigenvalue of multiplicity 2: A = diag(1, 0.9, 0.9, 0.8, 0.5 ... 0.05). A single start
// vector spans one direction of the 0.9 eigenspace and A keeps it there (exactly, for a diagonal
// A); blocks of 2 hold both directions from the start. Blocks of 1 find the second copy too,
// because the Krylov space becomes invariant and the orthonormaliser completes it with a random
// vector (block_orth.hpp), which brings the missing direction in.
TEST(ArnoldiBlock, FindsBothCopiesOfADoubleEigenvalue) {
  constexpr std::int64_t kT = 120;
  std::vector<double> a(static_cast<std::size_t>(kT * kT), 0.0);
  const std::vector<double> top = {1.0, 0.9, 0.9, 0.8};
  for (std::int64_t i = 0; i < kT; ++i) {
    a[static_cast<std::size_t>(i * kT + i)] =
        i < 4 ? top[static_cast<std::size_t>(i)]
              : 0.5 - 0.45 * static_cast<double>(i - 4) / static_cast<double>(kT - 5);
  }
  SolverOptions o = eigen_options(SolverKind::kArnoldi, 4);
  o.block = 2;
  const SolveResult two = arnoldi_dense<double>(a, kT, o);
  EXPECT_TRUE(two.converged);
  ASSERT_EQ(two.values.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(two.values[i], top[i], 1e-8) << "value " << i;
    EXPECT_EQ(two.values_im[i], 0.0) << "value " << i;
  }
  o.block = 1;
  const SolveResult one = arnoldi_dense<double>(a, kT, o);
  EXPECT_TRUE(one.converged);
  ASSERT_EQ(one.values.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(one.values[i], top[i], 1e-8) << "value " << i;
}

// ---- determinism and pass counting -----------------------------------------------------------

TEST(ArnoldiRun, SameSeedGivesBitwiseEqualValues) {
  constexpr std::int64_t kT = 257;
  const ModelSpec spec = at(markov(EntryLaw::kExponential), kT, Fix::kNone);
  const std::vector<double> a = cpu::generate_dense<double>(spec, 2, 0);
  const SolverOptions o = eigen_options(SolverKind::kArnoldi, 6);
  const SolveResult first = arnoldi_dense<double>(a, kT, o, 9);
  const SolveResult second = arnoldi_dense<double>(a, kT, o, 9);
  ASSERT_EQ(first.values.size(), second.values.size());
  for (std::size_t i = 0; i < first.values.size(); ++i) {
    EXPECT_EQ(first.values[i], second.values[i]) << "value " << i;
    EXPECT_EQ(first.values_im[i], second.values_im[i]) << "value " << i;
  }
  EXPECT_EQ(first.passes, second.passes);
  EXPECT_EQ(first.residual, second.residual);
  // Another start vector reaches the same values (to the float64 tolerance above), by a
  // different path.
  const SolveResult other = arnoldi_dense<double>(a, kT, o, 10);
  expect_same_values(other, first, kTol64, "seed 10 against seed 9");
}

TEST(ArnoldiRun, PassesAreTheOperatorsProducts) {
  constexpr std::int64_t kT = 257;
  const ModelSpec spec = at(markov(EntryLaw::kExponential), kT, Fix::kCenter);
  const std::vector<double> a = cpu::generate_dense<double>(spec, 0, 4);
  cpu::DenseOperator<double> op(a.data(), kT, kT);
  cpu::HostBlockOps<double> ops;
  ArnoldiPlan plan = plan_arnoldi(eigen_options(SolverKind::kArnoldi, kK), Precision::kFloat64, kT);
  plan.forecast = false;  // convergence tested at restarts only (ForecastTest... below)
  const SolveResult r = arnoldi_top_k<double>(op, ops, plan);
  EXPECT_TRUE(r.converged);
  EXPECT_EQ(r.passes, op.passes());
  // Steps fill the basis once, then add basis - keep (or one fewer, around a pair) per restart.
  EXPECT_GE(r.iterations, plan.basis + r.restarts * (plan.basis - plan.keep - 1));
  EXPECT_LE(r.iterations, plan.basis + r.restarts * (plan.basis - plan.keep + 1));
  EXPECT_EQ(r.passes, r.iterations + 1);
}

// Convergence tested between restarts where the residuals' decay forecasts it: at T = 1000
// (basis 100, keep 50) seeds 1, 2 and 4 converge 8-32 products into a cycle of 50 (measured:
// 271, 258 and 282 products against 299, 299 and 298 with tests at restarts only); the values
// are geev's all the same. Fails if the forecast never tests (the passes are then equal) or
// tests too early to matter.
TEST(ArnoldiRun, ForecastTestConvergesBetweenRestarts) {
  constexpr std::int64_t kT = 1000;
  const ModelSpec spec = at(markov(EntryLaw::kExponential), kT, Fix::kNone);
  for (const std::uint64_t seed : {1, 2, 4}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const std::vector<double> a = cpu::generate_dense<double>(spec, seed, 0);
    const SolveResult ref = geev_top(a, kT, kK);
    cpu::DenseOperator<double> op(a.data(), kT, kT);
    cpu::HostBlockOps<double> ops;
    ArnoldiPlan plan =
        plan_arnoldi(eigen_options(SolverKind::kArnoldi, kK), Precision::kFloat64, kT);
    plan.seed = seed;
    ASSERT_TRUE(plan.forecast);
    const SolveResult early = arnoldi_top_k<double>(op, ops, plan);
    plan.forecast = false;
    const SolveResult at_restarts = arnoldi_top_k<double>(op, ops, plan);
    for (const SolveResult* r : {&early, &at_restarts}) {
      EXPECT_TRUE(r->converged);
      EXPECT_LE(r->residual_estimate, plan.tol);
      expect_same_values(*r, ref, kTol64, r == &early ? "forecast" : "restarts only");
    }
    EXPECT_LT(early.passes, at_restarts.passes);
    // Stopped inside a cycle: fewer steps than the restarts it made complete.
    EXPECT_LT(early.iterations, plan.basis + early.restarts * (plan.basis - plan.keep - 1));
  }
}

// A run stopped by --max-iter says so, with the Ritz values it had.
TEST(ArnoldiRun, CutShortReportsNotConverged) {
  constexpr std::int64_t kT = 1000;
  const ModelSpec spec = at(markov(EntryLaw::kExponential), kT, Fix::kNone);
  SolverOptions o = eigen_options(SolverKind::kArnoldi, kK);
  o.max_iter = 12;
  const SolveResult r = arnoldi_dense<double>(cpu::generate_dense<double>(spec, 0, 0), kT, o);
  EXPECT_FALSE(r.converged);
  EXPECT_EQ(r.iterations, 12);
  EXPECT_EQ(r.restarts, 0);
  EXPECT_GT(r.residual_estimate, default_tol(Precision::kFloat64));
  EXPECT_GE(r.values.size(), static_cast<std::size_t>(kK));
  expect_eigen_order(r);
  // lambda_1 = 1 is isolated (the rest within ~1/sqrt(T) = 0.03): 12 steps find it to ~1e-6.
  EXPECT_NEAR(r.values[0], 1.0, 1e-6);
}

// ---- plan_arnoldi's refusals -----------------------------------------------------------------

void expect_usage_error(const SolverOptions& o, std::int64_t T, const std::string& flag) {
  try {
    plan_arnoldi(o, Precision::kFloat64, T);
    FAIL() << "k = " << o.k << ", basis = " << o.basis << ", max_iter = " << o.max_iter
           << " at T = " << T << " was accepted";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(flag, 0), 0u) << e.what();
  }
}

TEST(ArnoldiPlan, RefusesSizesThatCannotWork) {
  SolverOptions o = eigen_options(SolverKind::kArnoldi, kMaxK + 1);
  expect_usage_error(o, 4096, "--k");
  o.k = 0;
  expect_usage_error(o, 4096, "--k");
  o.k = 16;
  expect_usage_error(o, 16, "--k");  // k = T
  o.k = 20;
  expect_usage_error(o, 16, "--k");  // k > T
  o.k = 13;
  expect_usage_error(o, 16, "--k");  // T < k + 4
  o.k = 8;
  o.basis = 10;
  expect_usage_error(o, 4096, "--basis");  // cannot hold k + 1 and two more
  o.basis = 0;
  o.max_iter = 9;
  expect_usage_error(o, 4096, "--max-iter");
  o.max_iter = 0;
  o.k = 4;
  o.block = 10;
  expect_usage_error(o, 34, "--block");  // T < k + 1 + 3 block
  o.basis = 24;
  expect_usage_error(o, 4096, "--basis");  // cannot hold k + 1 and two blocks of 10
  o.basis = 0;
  o.max_iter = 0;
  // The same refusal through the dispatch the CLI uses.
  o = eigen_options(SolverKind::kArnoldi, kMaxK + 1);
  EXPECT_THROW(check_iterative(o, Precision::kFloat64, 4096, 1), UsageError);
}

TEST(ArnoldiPlan, DefaultsAndWorkspace) {
  const SolverOptions o = eigen_options(SolverKind::kArnoldi, kK);
  const ArnoldiPlan p64 = plan_arnoldi(o, Precision::kFloat64, 4096);
  EXPECT_EQ(p64.tol, 1e-8);
  EXPECT_EQ(plan_arnoldi(o, Precision::kFloat32, 4096).tol, 1e-4);
  EXPECT_GT(p64.keep, p64.k);
  EXPECT_LT(p64.keep, p64.basis - 1);
  EXPECT_GE(p64.max_iter, p64.basis);
  // The basis never exceeds the space (m + 1 vectors of length T).
  const ArnoldiPlan small = plan_arnoldi(o, Precision::kFloat64, 20);
  EXPECT_LE(small.basis, 19);
  EXPECT_GE(small.basis, small.k + 3);
  const std::int64_t elements = iterative_workspace_elements(o, Precision::kFloat64, 4096, 1);
  EXPECT_EQ(elements, workspace_elements(p64, 4096));
  EXPECT_GE(elements, (p64.basis + 1) * std::int64_t{4096});
  EXPECT_EQ(p64.block, kArnoldiDefaultBlock);
  // Blocks: the basis leaves room for the residual block, keep for two blocks, the default
  // block shrinks to fit a small T, and --max-iter counts block steps.
  SolverOptions ob = o;
  ob.block = 8;
  const ArnoldiPlan p8 = plan_arnoldi(ob, Precision::kFloat64, 4096);
  EXPECT_EQ(p8.block, 8);
  EXPECT_LE(p8.keep, p8.basis - 16);
  EXPECT_EQ(p8.max_iter, (p64.max_iter + 7) / 8);
  EXPECT_EQ(workspace_elements(p8, 4096),
            (p8.basis + 8 + std::max(8, p8.keep + 1) + p8.k + 1 + 8) * std::int64_t{4096});
  const ArnoldiPlan fits = plan_arnoldi(ob, Precision::kFloat64, 29);  // (29 - 5) / 3 = 8
  EXPECT_EQ(fits.block, 8);
  EXPECT_LE(fits.basis + fits.block, 29);
}

// ---- the host Schur form the restarts rest on ---------------------------------------------

// A 40 x 40 matrix of standard normals (Philox through HostBlockOps, seed 4): S = Q T Q^T with
// Q orthogonal, T quasi-triangular with its blocks by modulus, the same eigenvalues as dgeev,
// and S x = lambda x for the eigenvectors. Rounding on these O(1)-entry matrices of size 40 is
// ~1e-14; 1e-11 absorbs the eigenvalues' condition numbers (~1e2 at most for a random matrix).
TEST(ArnoldiSmallDense, SortedSchurFormAndEigenvectors) {
  constexpr std::int64_t kN = 40;
  std::vector<double> s(static_cast<std::size_t>(kN * kN));
  cpu::HostBlockOps<double> ops;
  ops.fill_random({s.data(), kN, kN, kN}, 4, 0);
  const detail::SmallSchur schur = detail::small_schur_by_modulus(s, kN);
  const auto at_cm = [&](const std::vector<double>& m, std::int64_t r, std::int64_t c) {
    return m[static_cast<std::size_t>(c * kN + r)];
  };
  for (std::int64_t r = 0; r < kN; ++r) {
    for (std::int64_t c = 0; c < kN; ++c) {
      double qtq = 0, qq = 0;
      for (std::int64_t l = 0; l < kN; ++l) {
        qq += at_cm(schur.q, l, r) * at_cm(schur.q, l, c);
        for (std::int64_t m = 0; m < kN; ++m) {
          qtq += at_cm(schur.q, r, l) * at_cm(schur.t, l, m) * at_cm(schur.q, c, m);
        }
      }
      ASSERT_NEAR(qtq, at_cm(s, r, c), 1e-11) << "Q T Q^T at " << r << ", " << c;
      ASSERT_NEAR(qq, r == c ? 1.0 : 0.0, 1e-12) << "Q^T Q at " << r << ", " << c;
      if (r > c + 1) {
        ASSERT_EQ(at_cm(schur.t, r, c), 0.0) << "T at " << r << ", " << c;
      }
    }
  }
  for (std::int64_t i = 1; i < kN; ++i) {
    EXPECT_GE(std::hypot(schur.re[i - 1], schur.im[i - 1]) * (1 + 1e-12),
              std::hypot(schur.re[i], schur.im[i]))
        << "block order at " << i;
  }
  std::vector<double> re, im;
  detail::small_eigenvalues(s, kN, re, im);
  for (std::int64_t i = 0; i < kN; ++i) {
    double best = INFINITY;
    for (std::int64_t j = 0; j < kN; ++j) {
      best = std::min(best, std::hypot(schur.re[i] - re[j], schur.im[i] - im[j]));
    }
    EXPECT_LE(best, 1e-11) << "eigenvalue " << i;
  }
  // S x = lambda x: real, or (S - a) xr = -b xi and (S - a) xi = b xr for a pair.
  const std::vector<double> x = detail::small_schur_eigenvectors(schur, kN);
  for (std::int64_t i = 0; i < kN; ++i) {
    const bool pair = schur.im[i] > 0;
    const double a = schur.re[i], b = schur.im[i];
    double res = 0, norm = 0;
    for (std::int64_t r = 0; r < kN; ++r) {
      double sr = 0, si = 0;
      for (std::int64_t c = 0; c < kN; ++c) {
        sr += at_cm(s, r, c) * at_cm(x, c, i);
        if (pair) si += at_cm(s, r, c) * at_cm(x, c, i + 1);
      }
      const double xr = at_cm(x, r, i), xi = pair ? at_cm(x, r, i + 1) : 0.0;
      res += std::pow(sr - a * xr + b * xi, 2) + std::pow(si - b * xr - a * xi, 2);
      norm += xr * xr + xi * xi;
    }
    EXPECT_LE(std::sqrt(res / norm), 1e-11) << "eigenvector " << i;
    if (pair) ++i;
  }
}

// Ordering only the leading blocks (a restart's): the same Schur form S = Q T Q^T, positions
// 0 .. 9 hold the 10 largest moduli descending (a pair across the end whole), the rest the
// remaining eigenvalues; and the largest singular value of a 41 x 40 block (leading dimension
// 50) equals the top one of its SVD. Rounding is ~1e-14 on these O(1) entries.
TEST(ArnoldiSmallDense, PartlySortedSchurFormAndTopSingularValue) {
  constexpr std::int64_t kN = 40, kSorted = 10;
  std::vector<double> s(static_cast<std::size_t>(kN * kN));
  cpu::HostBlockOps<double> ops;
  ops.fill_random({s.data(), kN, kN, kN}, 5, 0);
  const detail::SmallSchur full = detail::small_schur_by_modulus(s, kN);
  const detail::SmallSchur part = detail::small_schur_by_modulus(s, kN, kSorted);
  const auto modulus = [](const detail::SmallSchur& x, std::int64_t i) {
    return std::hypot(x.re[static_cast<std::size_t>(i)], x.im[static_cast<std::size_t>(i)]);
  };
  for (std::int64_t r = 0; r < kN; ++r) {
    for (std::int64_t c = 0; c < kN; ++c) {
      double qtq = 0;
      for (std::int64_t l = 0; l < kN; ++l) {
        for (std::int64_t m = 0; m < kN; ++m) {
          qtq += part.q[static_cast<std::size_t>(l * kN + r)] *
                 part.t[static_cast<std::size_t>(m * kN + l)] *
                 part.q[static_cast<std::size_t>(m * kN + c)];
        }
      }
      ASSERT_NEAR(qtq, s[static_cast<std::size_t>(c * kN + r)], 1e-11) << r << ", " << c;
    }
  }
  std::int64_t end = kSorted;  // a pair that opens at kSorted - 1 is ordered whole
  if (part.im[static_cast<std::size_t>(kSorted - 1)] > 0) ++end;
  for (std::int64_t i = 0; i < end; ++i) {
    EXPECT_NEAR(modulus(part, i), modulus(full, i), 1e-12) << "leading position " << i;
  }
  std::vector<double> tail_part, tail_full;
  for (std::int64_t i = end; i < kN; ++i) {
    tail_part.push_back(modulus(part, i));
    tail_full.push_back(modulus(full, i));
  }
  std::sort(tail_part.begin(), tail_part.end());
  std::sort(tail_full.begin(), tail_full.end());
  for (std::size_t i = 0; i < tail_full.size(); ++i) {
    EXPECT_NEAR(tail_part[i], tail_full[i], 1e-12) << "tail " << i;
  }

  constexpr std::int64_t kRows = 41, kCols = 40, kLd = 50;
  std::vector<double> h(static_cast<std::size_t>(kLd * kCols));
  ops.fill_random({h.data(), kLd, kCols, kLd}, 6, 0);
  std::vector<double> square(static_cast<std::size_t>(kRows * kRows), 0.0);  // h padded
  for (std::int64_t c = 0; c < kCols; ++c) {
    for (std::int64_t r = 0; r < kRows; ++r) {
      square[static_cast<std::size_t>(c * kRows + r)] = h[static_cast<std::size_t>(c * kLd + r)];
    }
  }
  EXPECT_NEAR(detail::small_top_singular_value(h.data(), kRows, kCols, kLd),
              detail::small_svd(square, kRows).values[0], 1e-12);
}

// ---- the measurement behind the defaults (docs/solvers.md) ---------------------------------

// |lambda_2| of arnoldi against geev's, and whether geev's top 4 are all found, on markov
// exponential at T = 1000, 2048, 4096 over seeds, for several (basis, keep). Prints a table;
// asserts nothing. GAPBENCH_ARNOLDI_T narrows T (one value), GAPBENCH_ARNOLDI_SEEDS sets the
// seed count (from GAPBENCH_ARNOLDI_FIRST_SEED), GAPBENCH_ARNOLDI_CONFIGS the (basis, keep)
// pairs ("100:50,60:30"), GAPBENCH_ARNOLDI_MAX_ITER the step limit.
TEST(ArnoldiMeasure, DISABLED_SecondModulusAgainstGeev) {
  std::vector<std::int64_t> sizes = {1000, 2048, 4096};
  if (const char* t = std::getenv("GAPBENCH_ARNOLDI_T")) sizes = {std::atoll(t)};
  int seeds = 4, first_seed = 0, max_iter = 0;
  if (const char* s = std::getenv("GAPBENCH_ARNOLDI_SEEDS")) seeds = std::atoi(s);
  if (const char* s = std::getenv("GAPBENCH_ARNOLDI_FIRST_SEED")) first_seed = std::atoi(s);
  if (const char* s = std::getenv("GAPBENCH_ARNOLDI_MAX_ITER")) max_iter = std::atoi(s);
  // GAPBENCH_ARNOLDI_INDEX: matrix index I of every seed, as `gapbench dump --index I` (default
  // 0); with GAPBENCH_ARNOLDI_INDICES="0 1 2" the seed stays GAPBENCH_ARNOLDI_FIRST_SEED and the
  // indices vary instead (the matrices of scripts/bench-cpu-peers.sh).
  std::uint32_t index = 0;
  if (const char* s = std::getenv("GAPBENCH_ARNOLDI_INDEX")) index = std::atoi(s);
  std::vector<std::uint32_t> indices;
  if (const char* s = std::getenv("GAPBENCH_ARNOLDI_INDICES")) {
    for (const std::string& item : split(s, ' ')) {
      if (!item.empty()) indices.push_back(static_cast<std::uint32_t>(std::stoul(item)));
    }
  }
  struct Config {
    int block, basis, keep;
  };
  std::vector<Config> configs = {{1, 60, 30}, {1, 100, 50}, {4, 100, 50}, {8, 120, 60}};
  // "block:basis:keep,...", or "basis:keep,..." for blocks of 1.
  if (const char* c = std::getenv("GAPBENCH_ARNOLDI_CONFIGS")) {
    configs.clear();
    for (const std::string& item : split(c, ',')) {
      const std::vector<std::string> bk = split(item, ':');
      const std::size_t o = bk.size() == 3 ? 1 : 0;
      configs.push_back(
          {o == 1 ? std::stoi(bk.at(0)) : 1, std::stoi(bk.at(o)), std::stoi(bk.at(o + 1))});
    }
  }
  double tol = 0;
  if (const char* s = std::getenv("GAPBENCH_ARNOLDI_TOL")) tol = std::atof(s);
  bool forecast = true;  // GAPBENCH_ARNOLDI_FORECAST=0: test convergence at restarts only
  if (const char* s = std::getenv("GAPBENCH_ARNOLDI_FORECAST")) forecast = std::atoi(s) != 0;
  std::printf(
      "T,seed,index,block,basis,keep,l2_geev,l2_rel_err,max_rel_err,top4_match,passes,products,"
      "restarts,converged,ms\n");
  const int cases = indices.empty() ? seeds : static_cast<int>(indices.size());
  for (const std::int64_t T : sizes) {
    for (int c = 0; c < cases; ++c) {
      const int seed = indices.empty() ? first_seed + c : first_seed;
      const std::uint32_t matrix = indices.empty() ? index : indices[c];
      const ModelSpec spec = at(markov(EntryLaw::kExponential), T, Fix::kNone);
      const std::vector<double> a = cpu::generate_dense<double>(spec, seed, matrix);
      const SolveResult ref = geev_top(a, T, 4);
      const double l2 = modulus(ref, 1);
      for (const auto& [block, basis, keep] : configs) {
        ArnoldiPlan plan =
            plan_arnoldi(eigen_options(SolverKind::kArnoldi, 4), Precision::kFloat64, T);
        plan.block = block;
        plan.basis = basis;
        plan.keep = keep;
        if (tol > 0) plan.tol = tol;
        plan.forecast = forecast;
        plan.seed = static_cast<std::uint64_t>(seed);
        if (max_iter > 0) plan.max_iter = max_iter;
        cpu::DenseOperator<double> op(a.data(), T, T);
        cpu::HostBlockOps<double> ops;
        const auto t0 = std::chrono::steady_clock::now();
        const SolveResult r = arnoldi_top_k<double>(op, ops, plan);
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        double max_rel = 0;
        for (int i = 0; i < 4; ++i) {
          max_rel = std::max(max_rel, std::abs(modulus(r, i) - modulus(ref, i)) / modulus(ref, i));
        }
        bool match = r.values.size() >= 4;
        for (std::size_t i = 0; i < 4 && match; ++i) {
          double best = INFINITY;
          for (std::size_t j = 0; j < r.values.size(); ++j) {
            best = std::min(
                best, std::hypot(r.values[j] - ref.values[i], r.values_im[j] - ref.values_im[i]));
          }
          match = best <= 1e-6;
        }
        std::printf("%lld,%d,%u,%d,%d,%d,%.6f,%.2e,%.2e,%d,%lld,%lld,%d,%d,%.0f\n",
                    static_cast<long long>(T), seed, matrix, block, basis, keep, l2,
                    (modulus(r, 1) - l2) / l2, max_rel, match ? 1 : 0,
                    static_cast<long long>(r.passes), static_cast<long long>(r.iterations) * block,
                    r.restarts, r.converged ? 1 : 0, ms);
        std::fflush(stdout);
      }
    }
  }
}

}  // namespace
}  // namespace gapbench
