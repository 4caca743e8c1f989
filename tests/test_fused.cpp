// The matrix-free (fused) operator against the dense matrix it stands for: on every model, with
// and without the fix, with the causal mask where the model has it, at T in {64, 257, 2048}:
// products A X and A^T X agree normwise (||dY||_F / ||Y||_F <= 1e-13 in float64, 1e-5 in
// float32: the tiles sum in another order than the dense GEMM, so entrywise agreement cannot be
// asked), the Frobenius sums agree, and the top-4 singular values agree within the solver's
// tolerance. Results do not depend on the thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "gapbench/backend.hpp"
#include "gapbench/cpu/cpu_device.hpp"
#include "gapbench/cpu/fused_operator.hpp"
#include "gapbench/cpu/generate.hpp"
#include "gapbench/entries.hpp"
#include "gapbench/error.hpp"
#include "gapbench/solvers/iterative.hpp"
#include "gapbench/rng.hpp"
#include "gapbench/user_attention.hpp"
#include "test_models.hpp"

namespace gapbench {
namespace {

using test::NamedModel;

// test::every_model_at, and sharp attention rows (beta = 4) whose maximum moves between tiles.
std::vector<NamedModel> models_at(std::int64_t T) {
  std::vector<NamedModel> out = test::every_model_at(T);
  ModelSpec sharp = test::at(test::attention(InputKind::kGaussian, 24, false, 16), T);
  sharp.beta = 4;
  out.push_back({"attention_beta4", sharp});
  return out;
}

// A block of b standard normal columns (T x b, column-major).
template <typename Real>
std::vector<Real> random_block(std::int64_t T, std::int64_t b, std::uint32_t salt) {
  std::vector<Real> x(static_cast<std::size_t>(T * b));
  for (std::int64_t c = 0; c < b; ++c) {
    for (std::int64_t i = 0; i < T; ++i) {
      x[c * T + i] = standard_normal<Real>(philox_draw(99, Stream::kSolverStart, salt,
                                                       static_cast<std::uint32_t>(i),
                                                       static_cast<std::uint32_t>(c)));
    }
  }
  return x;
}

double relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    norm += b[i] * b[i];
  }
  return std::sqrt(diff / norm);
}

template <typename Real>
void expect_products_match(const ModelSpec& spec, double tol) {
  const std::int64_t T = spec.T;
  std::vector<Real> dense(static_cast<std::size_t>(T * T));
  const FrobeniusSums dense_sums = cpu::generate_dense<Real>(spec, 7, 3, dense.data());
  const cpu::DenseOperator<Real> reference(dense.data(), T, T);
  const auto fused = cpu::FusedOperator<Real>::from_model(spec, 7, 3);
  EXPECT_NEAR(fused.sums().frob_sq, dense_sums.frob_sq, tol * dense_sums.frob_sq);
  EXPECT_NEAR(fused.sums().frob_perp_sq, dense_sums.frob_perp_sq, tol * dense_sums.frob_perp_sq);
  for (const std::int64_t b : {1, 3}) {
    const std::vector<Real> x = random_block<Real>(T, b, static_cast<std::uint32_t>(b));
    const BlockView<const Real> xv{x.data(), T, b, T};
    for (const bool transpose : {false, true}) {
      std::vector<Real> want(x.size()), got(x.size());
      const BlockView<Real> wv{want.data(), T, b, T}, gv{got.data(), T, b, T};
      if (transpose) {
        reference.apply_transpose(xv, wv);
        fused.apply_transpose(xv, gv);
      } else {
        reference.apply(xv, wv);
        fused.apply(xv, gv);
      }
      EXPECT_LE(relative_difference(std::vector<double>(got.begin(), got.end()),
                                    std::vector<double>(want.begin(), want.end())),
                tol)
          << (transpose ? "A^T X" : "A X") << " with b = " << b;
    }
  }
}

