// Dense generation of model matrices on the CPU (OpenMP over rows, OpenBLAS for the attention
// GEMMs). Matrices are row-major T x T; row i is the attention of token i.
#pragma once

#include <cstdint>
#include <vector>

#include "gapbench/metrics.hpp"
#include "gapbench/model.hpp"
#include "gapbench/rng.hpp"

namespace gapbench::cpu {

// Fills `a` (row-major, T*T entries) with matrix `index` of `spec` under `seed`. The result is
// bitwise the same whatever the thread count. Returns the Frobenius sums.
template <typename Real>
FrobeniusSums generate_dense(const ModelSpec& spec, std::uint64_t seed, std::uint32_t index,
                             Real* a);

template <typename Real>
std::vector<Real> generate_dense(const ModelSpec& spec, std::uint64_t seed, std::uint32_t index);

// A rows x cols row-major matrix of `scale` times standard normals, entry (i, j) from the Philox
// counter (j, i, index, stream): the factor matrices X, W, Q, K.
template <typename Real>
std::vector<Real> gaussian_matrix(Stream stream, Real scale, std::uint64_t seed,
                                  std::uint32_t index, std::int64_t rows, std::int64_t cols);

// Rounds a factor (Q or K) as the logits GEMM's tensor cores would read it (--logits).
template <typename Real>
void round_logits_inputs(LogitsPrecision logits, std::vector<Real>& factor);

// Queries and keys (row-major T x dk each) of the attention model: drawn directly for isometric
// inputs, Q = X W_Q and K = X W_K for gaussian inputs; rounded per spec.logits.
template <typename Real>
struct AttentionFactors {
  std::vector<Real> queries;
  std::vector<Real> keys;
};
template <typename Real>
AttentionFactors<Real> attention_factors(const ModelSpec& spec, std::uint64_t seed,
                                         std::uint32_t index);

// C (m x n, row-major) = alpha op(A) op(B) + beta C, where op(A) (m x k) is A (row-major m x k)
// or A^T (A row-major k x m), and op(B) (k x n) is B (row-major k x n) or B^T (B row-major n x
// k). Bitwise the same for any OpenMP/OpenBLAS thread count.
template <typename Real>
void deterministic_product(Real alpha, bool transpose_a, bool transpose_b, std::int64_t m,
                           std::int64_t n, std::int64_t k, const Real* a, const Real* b, Real beta,
                           Real* c);
// C = A op(B), as above.
template <typename Real>
void deterministic_gemm(bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k,
                        const Real* a, const Real* b, Real* c) {
  deterministic_product(Real(1), false, transpose_b, m, n, k, a, b, Real(0), c);
}

// The attention matrix of given factors: `a` (row-major T x T) = softmax_row(logit_scale * Q K^T)
// with Q, K row-major T x dk, under the causal mask when `causal`, then the fix. Returns the
// Frobenius sums. generate_dense uses it with logit_scale = beta / sqrt(dk).
template <typename Real>
FrobeniusSums attention_from_factors(std::int64_t T, std::int64_t dk, const Real* queries,
                                     const Real* keys, Real logit_scale, bool causal, Fix fix,
                                     Real* a);

// Entry (row, column) of matrix `index`, regenerated alone: O(T) Philox draws for markov (one
// row), O(T*dk) for attention (one row of logits, from a plain loop rather than the GEMM, so
// agreement with generate_dense is to rounding there, not bitwise).
template <typename Real>
Real generate_entry(const ModelSpec& spec, std::uint64_t seed, std::uint32_t index,
                    std::int64_t row, std::int64_t column);

}  // namespace gapbench::cpu
