// Counter-based random numbers: Philox4x32-10 from Random123 with gapbench's frozen layout.
//
// Every random number gapbench draws is one Philox call on
//   key     = (seed low 32 bits, seed high 32 bits)
//   counter = (column, row, matrix index, stream)
// so any entry of any matrix can be regenerated alone, on the host or on the device, and a
// matrix depends only on (model, parameters, T, seed, index): never on batch size, thread count
// or backend. One call yields 128 bits: two uniforms of 52 bits each. The layout is versioned
// (kRngLayoutVersion) and written into every results file; changing anything here changes every
// matrix and must bump the version.
#pragma once

#include <Random123/philox.h>

#include <cmath>
#include <cstdint>

#include "gapbench/hd.hpp"

namespace gapbench {

inline constexpr int kRngLayoutVersion = 1;
inline constexpr const char* kRngLayout =
    "philox4x32-10; key=(seed_lo, seed_hi); counter=(column, row, matrix_index, stream)";

// The fourth counter word: which family of numbers a draw belongs to. Frozen values.
enum class Stream : std::uint32_t {
  kMarkovEntries = 1,  // M_ij of the random Markov model
  kQueries = 2,        // Q_ij drawn directly (isometric inputs)
  kKeys = 3,           // K_ij drawn directly (isometric inputs)
  kInputs = 4,         // X_ij (gaussian inputs)
  kQueryWeights = 5,   // (W_Q)_ij
  kKeyWeights = 6,     // (W_K)_ij
  kValueWeights = 7,   // (W_V)_ij, signal propagation
  kSolverStart = 8,    // start block of iterative solvers
};

// Probe p of signal propagation's gradient estimate (the cotangent g, standard normal, matrix
// index = the run's index) has stream kFirstProbeStream + p: the streams above do not move.
inline constexpr std::uint32_t kFirstProbeStream = std::uint32_t{1} << 16;
GAPBENCH_HD Stream probe_stream(std::uint32_t probe) {
  return static_cast<Stream>(kFirstProbeStream + probe);
}

using PhiloxBits = r123::Philox4x32::ctr_type;

// The 128 random bits of one counter.
GAPBENCH_HD PhiloxBits philox_draw(std::uint64_t seed, Stream stream, std::uint32_t index,
                                   std::uint32_t row, std::uint32_t column) {
  r123::Philox4x32 philox;
  const r123::Philox4x32::key_type key = {
      {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
  const PhiloxBits counter = {{column, row, index, static_cast<std::uint32_t>(stream)}};
  return philox(counter, key);
}

namespace detail {
GAPBENCH_HD float math_log(float x) { return logf(x); }
GAPBENCH_HD double math_log(double x) { return log(x); }
GAPBENCH_HD float math_exp(float x) { return expf(x); }
GAPBENCH_HD double math_exp(double x) { return exp(x); }
GAPBENCH_HD float math_sqrt(float x) { return sqrtf(x); }
GAPBENCH_HD double math_sqrt(double x) { return sqrt(x); }
GAPBENCH_HD float math_cospi(float x) { return cosf(3.14159265358979323846f * x); }
GAPBENCH_HD double math_cospi(double x) { return cos(3.14159265358979323846 * x); }
}  // namespace detail

// Two uniforms on the open interval (0, 1) from one draw, 52 bits each (the first and second
// 64-bit halves): (x + 0.5) 2^-52 with x < 2^52 is exact, so the largest value is 1 - 2^-53
// and never rounds to 1.
struct UniformPair {
  double first;
  double second;
};

GAPBENCH_HD UniformPair uniform_pair(const PhiloxBits& bits) {
  const auto to_unit = [](std::uint32_t hi, std::uint32_t lo) {
    const std::uint64_t x = ((static_cast<std::uint64_t>(hi) << 32) | lo) >> 12;  // 52 bits
    return (static_cast<double>(x) + 0.5) * 0x1.0p-52;
  };
  return {to_unit(bits[0], bits[1]), to_unit(bits[2], bits[3])};
}

// The variates are computed in float64 and rounded to Real once, so a float32 matrix is the
// float64 one rounded (to the float32 softmax), whatever the steepness of the transform in u.

// Uniform on (0, 1). In float32 the largest uniform, 1 - 2^-53, would round to 1: it is kept
// at the largest float below 1 instead.
template <typename Real>
GAPBENCH_HD Real uniform_open(const PhiloxBits& bits) {
  return static_cast<Real>(uniform_pair(bits).first);
}
template <>
GAPBENCH_HD float uniform_open<float>(const PhiloxBits& bits) {
  const float u = static_cast<float>(uniform_pair(bits).first);
  return u < 1.0f ? u : 0x1.fffffep-1f;
}

// Standard normal by Box-Muller (cosine branch only, so one counter gives one entry).
template <typename Real>
GAPBENCH_HD Real standard_normal(const PhiloxBits& bits) {
  const UniformPair u = uniform_pair(bits);
  return static_cast<Real>(detail::math_sqrt(-2.0 * detail::math_log(u.first)) *
                           detail::math_cospi(2.0 * u.second));
}

// Exponential with mean 1.
template <typename Real>
GAPBENCH_HD Real standard_exponential(const PhiloxBits& bits) {
  return static_cast<Real>(-detail::math_log(uniform_pair(bits).first));
}

}  // namespace gapbench
