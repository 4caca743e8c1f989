// GPU tests: the CUDA backend against the CPU backend (the reference) on the same matrices.
//   Generation: every model, both precisions, odd and even T, a batch of non-consecutive
//   indices; entries within 1e-12 (float64) and 1e-5 (float32) relative, the Frobenius sums too,
//   and a matrix does not depend on the batch it was generated in.
//   Solvers: lanczos (blocks of 1 and 4), rsvd, exact, xgesvdr and gesvda on the device against
//   CPU exact (LAPACK gesdd, float64) at T in {64, 1000}, lanczos also at 4096.
//   Memory plan: a size that cannot fit is refused before any allocation, naming --T.
//   Block products: the dense operator's kernels for blocks of 1-8 vectors against the host.
//   Every command on the device through the one Backend: dump (generate_to_host), run --qk
//   (run_factors, dense and fused operators) and propagate (cuBLAS GEMMs, device LayerNorm and
//   norms) against the same calls on the CPU device.
// Every test skips, with the reason, where no CUDA device is visible; CPU-only CI compiles and
// links this file all the same.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gapbench/backend.hpp"
#include "gapbench/cpu/cpu_device.hpp"
#include "gapbench/cpu/generate.hpp"
#include "gapbench/cuda_api.hpp"
#include "gapbench/error.hpp"
#include "gapbench/operator.hpp"
#include "gapbench/propagate/propagate.hpp"
#include "test_models.hpp"

