// Dense generation of model matrices on the CPU: the frozen layout (golden entries), agreement of
// the one-entry path with the dense path, row sums, the causal mask, determinism over threads and
// batches, float32 against float64, and the Frobenius sums taken while generating.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gapbench/cpu/cpu_device.hpp"
#include "gapbench/cpu/generate.hpp"
#include "gapbench/entries.hpp"
#include "gapbench/error.hpp"
#include "gapbench/model.hpp"

namespace gapbench {
namespace {

ModelSpec markov(EntryLaw law, std::int64_t T, double beta = 1.0, Fix fix = Fix::kNone) {
  ModelSpec s;
  s.kind = ModelKind::kMarkov;
  s.law = law;
  s.T = T;
  s.beta = beta;
  s.fix = fix;
  return s;
}

ModelSpec attention(InputKind input, std::int64_t T, std::int64_t d, bool causal = false,
                    Fix fix = Fix::kNone, WeightInit init = WeightInit::kNormal) {
  ModelSpec s;
  s.kind = ModelKind::kAttention;
  s.input = input;
  s.T = T;
  s.d = d;
  s.dk = d;
  s.beta = 1.0;
  s.causal = causal;
  s.fix = fix;
  s.init = init;
  return s;
}

// A named model for the tables below.
struct NamedSpec {
  std::string name;
  ModelSpec spec;
};

std::string spec_name(const ::testing::TestParamInfo<NamedSpec>& info) { return info.param.name; }
void PrintTo(const NamedSpec& s, std::ostream* os) {
  *os << s.name << " (" << describe(s.spec) << ")";
}

// Every model, fix and mask at a small T (isometric inputs need d >= T).
std::vector<NamedSpec> all_specs(std::int64_t T) {
  std::vector<NamedSpec> out;
  for (const Fix fix : {Fix::kNone, Fix::kCenter}) {
    const std::string f = fix == Fix::kNone ? "FixNone" : "FixCenter";
    out.push_back({"MarkovExponential" + f, markov(EntryLaw::kExponential, T, 1.0, fix)});
    out.push_back({"MarkovLognormalBeta05" + f, markov(EntryLaw::kLognormal, T, 0.5, fix)});
    out.push_back({"MarkovLognormalBeta1" + f, markov(EntryLaw::kLognormal, T, 1.0, fix)});
    out.push_back({"MarkovUniform" + f, markov(EntryLaw::kUniform, T, 1.0, fix)});
    out.push_back({"MarkovGammaShapeHalf" + f, markov(EntryLaw::kGamma, T, 0.5, fix)});
    out.push_back({"AttentionGaussian" + f, attention(InputKind::kGaussian, T, 16, false, fix)});
    out.push_back(
        {"AttentionGaussianCausal" + f, attention(InputKind::kGaussian, T, 16, true, fix)});
    out.push_back({"AttentionGaussianFanIn" + f,
                   attention(InputKind::kGaussian, T, 16, false, fix, WeightInit::kFanIn)});
    out.push_back({"AttentionIsometric" + f, attention(InputKind::kIsometric, T, T, false, fix)});
    out.push_back(
        {"AttentionIsometricCausal" + f, attention(InputKind::kIsometric, T, T, true, fix)});
  }
  return out;
}

std::vector<NamedSpec> causal_specs(std::int64_t T) {
  std::vector<NamedSpec> out;
  for (auto& s : all_specs(T)) {
    if (s.spec.causal) out.push_back(s);
  }
  return out;
}

std::vector<NamedSpec> unfixed_specs(std::int64_t T) {
  std::vector<NamedSpec> out;
  for (auto& s : all_specs(T)) {
    if (s.spec.fix == Fix::kNone) out.push_back(s);
  }
  return out;
}

// ---- golden entries: the frozen layout -----------------------------------------------------

struct GoldenEntry {
  std::int64_t row, column;
  double value;
};

struct GoldenMatrix {
  std::string name;
  ModelSpec spec;
  std::uint64_t seed;
  std::uint32_t index;
  // Relative tolerance and why (see the table).
  double rel_tol;
  std::vector<GoldenEntry> entries;
};
void PrintTo(const GoldenMatrix& g, std::ostream* os) { *os << g.name; }

// Computed once with cpu::generate_dense<double> at RNG layout v1 and frozen here.
std::vector<GoldenMatrix> golden_matrices() {
  return {
      // Markov entries are Philox + libm log/exp/cos + a sum: 1e-15 relative (a few ulp) allows
      // another libm's last-bit rounding and nothing else.
      {"MarkovExponentialT8",
       markov(EntryLaw::kExponential, 8),
       1,
       2,
       1e-15,
       {{0, 0, 0.14176563308524609},
        {0, 7, 0.43329986247405289},
        {3, 4, 0.020928155587843108},
        {7, 7, 0.30653429433363427},
        {5, 2, 0.13669698034085906}}},
      {"MarkovLognormalBeta05T8",
       markov(EntryLaw::kLognormal, 8, 0.5),
       1,
       2,
       1e-15,
       {{0, 0, 0.17800454757340739},
        {0, 7, 0.25263192903451903},
        {3, 4, 0.11265804944880468},
        {7, 7, 0.039881833200740131},
        {5, 2, 0.10603743686338093}}},
      // Attention logits come from OpenBLAS GEMMs (d = dk = 16), whose summation order depends
      // on the kernel OpenBLAS picks for the CPU: a few ulp in logits of size ~5, amplified by
      // exp, allow 1e-13 relative.
      {"AttentionGaussianD16T8",
       attention(InputKind::kGaussian, 8, 16),
       1,
       2,
       1e-13,
       {{0, 0, 0.28088166221899635},
        {0, 7, 0.35180873720853301},
        {3, 4, 0.14295209740351802},
        {7, 7, 0.10640081415876487},
        {5, 2, 0.21953477761266779}}},
  };
}

class GoldenEntries : public ::testing::TestWithParam<GoldenMatrix> {};

TEST_P(GoldenEntries, DenseMatrixMatchesFrozenEntries) {
  const GoldenMatrix& g = GetParam();
  const std::vector<double> a = cpu::generate_dense<double>(g.spec, g.seed, g.index);
  ASSERT_EQ(a.size(), static_cast<std::size_t>(g.spec.T * g.spec.T));
  for (const GoldenEntry& e : g.entries) {
    EXPECT_NEAR(a[e.row * g.spec.T + e.column], e.value, g.rel_tol * e.value)
        << "entry (" << e.row << ", " << e.column << ")";
  }
}

TEST_P(GoldenEntries, SingleEntryPathMatchesFrozenEntries) {
  const GoldenMatrix& g = GetParam();
  for (const GoldenEntry& e : g.entries) {
    EXPECT_NEAR(cpu::generate_entry<double>(g.spec, g.seed, g.index, e.row, e.column), e.value,
                g.rel_tol * e.value)
        << "entry (" << e.row << ", " << e.column << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(LayoutV1, GoldenEntries, ::testing::ValuesIn(golden_matrices()),
                         [](const auto& info) { return info.param.name; });

// ---- generate_entry against generate_dense ------------------------------------------------

constexpr std::int64_t kSmallT = 24;

// One thread: generate_entry builds the attention factors again for every entry, and OpenMP's
// spinning barriers make that crawl when ctest runs tests side by side. The thread count does not
// change the matrix (Determinism below).
class EntryVersusDense : public ::testing::TestWithParam<NamedSpec> {
 protected:
  void SetUp() override { cpu::set_threads(1); }
  void TearDown() override { cpu::set_threads(0); }
};

template <typename Real>
void expect_entries_match(const ModelSpec& spec, double rel_tol) {
  const std::int64_t T = spec.T;
  const std::vector<Real> a = cpu::generate_dense<Real>(spec, 9, 4);
  const double shift = spec.fix == Fix::kCenter ? 1.0 / static_cast<double>(T) : 0.0;
  for (std::int64_t i = 0; i < T; ++i) {
    for (std::int64_t j = 0; j < T; ++j) {
      const Real dense = a[i * T + j];
      const Real entry = cpu::generate_entry<Real>(spec, 9, 4, i, j);
      if (rel_tol == 0) {
        ASSERT_EQ(entry, dense) << "entry (" << i << ", " << j << ")";
      } else {
        // Relative to the entry before the fix: after it, a - 1/T may cancel to near zero.
        const double scale = std::abs(static_cast<double>(dense) + shift);
        ASSERT_NEAR(entry, dense, rel_tol * scale) << "entry (" << i << ", " << j << ")";
      }
    }
  }
}

TEST_P(EntryVersusDense, Float64) {
  const ModelSpec& spec = GetParam().spec;
  // Markov: the same Philox draws and the same row normalisation in the same order: bitwise.
  // Attention: a plain dot product against OpenBLAS's GEMM, so equal to rounding: logits of size
  // ~10 carry ~1e-15 absolute error, which exp turns into ~1e-14 relative; 1e-12 leaves room.
  const double tol = spec.kind == ModelKind::kMarkov ? 0.0 : 1e-12;
  expect_entries_match<double>(spec, tol);
}

TEST_P(EntryVersusDense, Float32) {
  const ModelSpec& spec = GetParam().spec;
  // Markov: bitwise as in float64. Attention: float32 logits carry ~1e-6 of rounding (dk = 16
  // products of size ~1, then exp): 1e-5 relative.
  const double tol = spec.kind == ModelKind::kMarkov ? 0.0 : 1e-5;
  expect_entries_match<float>(spec, tol);
}

INSTANTIATE_TEST_SUITE_P(Models, EntryVersusDense, ::testing::ValuesIn(all_specs(kSmallT)),
                         spec_name);

// ---- row sums, the causal mask ------------------------------------------------------------

class RowStructure : public ::testing::TestWithParam<NamedSpec> {};

TEST_P(RowStructure, RowSumsAreOneOrZeroWithTheFix) {
  const ModelSpec& spec = GetParam().spec;
  const std::int64_t T = spec.T;
  const std::vector<double> a = cpu::generate_dense<double>(spec, 0, 1);
  const double expected = spec.fix == Fix::kNone ? 1.0 : 0.0;
  for (std::int64_t i = 0; i < T; ++i) {
    double sum = 0;
    for (std::int64_t j = 0; j < T; ++j) sum += a[i * T + j];
    // T = 100 terms of size <= 1, each rounded once (1.1e-16) plus the division by the row
    // sum: the row sum is 1 to ~1e-14 at worst; 1e-12 is far from any real error.
    ASSERT_NEAR(sum, expected, 1e-12) << "row " << i;
  }
}

TEST_P(RowStructure, EntriesAreNonNegativeBeforeTheFix) {
  const ModelSpec& spec = GetParam().spec;
  const std::int64_t T = spec.T;
  const std::vector<double> a = cpu::generate_dense<double>(spec, 0, 1);
  const double shift = spec.fix == Fix::kCenter ? 1.0 / static_cast<double>(T) : 0.0;
  for (std::int64_t i = 0; i < T * T; ++i) ASSERT_GE(a[i] + shift, 0.0) << "entry " << i;
}

INSTANTIATE_TEST_SUITE_P(Models, RowStructure, ::testing::ValuesIn(all_specs(100)), spec_name);

class CausalMask : public ::testing::TestWithParam<NamedSpec> {};

TEST_P(CausalMask, RowsAreZeroBeyondTheDiagonal) {
  const ModelSpec& spec = GetParam().spec;
  const std::int64_t T = spec.T;
  const std::vector<double> a = cpu::generate_dense<double>(spec, 0, 1);
  // The masked entries are exactly 0 before the fix, so exactly -1/T after it.
  const double masked = spec.fix == Fix::kCenter ? -1.0 / static_cast<double>(T) : 0.0;
  for (std::int64_t i = 0; i < T; ++i) {
    for (std::int64_t j = i + 1; j < T; ++j) {
      ASSERT_EQ(a[i * T + j], masked) << "entry (" << i << ", " << j << ")";
    }
    ASSERT_GT(a[i * T + i], masked) << "diagonal " << i;
  }
  // Row 0 attends only to itself: it is e_0 (then shifted).
  EXPECT_NEAR(a[0], 1.0 + masked, 1e-15);
}

INSTANTIATE_TEST_SUITE_P(Models, CausalMask, ::testing::ValuesIn(causal_specs(100)), spec_name);

// ---- determinism ---------------------------------------------------------------------------

class Determinism : public ::testing::TestWithParam<NamedSpec> {};

TEST_P(Determinism, SameMatrixWhateverTheThreadCount) {
  // OpenBLAS rounds differently with 3 or more threads than with 1 or 2 when it splits one GEMM
  // itself; the generator's fixed panels must not (oversubscribing 2 cores is fine for this).
  const ModelSpec& spec = GetParam().spec;
  cpu::set_threads(1);
  const std::vector<double> one = cpu::generate_dense<double>(spec, 5, 3);
  for (const int threads : {2, 3, 4, 7}) {
    cpu::set_threads(threads);
    const std::vector<double> many = cpu::generate_dense<double>(spec, 5, 3);
    ASSERT_EQ(one.size(), many.size());
    for (std::size_t i = 0; i < one.size(); ++i) {
      ASSERT_EQ(one[i], many[i]) << "entry " << i << " with " << threads << " threads";
    }
  }
  cpu::set_threads(0);
}

TEST_P(Determinism, SameMatrixWhateverTheOrderOfGeneration) {
  const ModelSpec& spec = GetParam().spec;
  const std::vector<double> alone = cpu::generate_dense<double>(spec, 5, 3);
  std::vector<double> buffer(alone.size());
  for (std::uint32_t index = 0; index <= 3; ++index) {
    cpu::generate_dense<double>(spec, 5, index, buffer.data());
  }
  for (std::size_t i = 0; i < alone.size(); ++i) ASSERT_EQ(alone[i], buffer[i]) << "entry " << i;
  // And the matrices of different indices differ.
  const std::vector<double> other = cpu::generate_dense<double>(spec, 5, 2);
  EXPECT_NE(other, alone);
}

// T = 200 (not a multiple of the thread count or of BLAS blocking) so the work is split unevenly.
INSTANTIATE_TEST_SUITE_P(Models, Determinism, ::testing::ValuesIn(unfixed_specs(200)), spec_name);

// ---- float32 against float64 --------------------------------------------------------------

class Precisions : public ::testing::TestWithParam<NamedSpec> {};

TEST_P(Precisions, Float32MatrixEqualsFloat64Matrix) {
  const ModelSpec& spec = GetParam().spec;
  const std::int64_t T = spec.T;
  const std::vector<double> a64 = cpu::generate_dense<double>(spec, 2, 0);
  const std::vector<float> a32 = cpu::generate_dense<float>(spec, 2, 0);
  const double shift = spec.fix == Fix::kCenter ? 1.0 / static_cast<double>(T) : 0.0;
  for (std::int64_t i = 0; i < T * T; ++i) {
    // float32 variates are the float64 ones rounded, then normalised in float: 1e-5 relative per
    // entry. With the fix the float subtraction a - 1/T errs relative to its operands, so the
    // scale is |a| + 1/T (the result itself may cancel to near zero).
    const double scale = std::abs(a64[i] + shift) + shift;
    ASSERT_NEAR(a32[i], a64[i], 1e-5 * scale) << "entry (" << i / T << ", " << i % T << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(Models, Precisions, ::testing::ValuesIn(all_specs(64)), spec_name);

// ---- Frobenius sums -------------------------------------------------------------------------

class Frobenius : public ::testing::TestWithParam<NamedSpec> {};

TEST_P(Frobenius, SumsMatchTheReturnedMatrix) {
  ModelSpec spec = GetParam().spec;
  const std::int64_t T = spec.T;
  std::vector<double> a(static_cast<std::size_t>(T * T));
  const FrobeniusSums sums = cpu::generate_dense<double>(spec, 4, 1, a.data());
  spec.fix = Fix::kNone;
  const std::vector<double> unfixed = cpu::generate_dense<double>(spec, 4, 1);
  double sq = 0, perp_sq = 0;
  for (std::int64_t i = 0; i < T * T; ++i) {
    sq += a[i] * a[i];
    const double p = unfixed[i] - 1.0 / static_cast<double>(T);
    perp_sq += p * p;
  }
  // Sums of T^2 = 10^4 positive terms in another order, and (for the fix) the entry shifted in
  // the matrix's precision rather than in float64: 1e-12 relative.
  EXPECT_NEAR(sums.frob_sq, sq, 1e-12 * sq);
  EXPECT_NEAR(sums.frob_perp_sq, perp_sq, 1e-12 * perp_sq);
}

TEST_P(Frobenius, IdentityOfTheFix) {
  // ||A||_F^2 = 1 + ||A_perp||_F^2 for row-stochastic A (PAPER.md), since A_perp 1 = 0.
  const ModelSpec& spec = GetParam().spec;
  std::vector<double> a(static_cast<std::size_t>(spec.T * spec.T));
  const FrobeniusSums sums = cpu::generate_dense<double>(spec, 4, 1, a.data());
  if (spec.fix == Fix::kNone) {
    // Cancellation in 1 + x against sums rounded at 1e-16 relative: 1e-10 is generous.
    EXPECT_NEAR(sums.frob_sq, 1.0 + sums.frob_perp_sq, 1e-10 * sums.frob_sq);
  } else {
    // With the fix the matrix analysed is A_perp itself.
    EXPECT_NEAR(sums.frob_sq, sums.frob_perp_sq, 1e-12 * sums.frob_sq);
  }
  EXPECT_GT(sums.frob_perp_sq, 0.0);
}

INSTANTIATE_TEST_SUITE_P(Models, Frobenius, ::testing::ValuesIn(all_specs(100)), spec_name);

}  // namespace
}  // namespace gapbench

// ---- --logits: inputs of the logits GEMM rounded as tensor cores read them ---------------------

namespace gapbench {
namespace {

// --init: the names and the variances they draw. xavier-normal is PyTorch's xavier_normal_,
// variance 2/(d + dk); fan-in 1/d (called xavier before gapbench.sweep/5, which is how older
// results are read); a bare `xavier` is refused.
TEST(WeightInits, NamesAndVariances) {
  EXPECT_EQ(init_sigma(WeightInit::kNormal, 48, 16), 1.0);
  EXPECT_DOUBLE_EQ(init_sigma(WeightInit::kFanIn, 48, 16), 1.0 / std::sqrt(48.0));
  EXPECT_DOUBLE_EQ(init_sigma(WeightInit::kXavierNormal, 48, 16), std::sqrt(2.0 / 64.0));
  EXPECT_EQ(init_sigma(WeightInit::kXavierNormal, 64, 64), init_sigma(WeightInit::kFanIn, 64, 64));
  for (const WeightInit w : {WeightInit::kNormal, WeightInit::kFanIn, WeightInit::kXavierNormal}) {
    EXPECT_EQ(parse_init(to_string(w)), w);
  }
  try {
    parse_init("xavier");
    ADD_FAILURE() << "a bare xavier was accepted";
  } catch (const UsageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("--init"), std::string::npos) << what;
    EXPECT_NE(what.find("fan-in"), std::string::npos) << what;
    EXPECT_NE(what.find("xavier-normal"), std::string::npos) << what;
  }
  EXPECT_EQ(parse_stored_init("xavier", "meta.json"), WeightInit::kFanIn);
  EXPECT_EQ(parse_stored_init("xavier-normal", "meta.json"), WeightInit::kXavierNormal);

  // The drawn queries' variance (isometric inputs draw Q directly): 4096 entries, whose sample
  // variance has a relative standard error of sqrt(2/4096) = 2.2%; tolerance 10%.
  ModelSpec spec = attention(InputKind::kIsometric, 256, 256);
  spec.d = 48 * 8;
  spec.dk = 16;
  spec.init = WeightInit::kXavierNormal;
  const auto f = cpu::attention_factors<double>(spec, 3, 0);
  double sum_sq = 0;
  for (const double q : f.queries) sum_sq += q * q;
  const double want = 2.0 / static_cast<double>(spec.d + spec.dk);
  EXPECT_NEAR(sum_sq / static_cast<double>(f.queries.size()), want, 0.1 * want);
}

TEST(LogitsRounding, RoundsToNearestEvenAtTheMantissaWidth) {
  const float one = 1.0f;
  // TF32 keeps 10 mantissa bits: 1 + 2^-10 is exact, 1 + 2^-11 is a tie (to even: 1), and
  // 1 + 3 2^-11 ties up to 1 + 2^-9.
  EXPECT_EQ(round_logits_input(one + 0x1p-10f, LogitsPrecision::kTf32), one + 0x1p-10f);
  EXPECT_EQ(round_logits_input(one + 0x1p-11f, LogitsPrecision::kTf32), one);
  EXPECT_EQ(round_logits_input(one + 3 * 0x1p-11f, LogitsPrecision::kTf32), one + 0x1p-9f);
  EXPECT_EQ(round_logits_input(one + 0x1p-11f + 0x1p-20f, LogitsPrecision::kTf32), one + 0x1p-10f);
  // BF16 keeps 7: the same one step coarser, and signs are kept.
  EXPECT_EQ(round_logits_input(one + 0x1p-7f, LogitsPrecision::kBf16), one + 0x1p-7f);
  EXPECT_EQ(round_logits_input(one + 0x1p-8f, LogitsPrecision::kBf16), one);
  EXPECT_EQ(round_logits_input(-(one + 3 * 0x1p-8f), LogitsPrecision::kBf16), -(one + 0x1p-6f));
  EXPECT_EQ(round_logits_input(0.1f, LogitsPrecision::kFull), 0.1f);
  EXPECT_EQ(round_logits_input(0.1, LogitsPrecision::kBf16), 0.1);  // float64 keeps full inputs
}

// The rounded factors reach the matrix: each --logits gives another float32 matrix, closer to
// the full one the more bits it keeps (entries move by about |logit| 2^-8 for bf16).
TEST(LogitsRounding, ChangesTheMatrixByTheRoundingOfItsInputs) {
  ModelSpec spec;
  spec.kind = ModelKind::kAttention;
  spec.T = 257;
  spec.d = spec.dk = 16;
  const std::vector<float> full = cpu::generate_dense<float>(spec, 3, 1);
  double previous = 0;
  for (const LogitsPrecision logits : {LogitsPrecision::kTf32, LogitsPrecision::kBf16}) {
    spec.logits = logits;
    const std::vector<float> rounded = cpu::generate_dense<float>(spec, 3, 1);
    double worst = 0;
    for (std::size_t i = 0; i < full.size(); ++i) {
      worst = std::max(worst, std::abs(static_cast<double>(rounded[i]) - full[i]) / full[i]);
    }
    EXPECT_GT(worst, 1e-5) << to_string(logits) << " changed nothing";
    EXPECT_LT(worst, logits == LogitsPrecision::kTf32 ? 1e-2 : 1e-1) << to_string(logits);
    EXPECT_GT(worst, previous) << "bf16 keeps fewer bits than tf32";
    previous = worst;
  }
}

}  // namespace
}  // namespace gapbench
