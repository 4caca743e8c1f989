// The math of one matrix entry, shared by the CPU loops and the CUDA kernels (GAPBENCH_HD).
//
// markov: M_ij is drawn from counter (j, i, index, kMarkovEntries); for the lognormal law M_ij =
// exp(beta * g_ij), kept as the logit beta * g_ij so that rows are normalised as a stable softmax
// (subtract the row maximum, exponentiate, divide by the sum). For the exponential, uniform and
// gamma laws M_ij > 0 is kept as is and rows are divided by their sum. The laws' names, their
// parameter and their theory constant c are in laws.hpp.
// attention: logit_ij = beta * q_i . k_j / sqrt(dk), then the same stable row softmax; with the
// causal mask only j <= i take part and the other entries are zero.
// The fix kCenter subtracts 1/T from every entry after normalisation.
#pragma once

#include <cstdint>
#include <cstring>

#include "gapbench/hd.hpp"
#include "gapbench/laws.hpp"
#include "gapbench/model.hpp"
#include "gapbench/rng.hpp"

namespace gapbench {

// True when the markov entries are logits to be softmaxed rather than positive weights.
GAPBENCH_HD bool markov_uses_logits(EntryLaw law) { return law == EntryLaw::kLognormal; }

// Gamma(shape, 1) for entry (row, column) by Marsaglia and Tsang's method (ACM TOMS 26, 2000):
// attempt a takes a normal from the counter of stream word kMarkovEntries + (2a << 16) and its
// uniforms from kMarkovEntries + ((2a + 1) << 16) (stream words no other draw uses, so every other
// matrix is unchanged); about 1 attempt in 20 or fewer is rejected. Shapes below 1 use
// Gamma(shape + 1) U^(1/shape). In float64, rounded once. After kGammaAttempts rejections (chance
// below 1e-80) the mode of the proposal is returned.
inline constexpr std::uint32_t kGammaAttempts = 64;
GAPBENCH_HD double gamma_entry(double shape, std::uint64_t seed, std::uint32_t index,
                               std::uint32_t row, std::uint32_t column) {
  const auto draw = [&](std::uint32_t n) {
    const auto word = static_cast<std::uint32_t>(Stream::kMarkovEntries) | (n << 16);
    return philox_draw(seed, static_cast<Stream>(word), index, row, column);
  };
  const double k = shape < 1 ? shape + 1 : shape;
  const double d = k - 1.0 / 3.0, c = 1.0 / detail::math_sqrt(9.0 * d);
  double value = d;
  UniformPair u{0.5, 0.5};
  for (std::uint32_t a = 0; a < kGammaAttempts; ++a) {
    const double x = standard_normal<double>(draw(2 * a));
    const double t = 1.0 + c * x;
    if (t <= 0) continue;
    const double v = t * t * t;
    u = uniform_pair(draw(2 * a + 1));
    if (detail::math_log(u.first) < 0.5 * x * x + d - d * v + d * detail::math_log(v)) {
      value = d * v;
      break;
    }
  }
  if (shape < 1) value *= detail::math_exp(detail::math_log(u.second) / shape);
  return value;
}

// The raw value of M_ij: a logit beta*g (lognormal) or a positive weight (exponential, uniform,
// gamma of shape beta).
template <typename Real>
GAPBENCH_HD Real markov_raw_entry(EntryLaw law, Real beta, std::uint64_t seed, std::uint32_t index,
                                  std::uint32_t row, std::uint32_t column) {
  const PhiloxBits bits = philox_draw(seed, Stream::kMarkovEntries, index, row, column);
  switch (law) {
    case EntryLaw::kLognormal:
      return beta * standard_normal<Real>(bits);
    case EntryLaw::kExponential:
      return standard_exponential<Real>(bits);
    case EntryLaw::kGamma:
      return static_cast<Real>(gamma_entry(static_cast<double>(beta), seed, index, row, column));
    case EntryLaw::kUniform:
    default:
      return uniform_open<Real>(bits);
  }
}

// Scale of the attention logits: beta / sqrt(dk).
template <typename Real>
GAPBENCH_HD Real attention_logit_scale(Real beta, std::int64_t dk) {
  return beta / detail::math_sqrt(static_cast<Real>(dk));
}

// Unnormalised softmax weight of a logit given its row maximum.
template <typename Real>
GAPBENCH_HD Real softmax_weight(Real logit, Real row_max) {
  return detail::math_exp(logit - row_max);
}

// The value subtracted from every entry by the fix.
template <typename Real>
GAPBENCH_HD Real fix_shift(Fix fix, std::int64_t T) {
  return fix == Fix::kCenter ? Real(1) / static_cast<Real>(T) : Real(0);
}

// An input of the logits GEMM as tensor cores read it: rounded to nearest (ties to even) at
// TF32's 10-bit or BF16's 7-bit mantissa (finite x). float64 runs keep full inputs.
GAPBENCH_HD float round_logits_input(float x, LogitsPrecision p) {
  if (p == LogitsPrecision::kFull) return x;
  const unsigned drop = p == LogitsPrecision::kTf32 ? 13u : 16u;  // of float32's 23 bits
  unsigned bits = 0;
  memcpy(&bits, &x, sizeof bits);
  bits += ((1u << (drop - 1)) - 1) + ((bits >> drop) & 1u);
  bits &= ~((1u << drop) - 1);
  memcpy(&x, &bits, sizeof x);
  return x;
}
GAPBENCH_HD double round_logits_input(double x, LogitsPrecision) { return x; }

// Entry of a factor matrix (Q, K, X or W): standard normal times `scale`.
template <typename Real>
GAPBENCH_HD Real gaussian_factor_entry(Stream stream, Real scale, std::uint64_t seed,
                                       std::uint32_t index, std::uint32_t row,
                                       std::uint32_t column) {
  return scale * standard_normal<Real>(philox_draw(seed, stream, index, row, column));
}

}  // namespace gapbench