namespace gapbench {
namespace {

// Skips the test when the CUDA runtime sees no device, or fails it when GAPBENCH_REQUIRE_GPU is
// set (scripts/gpu-check.sh sets it: there a missing device is an error, not a skip).
#define GAPBENCH_REQUIRE_DEVICE()                                                           \
  do {                                                                                      \
    const cuda::Inventory inv_ = cuda::inventory();                                         \
    if (inv_.devices.empty()) {                                                             \
      if (std::getenv("GAPBENCH_REQUIRE_GPU")) FAIL() << "no CUDA device: " << inv_.reason; \
      GTEST_SKIP() << "no CUDA device: " << inv_.reason;                                    \
    }                                                                                       \
  } while (0)

using test::NamedModel;

// test::every_model_at, and isometric inputs (Q and K drawn directly; d = T).
std::vector<NamedModel> models_at(std::int64_t T) {
  std::vector<NamedModel> out = test::every_model_at(T);
  out.push_back(
      {"attention_isometric", test::at(test::attention(InputKind::kIsometric, T, false, 16), T)});
  return out;
}

// Entries agree within `tol` relative to each entry, with 1/T (the size of an entry, and of the
// fix's shift) as the floor of the scale: entries shifted by the fix can be near 0.
template <typename Real>
void expect_generation_matches(const ModelSpec& spec, double tol) {
  const std::vector<std::uint32_t> indices = {0, 3, 7};
  std::vector<FrobeniusSums> sums;
  const std::vector<Real> gpu = cuda::generate_on_device<Real>(spec, 42, indices, &sums);
  const std::int64_t T = spec.T;
  const double floor = 1.0 / static_cast<double>(T);
  for (std::size_t b = 0; b < indices.size(); ++b) {
    std::vector<Real> cpu(static_cast<std::size_t>(T * T));
    const FrobeniusSums cpu_sums = cpu::generate_dense<Real>(spec, 42, indices[b], cpu.data());
    double worst = 0;
    for (std::int64_t e = 0; e < T * T; ++e) {
      const double c = cpu[e], g = gpu[b * T * T + e];
      worst = std::max(worst, std::abs(g - c) / std::max(std::abs(c), floor));
    }
    EXPECT_LE(worst, tol) << describe(spec) << " index " << indices[b];
    EXPECT_NEAR(sums[b].frob_sq, cpu_sums.frob_sq, tol * cpu_sums.frob_sq);
    EXPECT_NEAR(sums[b].frob_perp_sq, cpu_sums.frob_perp_sq, tol * cpu_sums.frob_perp_sq);
  }
}

class GenerationVersusCpu
    : public ::testing::TestWithParam<std::tuple<std::int64_t, Fix, Precision>> {};

TEST_P(GenerationVersusCpu, EveryModelAgreesEntrywise) {
  GAPBENCH_REQUIRE_DEVICE();
  const auto [T, fix, precision] = GetParam();
  for (NamedModel m : models_at(T)) {
    SCOPED_TRACE(m.name);
    m.spec.fix = fix;
    if (precision == Precision::kFloat64) {
      expect_generation_matches<double>(m.spec, 1e-12);
    } else {
      expect_generation_matches<float>(m.spec, 1e-5);
    }
  }
  if (precision == Precision::kFloat32) {
    // --logits: the device's tensor-core GEMM (TF32, or BF16 copies) reads the same rounded Q
    // and K as the CPU's float32 GEMM, and their products are exact in float32. Isometric
    // inputs draw Q and K directly, bit for bit the same on both backends: with gaussian inputs
    // Q = X W_Q differs by rounding before it is rounded again, and a value next to a rounding
    // boundary then lands one TF32/BF16 step apart (seen on an H200: entries 1e-4 to 1e-3 off).
    for (const LogitsPrecision logits : {LogitsPrecision::kTf32, LogitsPrecision::kBf16}) {
      SCOPED_TRACE(to_string(logits));
      ModelSpec spec = test::at(test::attention(InputKind::kIsometric, 0, true), T, fix);
      spec.dk = 16;
      spec.logits = logits;
      expect_generation_matches<float>(spec, 1e-5);
    }
  }
}

std::string point_name(std::int64_t T, Fix fix, Precision precision) {
  return "T" + std::to_string(T) + "_fix_" + to_string(fix) + "_" + to_string(precision);
}

INSTANTIATE_TEST_SUITE_P(All, GenerationVersusCpu,
                         ::testing::Combine(::testing::Values<std::int64_t>(64, 257),
                                            ::testing::Values(Fix::kNone, Fix::kCenter),
                                            ::testing::Values(Precision::kFloat32,
                                                              Precision::kFloat64)),
                         [](const auto& info) {
                           return point_name(std::get<0>(info.param), std::get<1>(info.param),
                                             std::get<2>(info.param));
                         });

// ---- the fused (matrix-free) operator --------------------------------------------------------

// Products of the device's fused operator against the CPU's dense matrix: normwise within 1e-5
// (float32) and 1e-12 (float64; the tile GEMMs sum in another order). The three-step form with
// tiles of 100 rows by 64 columns, so that T = 257 and 2048 cross tile boundaries in both
// directions, unevenly, and under the causal mask; the on-chip kernel (attention) crosses its
// 64-wide tiles at T = 257 and 2048, and takes b = 11 in two chunks (8 + 3).
template <typename Real>
void expect_fused_products_match(const ModelSpec& spec, double tol, cuda::FusedForm form,
                                 std::int64_t b) {
  SCOPED_TRACE(
      fmt::format("{}, b = {}", form == cuda::FusedForm::kAuto ? "auto" : "three-step", b));
  const std::int64_t T = spec.T;
  std::vector<Real> dense(static_cast<std::size_t>(T * T));
  const FrobeniusSums dense_sums = cpu::generate_dense<Real>(spec, 7, 2, dense.data());
  const cpu::DenseOperator<Real> reference(dense.data(), T, T);
  std::vector<Real> x(static_cast<std::size_t>(T * b));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<Real>(std::sin(0.37 * i + 1.0));
  for (const bool transpose : {false, true}) {
    FrobeniusSums sums;
    const std::vector<Real> got =
        cuda::fused_product_on_device<Real>(spec, 7, 2, x, b, transpose, form, 100, 64, &sums);
    std::vector<Real> want(x.size());
    const BlockView<const Real> xv{x.data(), T, b, T};
    const BlockView<Real> wv{want.data(), T, b, T};
    transpose ? reference.apply_transpose(xv, wv) : reference.apply(xv, wv);
    double diff = 0, norm = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
      diff += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
      norm += static_cast<double>(want[i]) * want[i];
    }
    EXPECT_LE(std::sqrt(diff / norm), tol) << (transpose ? "A^T X" : "A X");
    EXPECT_NEAR(sums.frob_sq, dense_sums.frob_sq, tol * dense_sums.frob_sq);
    EXPECT_NEAR(sums.frob_perp_sq, dense_sums.frob_perp_sq, tol * dense_sums.frob_perp_sq);
  }
}

class FusedOnDevice : public ::testing::TestWithParam<std::tuple<std::int64_t, Fix>> {};

TEST_P(FusedOnDevice, ProductsMatchTheDenseMatrix) {
  GAPBENCH_REQUIRE_DEVICE();
  const auto [T, fix] = GetParam();
  for (NamedModel m : models_at(T)) {
    SCOPED_TRACE(m.name);
    m.spec.fix = fix;
    for (const auto& [form, b] : {std::pair{cuda::FusedForm::kAuto, std::int64_t{3}},
                                  std::pair{cuda::FusedForm::kAuto, std::int64_t{11}},
                                  std::pair{cuda::FusedForm::kThreeStep, std::int64_t{3}}}) {
      expect_fused_products_match<double>(m.spec, 1e-12, form, b);
      expect_fused_products_match<float>(m.spec, 1e-5, form, b);
    }
  }
}

// --logits tf32 and bf16: the on-chip kernel takes its logits from TF32 tensor cores, the CPU from
// a float32 GEMM of the same rounded inputs (products exact on both; only the accumulation
// differs, by rounding: 1e-5 normwise leaves room). Isometric inputs give Q and K bit for bit the
// same on both backends; dk = 20 is not a whole number of the tensor cores' k-steps of 8 (zero
// padding).
TEST(FusedOnDeviceTensorCores, LogitsOptionsMatchTheDenseMatrix) {
  GAPBENCH_REQUIRE_DEVICE();
  for (const bool causal : {false, true}) {
    for (const LogitsPrecision logits : {LogitsPrecision::kTf32, LogitsPrecision::kBf16}) {
      SCOPED_TRACE(fmt::format("{}{}", to_string(logits), causal ? ", causal" : ""));
      ModelSpec spec =
          test::at(test::attention(InputKind::kIsometric, 0, causal), 257, Fix::kCenter);
      spec.dk = 20;
      spec.logits = logits;
      expect_fused_products_match<float>(spec, 1e-5, cuda::FusedForm::kAuto, 8);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, FusedOnDevice,
                         ::testing::Combine(::testing::Values<std::int64_t>(64, 257, 2048),
                                            ::testing::Values(Fix::kNone, Fix::kCenter)),
                         [](const auto& info) {
                           return "T" + std::to_string(std::get<0>(info.param)) + "_fix_" +
                                  to_string(std::get<1>(info.param));
                         });

// cuBLAS promises identical results only for identical calls, and the batch count is part of
// the call: a matrix generated in a batch agrees with itself generated alone to rounding.
TEST(GenerationBatching, AMatrixDoesNotDependOnItsBatch) {
  GAPBENCH_REQUIRE_DEVICE();
  ModelSpec spec;
  spec.kind = ModelKind::kAttention;
  spec.T = 200;
  spec.d = spec.dk = 8;
  const auto batch = cuda::generate_on_device<double>(spec, 9, {1, 2, 5});
  const auto alone = cuda::generate_on_device<double>(spec, 9, {5});
  const std::int64_t n = spec.T * spec.T;
  ASSERT_EQ(alone.size(), static_cast<std::size_t>(n));
  double worst = 0;
  for (std::int64_t e = 0; e < n; ++e) {
    worst = std::max(worst, std::abs(alone[e] - batch[2 * n + e]) / std::abs(alone[e]));
  }
  EXPECT_LE(worst, 1e-14);
}

// ---- block products (the dense operator's passes with blocks of vectors) ---------------------

// M X and M^T X by the block-product kernels against a float64 host loop, for every block width
// they take: leading dimensions padded or not (16-byte vector loads of M and X where every column
// starts on 16 bytes, scalar loads elsewhere, and the rows past the last whole vector), batches,
// sizes off every multiple of the kernels' tiles, and the columns of M X split into chunks (few
// rows). Normwise: the kernels sum in another order than any reference, and a sum of n terms
// rounds by ~sqrt(n) eps relative, far under 1e-5 (float32) and 1e-13 (float64) here.
struct BlockProductCase {
  std::int64_t rows, cols, batch, lda_pad, ldx_pad;
};

template <typename Real>
void expect_block_products_match(const BlockProductCase& shape, double tol) {
  const auto [rows, cols, batch, lda_pad, ldx_pad] = shape;
  std::mt19937_64 rng(rows * 1000 + cols);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  const std::int64_t lda = rows + lda_pad;
  std::vector<Real> m(static_cast<std::size_t>(lda * cols * batch));
  for (Real& e : m) e = static_cast<Real>(uniform(rng));
  for (const bool transpose : {false, true}) {
    const std::int64_t in_rows = transpose ? rows : cols, out_rows = transpose ? cols : rows;
    const std::int64_t ldx = in_rows + ldx_pad;
    for (int nv = 1; nv <= 8; ++nv) {
      SCOPED_TRACE(fmt::format("{} x {} (lda {}, ldx {}), batch {}, {} vectors, {}", rows, cols,
                               lda, ldx, batch, nv, transpose ? "M^T X" : "M X"));
      std::vector<Real> x(static_cast<std::size_t>(ldx * nv * batch));
      for (Real& e : x) e = static_cast<Real>(uniform(rng));
      const std::vector<Real> y =
          cuda::block_product_on_device<Real>(m, rows, cols, lda, batch, x, ldx, nv, transpose);
      ASSERT_EQ(y.size(), static_cast<std::size_t>(out_rows * nv * batch));
      double diff = 0, norm = 0;
      for (std::int64_t b = 0; b < batch; ++b) {
        for (int v = 0; v < nv; ++v) {
          for (std::int64_t o = 0; o < out_rows; ++o) {
            double sum = 0;
            for (std::int64_t k = 0; k < in_rows; ++k) {
              const std::int64_t i = transpose ? k : o, j = transpose ? o : k;
              sum += static_cast<double>(m[b * lda * cols + j * lda + i]) *
                     x[b * ldx * nv + v * ldx + k];
            }
            const double got = y[(b * nv + v) * out_rows + o];
            diff += (got - sum) * (got - sum);
            norm += sum * sum;
          }
        }
      }
      EXPECT_LE(std::sqrt(diff / norm), tol);
    }
  }
}

TEST(BlockProduct, MatchesTheHostForEveryBlockWidth) {
  GAPBENCH_REQUIRE_DEVICE();
  const BlockProductCase cases[] = {
      {1000, 777, 3, 5, 3},  // scalar loads throughout; M X in 2 chunks
      {1024, 700, 2, 0, 0},  // vector loads of M and X, no tail
      {1026, 300, 1, 0, 0},  // float32: scalar (1026 = 2 mod 4); float64: vectors
      {1027, 257, 2, 1, 0},  // vectors (lda 1028) and a tail of 3 rows; X scalar
      {257, 4096, 1, 0, 0},  // M X in 8 chunks
      {300, 2000, 1, 0, 4}, {5, 3, 2, 0, 1}, {4096, 64, 1, 0, 0},
  };
  for (const BlockProductCase& c : cases) {
    expect_block_products_match<float>(c, 1e-5);
    expect_block_products_match<double>(c, 1e-13);
  }
}

// ---- solvers --------------------------------------------------------------------------------

// Top-4 of CPU exact (float64) for matrix `index` of `spec`, cached.
const std::vector<double>& cpu_exact(const ModelSpec& spec, std::uint64_t seed,
                                     std::uint32_t index) {
  static std::map<std::string, std::vector<double>> cache;
  const std::string key = describe(spec) + "/" + std::to_string(seed) + "/" + std::to_string(index);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  std::vector<double> a = cpu::generate_dense<double>(spec, seed, index);
  return cache[key] = cpu::exact_singular_values<double>(a.data(), spec.T, spec.T, 4, false).values;
}

struct SolverCase {
  SolverKind kind;
  Precision precision;
  double tol_s1;  // relative error allowed on s1, and on s2..s4
  double tol_rest;
  // Ritz values of a projection never exceed the true values: for the approximate xgesvdr, the
  // values may sit below the reference by tol_rest but above it only by rounding (tol_s1).
  bool from_below = false;
  int block = 0;  // lanczos: 0 takes the backend's default (1 on the GPU)
};

// Why each tolerance: float64 lanczos, rsvd and exact are at rounding (residual 1e-8 gives
// errors ~1e-14 once values separate, PAPER.md/solver_types.hpp); float32 matrices differ from
// float64 ones by 1e-7 relative per entry, which moves s2 ~ 2c/sqrt(T) by ~1e-7 ||A|| / s2, under
// 1e-5; gesvda squares the values (eigenvalues of A^T A), so s_i carries eps s1^2 / s_i; xgesvdr
// with 2 power iterations and p = 8 is approximate by design at the clustered bulk edge (s2 ...
// s13 of a markov matrix at T = 1000 lie within 4%: a CPU simulation of the same scheme on these
// matrices misses s2..s4 by 7-15%), so the test asks for the right spectrum from below, and the
// benchmark reports its accuracy.
const SolverCase kSolverCases[] = {
    {SolverKind::kLanczos, Precision::kFloat64, 1e-12, 1e-10},
    {SolverKind::kLanczos, Precision::kFloat32, 1e-5, 1e-4},
    // Blocks of 4: the dense operator's block-product kernels (block_product.cuh).
    {SolverKind::kLanczos, Precision::kFloat64, 1e-12, 1e-10, false, 4},
    {SolverKind::kLanczos, Precision::kFloat32, 1e-5, 1e-4, false, 4},
    {SolverKind::kRsvd, Precision::kFloat64, 1e-12, 1e-10},
    {SolverKind::kRsvd, Precision::kFloat32, 1e-5, 1e-4},
    {SolverKind::kExact, Precision::kFloat64, 1e-12, 1e-12},
    {SolverKind::kExact, Precision::kFloat32, 1e-5, 1e-4},
    {SolverKind::kXgesvdr, Precision::kFloat64, 1e-4, 0.25, true},
    {SolverKind::kXgesvdr, Precision::kFloat32, 1e-4, 0.25, true},
    {SolverKind::kGesvda, Precision::kFloat64, 1e-10, 1e-8},
    {SolverKind::kGesvda, Precision::kFloat32, 1e-5, 1e-3},
};

void expect_solver_matches(const SolverCase& c, const ModelSpec& model,
                           OperatorChoice op = OperatorChoice::kDense) {
  const cuda::Inventory inv = cuda::inventory();
  auto backend = cuda::make_cuda_backend(inv.devices.front());
  PointSpec point;
  point.model = model;
  point.precision = c.precision;
  point.solver.kind = c.kind;
  point.solver.k = 4;
  point.solver.block = c.block;
  point.op = op;
  backend->check(point);
  const std::vector<MatrixOutcome> out = backend->run_batch(point, 5, {0, 1});
  ASSERT_EQ(out.size(), 2u);
  for (const MatrixOutcome& o : out) {
    EXPECT_EQ(o.op, op);
    const std::vector<double>& ref = cpu_exact(model, 5, o.index);
    ASSERT_EQ(o.solve.values.size(), 4u);
    EXPECT_TRUE(o.solve.converged);
    for (int i = 0; i < 4; ++i) {
      const double tol = i == 0 ? c.tol_s1 : c.tol_rest;
      const std::string what = to_string(c.kind) + " " + to_string(c.precision) + " s" +
                               std::to_string(i + 1) + " of " + describe(model) + " index " +
                               std::to_string(o.index);
      EXPECT_NEAR(o.solve.values[i], ref[i], tol * ref[i]) << what;
      if (c.from_below) {
        EXPECT_LE(o.solve.values[i], ref[i] * (1 + c.tol_s1)) << what;
      }
    }
  }
}

class SolversVersusCpuExact : public ::testing::TestWithParam<std::int64_t> {};

TEST_P(SolversVersusCpuExact, TopFourAgree) {
  GAPBENCH_REQUIRE_DEVICE();
  const std::int64_t T = GetParam();
  for (const NamedModel& m : models_at(T)) {
    if (m.name == "markov_uniform" || m.name == "attention_isometric") continue;  // covered above
    for (const SolverCase& c : kSolverCases) expect_solver_matches(c, m.spec);
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, SolversVersusCpuExact, ::testing::Values<std::int64_t>(64, 1000));

// lanczos and rsvd on the device's fused operator, through the backend (--operator fused).
TEST(FusedSolveOnDevice, TopFourMatchCpuExact) {
  GAPBENCH_REQUIRE_DEVICE();
  for (const std::int64_t T : {64, 257}) {
    for (const Fix fix : {Fix::kNone, Fix::kCenter}) {
      for (NamedModel m : models_at(T)) {
        SCOPED_TRACE(m.name + " T=" + std::to_string(T) + " fix=" + to_string(fix));
        m.spec.fix = fix;
        for (const SolverKind kind : {SolverKind::kLanczos, SolverKind::kRsvd}) {
          expect_solver_matches({kind, Precision::kFloat64, 1e-12, 1e-10}, m.spec,
                                OperatorChoice::kFused);
          expect_solver_matches({kind, Precision::kFloat32, 1e-5, 1e-4}, m.spec,
                                OperatorChoice::kFused);
        }
      }
    }
  }
}

TEST(SolversVersusCpuExactLarge, LanczosAt4096) {
  GAPBENCH_REQUIRE_DEVICE();
  ModelSpec spec;
  spec.T = 4096;
  expect_solver_matches({SolverKind::kLanczos, Precision::kFloat64, 1e-12, 1e-10}, spec);
  expect_solver_matches({SolverKind::kLanczos, Precision::kFloat32, 1e-5, 1e-4}, spec);
  expect_solver_matches({SolverKind::kLanczos, Precision::kFloat32, 1e-5, 1e-4, false, 4}, spec);
}

// ---- eigenvalues: Xgeev and the causal diagonal against the CPU's geev --------------------------

// The top 4 eigenvalues by modulus (pairs whole) of matrices 0 and 1 of `point` on the device and
// on the CPU, matched in order as complex numbers within `tol` (absolute: the bulk's eigenvalues
// are ~1/sqrt(T), and geev's backward error is relative to ||A|| ~ 1).
void expect_eigen_matches(PointSpec point, double tol) {
  auto device = cuda::make_cuda_backend(cuda::inventory().devices.front());
  BackendSelection cpu = make_backend(BackendChoice::kCpu, 0);
  point.solver.spectrum = Spectrum::kEigen;
  point.solver.k = 4;
  device->check(point);
  PointSpec reference = point;
  reference.precision = Precision::kFloat64;
  reference.solver.kind =
      point.solver.kind == SolverKind::kDiagonal ? SolverKind::kDiagonal : SolverKind::kExact;
  const std::vector<MatrixOutcome> got = device->run_batch(point, 5, {0, 1});
  const std::vector<MatrixOutcome> want = cpu.backend->run_batch(reference, 5, {0, 1});
  ASSERT_EQ(got.size(), 2u);
  for (std::size_t m = 0; m < 2; ++m) {
    const SolveResult& g = got[m].solve;
    const SolveResult& w = want[m].solve;
    ASSERT_EQ(g.values.size(), w.values.size()) << describe(point.model);
    for (std::size_t i = 0; i < g.values.size(); ++i) {
      EXPECT_LT(std::hypot(g.values[i] - w.values[i], g.values_im[i] - w.values_im[i]), tol)
          << to_string(point.solver.kind) << " " << to_string(point.precision) << " lambda"
          << i + 1 << " of " << describe(point.model) << " index " << m;
    }
  }
}

// Xgeev in float64 to 1e-10 and float32 to 1e-4 (float32 rounding of the matrix moves the bulk
// eigenvalues by ~1e-7 times their condition numbers); the diagonal exactly to rounding.
TEST(EigenOnDevice, XgeevAndTheDiagonalMatchTheCpu) {
  GAPBENCH_REQUIRE_DEVICE();
  for (const std::int64_t T : {64, 1000}) {
    for (const NamedModel& m : models_at(T)) {
      if (m.spec.kind == ModelKind::kAttention && m.spec.causal) continue;  // the diagonal below
      PointSpec point;
      point.model = m.spec;
      point.solver.kind = SolverKind::kExact;
      point.precision = Precision::kFloat64;
      expect_eigen_matches(point, 1e-10);
      point.precision = Precision::kFloat32;
      expect_eigen_matches(point, 1e-4);
    }
    PointSpec causal;
    causal.model = test::at(test::attention(InputKind::kGaussian, 64, true), T);
    causal.solver.kind = SolverKind::kDiagonal;
    expect_eigen_matches(causal, 1e-12);
    // The fused operator's diagonal (from the factors and row statistics, never storing A).
    causal.op = OperatorChoice::kFused;
    expect_eigen_matches(causal, 1e-12);
    causal.precision = Precision::kFloat32;
    expect_eigen_matches(causal, 1e-5);
  }
}

// ---- memory plan and refusals ----------------------------------------------------------------

TEST(CudaMemoryPlan, RefusesWhatCannotFitNamingT) {
  GAPBENCH_REQUIRE_DEVICE();
  auto backend = cuda::make_cuda_backend(cuda::inventory().devices.front());
  PointSpec point;
  point.model.T = 4'000'000;  // 128 TB in float64
  point.precision = Precision::kFloat64;
  try {
    backend->check(point);
    FAIL() << "a 4e6 x 4e6 float64 matrix was accepted";
  } catch (const UsageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("--T"), std::string::npos) << what;
    EXPECT_NE(what.find("largest T that fits"), std::string::npos) << what;
  }
}

TEST(CudaMemoryPlan, BatchesShrinkToFit) {
  GAPBENCH_REQUIRE_DEVICE();
  auto backend = cuda::make_cuda_backend(cuda::inventory().devices.front());
  PointSpec small, large;
  small.model.T = 256;
  large.model.T = 32768;
  EXPECT_GE(backend->preferred_batch(small), 16);
  EXPECT_LT(backend->preferred_batch(large), backend->preferred_batch(small));
}

TEST(CudaSolvers, GesvdaIsCappedAboveItsSizeLimit) {
  GAPBENCH_REQUIRE_DEVICE();
  auto backend = cuda::make_cuda_backend(cuda::inventory().devices.front());
  PointSpec point;
  point.model.T = 50000;
  point.precision = Precision::kFloat32;
  point.solver.kind = SolverKind::kGesvda;
  EXPECT_THROW(backend->check(point), UsageError);
}

// ---- every command on the device: dump, run --qk, propagate -----------------------------------

std::unique_ptr<Backend> cuda_backend() {
  return cuda::make_cuda_backend(cuda::inventory().devices.front());
}

// `dump`: Backend::generate_to_host on the device gives the CPU's matrix (every model).
TEST(DumpOnDevice, MatchesTheCpuMatrix) {
  GAPBENCH_REQUIRE_DEVICE();
  auto gpu = cuda_backend();
  Backend cpu(cpu::make_cpu_device(0));
  for (NamedModel m : models_at(100)) {
    for (const Fix fix : {Fix::kNone, Fix::kCenter}) {
      SCOPED_TRACE(m.name + " fix " + to_string(fix));
      m.spec.fix = fix;
      const std::vector<double> g = gpu->generate_to_host<double>(m.spec, 9, 4);
      const std::vector<double> c = cpu.generate_to_host<double>(m.spec, 9, 4);
      ASSERT_EQ(g.size(), c.size());
      double worst = 0;
      for (std::size_t e = 0; e < c.size(); ++e) {
        worst = std::max(worst, std::abs(g[e] - c[e]) / std::max(std::abs(c[e]), 1.0 / 100));
      }
      EXPECT_LE(worst, 1e-12);
      const std::vector<float> g32 = gpu->generate_to_host<float>(m.spec, 9, 4);
      for (std::size_t e = 0; e < c.size(); ++e) {
        ASSERT_NEAR(g32[e], c[e], 1e-5 * std::max(std::abs(c[e]), 1.0 / 100)) << "entry " << e;
      }
    }
  }
}

// `run --qk`: the top values of given factors' attention matrix on the device, by the dense and
// the fused operator, against the CPU device's (float64 to 1e-10, float32 to 1e-4 relative).
TEST(FactorsOnDevice, RunQkMatchesTheCpu) {
  GAPBENCH_REQUIRE_DEVICE();
  auto gpu = cuda_backend();
  Backend cpu(cpu::make_cpu_device(0));
  constexpr std::int64_t kT = 300, kDk = 16;
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal;
  std::vector<double> q(kT * kDk), k(kT * kDk);
  for (double& v : q) v = normal(rng);
  for (double& v : k) v = normal(rng);
  const std::vector<float> q32(q.begin(), q.end()), k32(k.begin(), k.end());
  for (const bool causal : {false, true}) {
    for (const Fix fix : {Fix::kNone, Fix::kCenter}) {
      for (const OperatorChoice op : {OperatorChoice::kDense, OperatorChoice::kFused}) {
        for (const Precision precision : {Precision::kFloat64, Precision::kFloat32}) {
          PointSpec point;
          point.model.kind = ModelKind::kAttention;
          point.model.T = kT;
          point.model.d = kDk;
          point.model.dk = kDk;
          point.model.beta = 2.0;
          point.model.causal = causal;
          point.model.fix = fix;
          point.precision = precision;
          point.solver.kind = SolverKind::kLanczos;
          point.solver.k = 4;
          point.op = op;
          SCOPED_TRACE(fmt::format("causal {} fix {} operator {} {}", causal, to_string(fix),
                                   to_string(op), to_string(precision)));
          const bool f64 = precision == Precision::kFloat64;
          const MatrixOutcome g = f64 ? gpu->run_factors<double>(point, q.data(), k.data(), 0, 1)
                                      : gpu->run_factors<float>(point, q32.data(), k32.data(), 0, 1);
          const MatrixOutcome c = f64 ? cpu.run_factors<double>(point, q.data(), k.data(), 0, 1)
                                      : cpu.run_factors<float>(point, q32.data(), k32.data(), 0, 1);
          EXPECT_EQ(g.op, op);
          ASSERT_EQ(g.solve.values.size(), 4u);
          ASSERT_EQ(c.solve.values.size(), 4u);
          const double tol = f64 ? 1e-10 : 1e-4;
          for (int i = 0; i < 4; ++i) {
            EXPECT_NEAR(g.solve.values[i], c.solve.values[i], tol * c.solve.values[i]) << "s" << i + 1;
          }
          EXPECT_NEAR(g.sums.frob_sq, c.sums.frob_sq, tol * c.sums.frob_sq);
          EXPECT_NEAR(g.sums.frob_perp_sq, c.sums.frob_perp_sq, tol * c.sums.frob_perp_sq);
        }
      }
    }
  }
}

// The Python package's GPU path: factors and matrices already in device memory, read in place
// (Backend::run_resident_*), against the copying path on the same device (the same kernels:
// 1e-12 relative) and, for a matrix generated and left on the device, against the CPU's
// run_matrix on its download (1e-10); the caller's device arrays are never written (--logits
// bf16 rounds copies, exact and fix center work on a copy).
TEST(ResidentOnDevice, FactorsAndMatricesMatchTheCopyingPathAndStayUntouched) {
  GAPBENCH_REQUIRE_DEVICE();
  auto gpu = cuda_backend();
  Backend cpu(cpu::make_cpu_device(0));
  Stages<float>& stages = gpu->device().stages<float>();
  constexpr std::int64_t kT = 256, kDk = 16;
  std::mt19937_64 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> q(kT * kDk), k(kT * kDk);
  for (float& v : q) v = normal(rng);
  for (float& v : k) v = normal(rng);
  const Matrix<float> qd = stages.upload(q.data(), kT, kDk), kd = stages.upload(k.data(), kT, kDk);
  for (const LogitsPrecision logits : {LogitsPrecision::kFull, LogitsPrecision::kBf16}) {
    for (const OperatorChoice op : {OperatorChoice::kDense, OperatorChoice::kFused}) {
      PointSpec point;
      point.model.kind = ModelKind::kAttention;
      point.model.T = kT;
      point.model.d = point.model.dk = kDk;
      point.model.beta = 2.0;
      point.model.logits = logits;
      point.precision = Precision::kFloat32;
      point.solver.kind = SolverKind::kLanczos;
      point.solver.k = 4;
      point.op = op;
      SCOPED_TRACE(to_string(logits) + " " + to_string(op));
      const MatrixOutcome copied = gpu->run_factors<float>(point, q.data(), k.data(), 0, 1);
      const MatrixOutcome resident =
          gpu->run_resident_factors<float>(point, qd.data(), kd.data(), 0, 1);
      ASSERT_EQ(resident.solve.values.size(), 4u);
      for (int i = 0; i < 4; ++i) {
        EXPECT_NEAR(resident.solve.values[i], copied.solve.values[i],
                    1e-12 * copied.solve.values[i]);
      }
      EXPECT_EQ(stages.download(qd), q);
      EXPECT_EQ(stages.download(kd), k);
    }
  }
  ModelSpec spec;
  spec.kind = ModelKind::kMarkov;
  spec.T = 512;
  const Matrix<double> a = gpu->generate_resident<double>(spec, 9, 0);
  const std::vector<double> host = gpu->device().stages<double>().download(a);
  for (const SolverKind solver : {SolverKind::kExact, SolverKind::kLanczos}) {
    for (const Fix fix : {Fix::kNone, Fix::kCenter}) {
      const PointSpec point = test::given_matrix_point(spec.T, fix, solver);
      SCOPED_TRACE(to_string(solver) + " " + to_string(fix));
      const MatrixOutcome g = gpu->run_resident_matrix<double>(point, a.data(), 0, 1);
      const MatrixOutcome c = cpu.run_matrix<double>(point, host.data(), 0, 1);
      ASSERT_EQ(g.solve.values.size(), 4u);
      for (int i = 0; i < 4; ++i) {
        EXPECT_NEAR(g.solve.values[i], c.solve.values[i], 1e-10 * c.solve.values[i]);
      }
      EXPECT_NEAR(g.sums.frob_sq, c.sums.frob_sq, 1e-10 * c.sums.frob_sq);
      EXPECT_NEAR(g.sums.frob_perp_sq, c.sums.frob_perp_sq, 1e-10 * c.sums.frob_perp_sq);
      EXPECT_EQ(gpu->device().stages<double>().download(a), host);
    }
  }
}

// `propagate`: the network on the device (cuBLAS GEMMs, its LayerNorm, Gram and norms) against
// the CPU device, layer by layer, for each variant, source and LayerNorm, with the gradient
// (closed form or reverse mode: product with transposes, softmax and LayerNorm backward, fill,
// dot) and the logits' spread. float64 throughout; the two differ only in summation order, which grows
// through the layers: 1e-8 relative on logs and ratios.
TEST(PropagateOnDevice, EveryLayerMatchesTheCpu) {
  GAPBENCH_REQUIRE_DEVICE();
  auto gpu = cuda_backend();
  Backend cpu(cpu::make_cpu_device(0));
  using propagate::AttentionSource;
  using propagate::Variant;
  for (const AttentionSource source : {AttentionSource::kMarkov, AttentionSource::kAttention}) {
    for (const Variant variant : {Variant::kPlain, Variant::kSkip, Variant::kScaledSkip}) {
      for (const bool layernorm : {false, true}) {
        propagate::PropagateOptions o;
        o.T = 48;
        o.d = 64;
        o.L = 4;
        o.source = source;
        o.variant = variant;
        o.layernorm = layernorm;
        o.fix = layernorm ? Fix::kCenter : Fix::kNone;
        o.seed = 3;
        o.index = 1;
        o.init = WeightInit::kXavierNormal;
        // The closed form on the linear model, reverse mode with 8 fixed probes (the same
        // draws on both devices) on every other network.
        o.gradient = true;
        o.grad.probes = 8;
        o.grad.probes_max = 8;
        SCOPED_TRACE(fmt::format("{} {} layernorm {}", propagate::to_string(source),
                                 propagate::to_string(variant), layernorm));
        const propagate::PropagateResult g = propagate::propagate(gpu->device(), o);
        const propagate::PropagateResult c = propagate::propagate(cpu.device(), o);
        ASSERT_EQ(g.layers.size(), c.layers.size());
        const auto near = [](double a, double b) {
          return std::abs(a - b) <= 1e-8 * std::max(1.0, std::abs(b));
        };
        for (std::size_t l = 0; l < c.layers.size(); ++l) {
          const propagate::LayerResult& a = g.layers[l];
          const propagate::LayerResult& b = c.layers[l];
          EXPECT_PRED2(near, a.log_frob, b.log_frob) << "layer " << l;
          EXPECT_PRED2(near, a.stable_rank, b.stable_rank) << "layer " << l;
          EXPECT_PRED2(near, a.stable_rank4, b.stable_rank4) << "layer " << l;
          EXPECT_PRED2(near, a.mean_cosine, b.mean_cosine) << "layer " << l;
          EXPECT_PRED2(near, a.centered_ratio, b.centered_ratio) << "layer " << l;
          if (l > 0) {
            EXPECT_PRED2(near, a.log_grad_sq, b.log_grad_sq) << "layer " << l;
            EXPECT_PRED2(near, a.log_grad_se, b.log_grad_se) << "layer " << l;
            EXPECT_EQ(a.grad_probes, b.grad_probes) << "layer " << l;
          }
          if (source == AttentionSource::kAttention && l > 0) {
            EXPECT_PRED2(near, a.logit_std, b.logit_std) << "layer " << l;
          }
        }
        ASSERT_EQ(g.x.size(), c.x.size());
        for (std::size_t e = 0; e < c.x.size(); ++e) {
          ASSERT_NEAR(g.x[e], c.x[e], 1e-8) << "X_L entry " << e;
        }
      }
    }
  }
}

}  // namespace
}  // namespace gapbench
