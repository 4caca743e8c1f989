// Dense generation of model matrices on the CPU (OpenMP over rows, OpenBLAS for the attention
// GEMMs). Matrices are row-major T x T; row i is the attention of token i.
#pragma once

#include <cstdint>
#include <vector>

#include "gapbench/metrics.hpp"
#include "gapbench/model.hpp"

namespace gapbench::cpu {

// Fills `a` (row-major, T*T entries) with matrix `index` of `spec` under `seed`. The result is
// bitwise the same whatever the thread count. Returns the Frobenius sums.
template <typename Real>
FrobeniusSums generate_dense(const ModelSpec& spec, std::uint64_t seed, std::uint32_t index,
                             Real* a);

template <typename Real>
std::vector<Real> generate_dense(const ModelSpec& spec, std::uint64_t seed, std::uint32_t index);

// Queries and keys (row-major T x dk each) of the attention model: drawn directly for isometric
// inputs, Q = X W_Q and K = X W_K for gaussian inputs.
template <typename Real>
struct AttentionFactors {
  std::vector<Real> queries;
  std::vector<Real> keys;
};
template <typename Real>
AttentionFactors<Real> attention_factors(const ModelSpec& spec, std::uint64_t seed,
                                         std::uint32_t index);

// Entry (row, column) of matrix `index`, regenerated alone: O(T) Philox draws for markov (one
// row), O(T*dk) for attention (one row of logits, from a plain loop rather than the GEMM, so
// agreement with generate_dense is to rounding there, not bitwise).
template <typename Real>
Real generate_entry(const ModelSpec& spec, std::uint64_t seed, std::uint32_t index,
                    std::int64_t row, std::int64_t column);

}  // namespace gapbench::cpu