class FusedVersusDense : public ::testing::TestWithParam<std::tuple<std::int64_t, Fix>> {};

TEST_P(FusedVersusDense, ProductsAndSumsAgreeNormwise) {
  const auto [T, fix] = GetParam();
  for (NamedModel m : models_at(T)) {
    SCOPED_TRACE(m.name);
    m.spec.fix = fix;
    expect_products_match<double>(m.spec, 1e-13);
    expect_products_match<float>(m.spec, 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(All, FusedVersusDense,
                         ::testing::Combine(::testing::Values<std::int64_t>(64, 257, 2048),
                                            ::testing::Values(Fix::kNone, Fix::kCenter)),
                         [](const auto& info) {
                           return "T" + std::to_string(std::get<0>(info.param)) + "_fix_" +
                                  to_string(std::get<1>(info.param));
                         });

// Top 4 by lanczos on the fused operator against lanczos on the dense matrix: both converge to
// residual 1e-8 s_i, which bounds each value's error by the residual (and by residual^2 / gap
// once values separate): 1e-8 relative.
void expect_top_four_match(const ModelSpec& spec) {
  SolverOptions o;
  o.kind = SolverKind::kLanczos;
  std::vector<double> dense = cpu::generate_dense<double>(spec, 11, 0);
  const SolveResult want =
      cpu::solve_dense<double>(dense.data(), spec.T, o, Precision::kFloat64, 11);
  const auto fused = cpu::FusedOperator<double>::from_model(spec, 11, 0);
  cpu::HostBlockOps<double> ops;
  const SolveResult got =
      solve_iterative<double>(fused, ops, o, Precision::kFloat64, 11, cpu::kFusedLanczosBlock);
  ASSERT_TRUE(got.converged);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(got.values[i], want.values[i], 1e-8 * want.values[i]);
}

TEST(FusedSolve, TopFourAgreeOnEveryModel) {
  for (const std::int64_t T : {64, 257}) {
    for (const Fix fix : {Fix::kNone, Fix::kCenter}) {
      for (NamedModel m : models_at(T)) {
        SCOPED_TRACE(m.name + " T=" + std::to_string(T) + " fix=" + to_string(fix));
        m.spec.fix = fix;
        expect_top_four_match(m.spec);
      }
    }
  }
}

TEST(FusedSolve, TopFourAgreeForAttentionAt2048) {
  for (NamedModel m : models_at(2048)) {
    if (m.spec.kind != ModelKind::kAttention) continue;  // markov redraws T^2 entries per pass
    SCOPED_TRACE(m.name);
    expect_top_four_match(m.spec);
  }
}

TEST(FusedOperator, ResultsDoNotDependOnTheThreadCount) {
  ModelSpec spec;
  spec.kind = ModelKind::kAttention;
  spec.T = 700;
  spec.d = spec.dk = 8;
  spec.causal = true;
  const std::vector<double> x = random_block<double>(spec.T, 2, 5);
  std::vector<std::vector<double>> results;
  for (const int threads : {1, 2, 3}) {
    cpu::set_threads(threads);
    const auto fused = cpu::FusedOperator<double>::from_model(spec, 1, 2);
    std::vector<double> y(x.size());
    fused.apply_transpose({x.data(), spec.T, 2, spec.T}, {y.data(), spec.T, 2, spec.T});
    results.push_back(y);
  }
  cpu::set_threads(0);
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

TEST(FusedOperator, HoldsOnlyTheFactorsAndRowStatistics) {
  ModelSpec spec;
  spec.kind = ModelKind::kAttention;
  spec.T = 4096;
  spec.d = spec.dk = 64;
  const auto fused = cpu::FusedOperator<float>::from_model(spec, 0, 0);
  // Q, K (T x dk each) and two numbers per row: 4 * (2 * 4096 * 64 + 2 * 4096) bytes.
  EXPECT_EQ(fused.bytes(), 4 * (2 * 4096 * 64 + 2 * 4096));
  EXPECT_LT(fused.bytes(), 4 * spec.T * spec.T / 20);
}

// --operator auto: dense while the dense matrix fits, fused past it; fused only for the solvers
// that need no matrix.
TEST(ResolveOperator, AutoTurnsFusedPastMemoryAndFusedNeedsAnIterativeSolver) {
  const BackendSelection cpu = make_backend(BackendChoice::kCpu, 0);
  PointSpec point;
  point.model.kind = ModelKind::kAttention;
  point.model.T = 256;
  point.op = OperatorChoice::kAuto;
  EXPECT_EQ(cpu.backend->choose_operator(point), OperatorChoice::kDense);
  point.model.T = 3'000'000;  // 72 TB dense in float64
  EXPECT_EQ(cpu.backend->choose_operator(point), OperatorChoice::kFused);
  point.solver.kind = SolverKind::kExact;
  EXPECT_THROW(cpu.backend->choose_operator(point), UsageError);
  point.model.T = 256;
  point.op = OperatorChoice::kFused;
  EXPECT_THROW(cpu.backend->choose_operator(point), UsageError);
  point.solver.kind = SolverKind::kRsvd;
  EXPECT_EQ(cpu.backend->choose_operator(point), OperatorChoice::kFused);
  point.op = OperatorChoice::kDense;
  EXPECT_EQ(cpu.backend->choose_operator(point), OperatorChoice::kDense);
}

// gapbench run --qk with --logits: the user's Q and K are rounded as the model's would be, on
// both operators. The dense path builds the very matrix of the rounded factors (its Frobenius
// sums are bitwise those of attention_from_factors on them), which full inputs do not give.
TEST(UserAttention, LogitsRoundTheSuppliedQueriesAndKeys) {
  QkHeads<float> qk;
  qk.heads = 1;
  qk.T = 200;
  qk.dk = 8;
  qk.queries = cpu::gaussian_matrix<float>(Stream::kQueries, 1.0f, 4, 0, qk.T, qk.dk);
  qk.keys = cpu::gaussian_matrix<float>(Stream::kKeys, 1.0f, 4, 0, qk.T, qk.dk);
  PointSpec point;
  point.model.kind = ModelKind::kAttention;
  point.model.beta = 2;
  point.model.logits = LogitsPrecision::kBf16;
  point.model.T = qk.T;
  point.model.d = point.model.dk = qk.dk;
  point.precision = Precision::kFloat32;
  const BackendSelection cpu = make_backend(BackendChoice::kCpu, 0);
  const float scale = attention_logit_scale(2.0f, qk.dk);
  const auto sums_of = [&](LogitsPrecision logits) {
    std::vector<float> q = qk.queries, k = qk.keys, a(static_cast<std::size_t>(qk.T * qk.T));
    cpu::round_logits_inputs(logits, q);
    cpu::round_logits_inputs(logits, k);
    return cpu::attention_from_factors<float>(qk.T, qk.dk, q.data(), k.data(), scale, false,
                                              Fix::kNone, a.data());
  };
  point.op = OperatorChoice::kDense;
  const MatrixOutcome dense = cpu.backend->run_factors<float>(point, qk.queries.data(), qk.keys.data(), 0, 1);
  EXPECT_EQ(dense.sums.frob_sq, sums_of(LogitsPrecision::kBf16).frob_sq);
  EXPECT_NE(dense.sums.frob_sq, sums_of(LogitsPrecision::kFull).frob_sq);
  point.op = OperatorChoice::kFused;
  const MatrixOutcome fused = cpu.backend->run_factors<float>(point, qk.queries.data(), qk.keys.data(), 0, 1);
  EXPECT_NEAR(fused.sums.frob_sq, dense.sums.frob_sq, 1e-5 * dense.sums.frob_sq);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(fused.solve.values[i], dense.solve.values[i], 1e-4 * dense.solve.values[i]);
  }
}

// The Python package's GPU path (Backend::run_resident_*) on the CPU device, whose memory is the
// host's: the same values and sums as the copying path, bitwise, and the caller's arrays are
// never written, also where --logits rounds the factors or the solver overwrites its matrix.
TEST(ResidentInputs, FactorsGiveTheCopyingPathsValuesAndStayUntouched) {
  constexpr std::int64_t kT = 160, kDk = 8;
  const std::vector<float> q = cpu::gaussian_matrix<float>(Stream::kQueries, 1.0f, 5, 0, kT, kDk);
  const std::vector<float> k = cpu::gaussian_matrix<float>(Stream::kKeys, 1.0f, 5, 0, kT, kDk);
  const BackendSelection cpu = make_backend(BackendChoice::kCpu, 1);
  for (const LogitsPrecision logits : {LogitsPrecision::kFull, LogitsPrecision::kBf16}) {
    for (const OperatorChoice op : {OperatorChoice::kDense, OperatorChoice::kFused}) {
      PointSpec point;
      point.model.kind = ModelKind::kAttention;
      point.model.beta = 2;
      point.model.logits = logits;
      point.model.T = kT;
      point.model.d = point.model.dk = kDk;
      point.model.fix = Fix::kCenter;
      point.precision = Precision::kFloat32;
      point.op = op;
      SCOPED_TRACE(to_string(logits) + " " + to_string(op));
      std::vector<float> qr = q, kr = k;
      const MatrixOutcome copied = cpu.backend->run_factors<float>(point, q.data(), k.data(), 0, 3);
      const MatrixOutcome resident =
          cpu.backend->run_resident_factors<float>(point, qr.data(), kr.data(), 0, 3);
      EXPECT_EQ(resident.op, op);
      EXPECT_EQ(resident.solve.values, copied.solve.values);
      EXPECT_EQ(resident.sums.frob_sq, copied.sums.frob_sq);
      EXPECT_EQ(resident.sums.frob_perp_sq, copied.sums.frob_perp_sq);
      EXPECT_EQ(qr, q);
      EXPECT_EQ(kr, k);
    }
  }
}

TEST(ResidentInputs, AMatrixGivesTheCopyingPathsValuesAndStaysUntouched) {
  ModelSpec spec;
  spec.kind = ModelKind::kMarkov;
  spec.T = 120;
  const BackendSelection cpu = make_backend(BackendChoice::kCpu, 1);
  const std::vector<double> a = cpu.backend->generate_to_host<double>(spec, 7, 0);
  for (const SolverKind solver :
       {SolverKind::kExact, SolverKind::kLanczos, SolverKind::kArnoldi}) {
    for (const Fix fix : {Fix::kNone, Fix::kCenter, Fix::kDeflate}) {
      if (solver == SolverKind::kArnoldi && fix == Fix::kDeflate) continue;  // refused
      const PointSpec point = test::given_matrix_point(spec.T, fix, solver);
      SCOPED_TRACE(to_string(solver) + " " + to_string(fix));
      std::vector<double> resident_a = a;
      const MatrixOutcome copied = cpu.backend->run_matrix<double>(point, a.data(), 0, 3);
      const MatrixOutcome resident =
          cpu.backend->run_resident_matrix<double>(point, resident_a.data(), 0, 3);
      ASSERT_FALSE(copied.solve.values.empty());
      EXPECT_EQ(resident.solve.values, copied.solve.values);
      EXPECT_EQ(resident.solve.values_im, copied.solve.values_im);
      EXPECT_EQ(resident.sums.frob_sq, copied.sums.frob_sq);
      EXPECT_EQ(resident.sums.frob_perp_sq, copied.sums.frob_perp_sq);
      EXPECT_EQ(resident_a, a);
    }
  }
}

}  // namespace
}  // namespace gapbench
