// The random numbers: Philox4x32-10 against Random123's published known answers, gapbench's
// frozen counter layout (v1), and the conversions to uniform, normal and exponential variates.
#include <gtest/gtest.h>

#include <Random123/philox.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "gapbench/rng.hpp"

namespace gapbench {
namespace {

// ---- Philox4x32-10 known answers -----------------------------------------------------------

struct PhiloxKat {
  const char* name;
  std::uint32_t counter[4];
  std::uint32_t key[2];
  std::uint32_t expected[4];
};

// Random123 1.14, tests/kat_vectors, the three "philox4x32 10" lines (counter, key, expected).
const PhiloxKat kPhiloxKats[] = {
    {"zeros", {0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {"ones",
     {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {"pi",
     {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

void PrintTo(const PhiloxKat& k, std::ostream* os) { *os << k.name; }

class PhiloxKnownAnswer : public ::testing::TestWithParam<PhiloxKat> {};

TEST_P(PhiloxKnownAnswer, Random123MatchesPublishedVector) {
  const PhiloxKat& kat = GetParam();
  r123::Philox4x32 philox;
  const r123::Philox4x32::ctr_type ctr = {
      {kat.counter[0], kat.counter[1], kat.counter[2], kat.counter[3]}};
  const r123::Philox4x32::key_type key = {{kat.key[0], kat.key[1]}};
  const auto out = philox(ctr, key);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], kat.expected[i]) << "word " << i;
}

// philox_draw maps key = (seed_lo, seed_hi), counter = (column, row, index, stream): feeding the
// published counter and key through that mapping must give the published output.
TEST_P(PhiloxKnownAnswer, PhiloxDrawUsesTheDocumentedLayout) {
  const PhiloxKat& kat = GetParam();
  const std::uint64_t seed =
      static_cast<std::uint64_t>(kat.key[0]) | (static_cast<std::uint64_t>(kat.key[1]) << 32);
  const PhiloxBits out = philox_draw(seed, static_cast<Stream>(kat.counter[3]),
                                     /*index=*/kat.counter[2], /*row=*/kat.counter[1],
                                     /*column=*/kat.counter[0]);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], kat.expected[i]) << "word " << i;
}

INSTANTIATE_TEST_SUITE_P(Kat, PhiloxKnownAnswer, ::testing::ValuesIn(kPhiloxKats),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- frozen outputs of layout v1 ----------------------------------------------------------

struct FrozenDraw {
  std::uint64_t seed;
  Stream stream;
  std::uint32_t index, row, column;
  std::uint32_t bits[4];
  double uniform;      // uniform_open<double>
  double normal;       // standard_normal<double>
  double exponential;  // standard_exponential<double>
};

// Computed once with gapbench's rng.hpp at kRngLayoutVersion 1 and frozen here: a change to the
// layout or the conversions changes every matrix and must bump kRngLayoutVersion (and these).
const FrozenDraw kFrozenDraws[] = {
    {0,
     Stream::kMarkovEntries,
     0,
     0,
     0,
     {0x2dce73e5, 0x1348e23f, 0xfcf8e0ec, 0xa287aadb},
     0.17893146841678098,
     1.8500091628203474,
     1.7207524044570308},
    {1,
     Stream::kMarkovEntries,
     2,
     3,
     4,
     {0xc96245ac, 0x89b2e8c6, 0xe0f9c288, 0x855f9514},
     0.78665576422072159,
     0.50145014113558606,
     0.239964528768084},
    {42,
     Stream::kQueries,
     7,
     100,
     5,
     {0xce855d22, 0xea479b0f, 0xcb9dcccb, 0xfa671c2e},
     0.80672247030659461,
     0.18433989178546942,
     0.21477557282618034},
    {0xdeadbeefcafef00dULL,
     Stream::kSolverStart,
     0,
     1,
     2,
     {0x32b8bd03, 0x06e78535, 0x710a93fd, 0xe382dd6c},
     0.19813138317013401,
     -1.6794337309789247,
     1.6188249169761564},
    {123456789,
     Stream::kInputs,
     3,
     0,
     63,
     {0x343d2c01, 0x88cd1d55, 0xd308e22e, 0xb1eae7c5},
     0.20405840909443318,
     0.80296375756364369,
     1.5893490070290504},
};

void PrintTo(const FrozenDraw& f, std::ostream* os) {
  *os << "seed " << f.seed << ", stream " << static_cast<unsigned>(f.stream) << ", index "
      << f.index << ", row " << f.row << ", column " << f.column;
}

class FrozenLayout : public ::testing::TestWithParam<FrozenDraw> {};

TEST_P(FrozenLayout, BitsAndVariatesAreFrozen) {
  const FrozenDraw& f = GetParam();
  const PhiloxBits bits = philox_draw(f.seed, f.stream, f.index, f.row, f.column);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(bits[i], f.bits[i]) << "word " << i;
  // The uniform is exact integer-to-double arithmetic: bitwise (17 digits round-trip).
  EXPECT_EQ(uniform_open<double>(bits), f.uniform);
  // Normal and exponential go through libm log/cos: 1e-15 relative (a few ulp) allows another
  // libm's last-bit rounding, nothing more.
  EXPECT_NEAR(standard_normal<double>(bits), f.normal, 1e-15 * std::abs(f.normal));
  EXPECT_NEAR(standard_exponential<double>(bits), f.exponential, 1e-15 * f.exponential);
}

INSTANTIATE_TEST_SUITE_P(LayoutV1, FrozenLayout, ::testing::ValuesIn(kFrozenDraws));

TEST(RngLayout, VersionIsOne) {
  // The frozen values above belong to layout 1; a new layout needs new frozen values.
  EXPECT_EQ(kRngLayoutVersion, 1);
}

TEST(RngLayout, EveryCounterWordChangesTheDraw) {
  const PhiloxBits base = philox_draw(7, Stream::kMarkovEntries, 1, 2, 3);
  const PhiloxBits others[] = {philox_draw(8, Stream::kMarkovEntries, 1, 2, 3),
                               philox_draw(7ULL + (1ULL << 32), Stream::kMarkovEntries, 1, 2, 3),
                               philox_draw(7, Stream::kQueries, 1, 2, 3),
                               philox_draw(7, Stream::kMarkovEntries, 2, 2, 3),
                               philox_draw(7, Stream::kMarkovEntries, 1, 3, 3),
                               philox_draw(7, Stream::kMarkovEntries, 1, 2, 4)};
  for (const PhiloxBits& o : others) EXPECT_NE(o[0], base[0]);
  // Row and column are not interchangeable.
  EXPECT_NE(philox_draw(7, Stream::kMarkovEntries, 1, 3, 2)[0], base[0]);
}

// ---- conversions -------------------------------------------------------------------------

PhiloxBits bits_of(std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d) {
  PhiloxBits bits;
  bits[0] = a;
  bits[1] = b;
  bits[2] = c;
  bits[3] = d;
  return bits;
}

// The extreme bit patterns must still give uniforms strictly inside (0, 1): log(u) and
// log(1 - u) style transforms rely on it.
TEST(UniformBounds, AllZeroBitsGivePositiveUniforms) {
  const auto u = uniform_pair(bits_of(0, 0, 0, 0));
  EXPECT_GT(u.first, 0.0);
  EXPECT_GT(u.second, 0.0);
}

template <typename Real>
class VariateBounds : public ::testing::Test {};
using RealTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(VariateBounds, RealTypes);

TYPED_TEST(VariateBounds, AllOneBitsGiveUniformsBelowOne) {
  const std::uint32_t ones = 0xffffffffu;
  const auto u = uniform_pair(bits_of(ones, ones, ones, ones));
  EXPECT_LT(u.first, 1.0);
  EXPECT_LT(u.second, 1.0);
  // And so the exponential of the largest uniform is strictly positive, in either precision.
  EXPECT_GT(standard_exponential<TypeParam>(bits_of(ones, ones, ones, ones)), TypeParam(0));
  EXPECT_LT(uniform_open<TypeParam>(bits_of(ones, ones, ones, ones)), TypeParam(1));
}

TEST(UniformBounds, DrawsLieInsideTheOpenInterval) {
  for (std::uint32_t i = 0; i < 100000; ++i) {
    const auto u = uniform_pair(philox_draw(3, Stream::kMarkovEntries, 0, i / 1000, i % 1000));
    ASSERT_GT(u.first, 0.0);
    ASSERT_LT(u.first, 1.0);
    ASSERT_GT(u.second, 0.0);
    ASSERT_LT(u.second, 1.0);
  }
}

TEST(VariateConversion, Float32VariatesAreTheFloat64OnesRounded) {
  // The variates are computed in float64 and rounded once, so a float32 matrix is the float64
  // one rounded: exact equality, not a tolerance.
  for (std::uint32_t i = 0; i < 10000; ++i) {
    const PhiloxBits bits = philox_draw(11, Stream::kInputs, 5, i, 2 * i);
    ASSERT_EQ(standard_normal<float>(bits), static_cast<float>(standard_normal<double>(bits)));
    ASSERT_EQ(standard_exponential<float>(bits),
              static_cast<float>(standard_exponential<double>(bits)));
    ASSERT_EQ(uniform_open<float>(bits), static_cast<float>(uniform_open<double>(bits)));
  }
}

// Moments over n = 1e5 draws of a fixed seed (deterministic; the tolerances are still set at
// about 5 standard errors so that another valid layout would pass too).
template <typename Real>
struct Moments {
  double mean = 0, variance = 0;
};

template <typename Real, typename Draw>
Moments<Real> moments(Draw draw) {
  constexpr int kN = 100000;
  double sum = 0, sq = 0;
  for (int i = 0; i < kN; ++i) {
    const double x = static_cast<double>(
        draw(philox_draw(2024, Stream::kQueries, 1, static_cast<std::uint32_t>(i / 317),
                         static_cast<std::uint32_t>(i % 317))));
    sum += x;
    sq += x * x;
  }
  Moments<Real> m;
  m.mean = sum / kN;
  m.variance = sq / kN - m.mean * m.mean;
  return m;
}

template <typename Real>
class Variates : public ::testing::Test {};
TYPED_TEST_SUITE(Variates, RealTypes);

TYPED_TEST(Variates, StandardNormalHasMeanZeroVarianceOne) {
  const auto m =
      moments<TypeParam>([](const PhiloxBits& b) { return standard_normal<TypeParam>(b); });
  // Standard error of the mean 1/sqrt(1e5) = 0.0032; of the variance sqrt(2/1e5) = 0.0045.
  EXPECT_NEAR(m.mean, 0.0, 0.016);
  EXPECT_NEAR(m.variance, 1.0, 0.023);
}

TYPED_TEST(Variates, StandardExponentialHasMeanOneVarianceOne) {
  const auto m =
      moments<TypeParam>([](const PhiloxBits& b) { return standard_exponential<TypeParam>(b); });
  // Standard errors: mean 1/sqrt(1e5) = 0.0032; variance sqrt(8/1e5) = 0.009.
  EXPECT_NEAR(m.mean, 1.0, 0.016);
  EXPECT_NEAR(m.variance, 1.0, 0.045);
}

TYPED_TEST(Variates, UniformHasMeanHalfVarianceOneTwelfth) {
  const auto m = moments<TypeParam>([](const PhiloxBits& b) { return uniform_open<TypeParam>(b); });
  // Standard errors: mean sqrt(1/12/1e5) = 0.0009; variance sqrt(1/180/1e5) = 0.00024.
  EXPECT_NEAR(m.mean, 0.5, 0.0046);
  EXPECT_NEAR(m.variance, 1.0 / 12.0, 0.0012);
}

TEST(Variates, FloatNormalTracksDoubleNormal) {
  // Same bits, two precisions: Box-Muller in float loses ~1e-7 relative per operation; away from
  // u1 -> 1 (where sqrt(-2 log u1) is steep and the float grid is coarse) they agree to 1e-5.
  int compared = 0;
  for (std::uint32_t i = 0; i < 10000; ++i) {
    const PhiloxBits bits = philox_draw(5, Stream::kKeys, 0, i, 0);
    if (uniform_open<double>(bits) > 0.999) continue;
    const double d = standard_normal<double>(bits);
    const double f = standard_normal<float>(bits);
    ASSERT_NEAR(f, d, 1e-5 * std::max(1.0, std::abs(d))) << "draw " << i;
    ++compared;
  }
  EXPECT_GT(compared, 9900);
}

}  // namespace
}  // namespace gapbench
