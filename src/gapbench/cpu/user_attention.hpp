// Attention of a trained model: queries and keys dumped from it (`gapbench run --qk Q.npy,K.npy`)
// instead of drawn at random, so that its spectrum can be measured at full context length, by
// the dense or the matrix-free (fused) operator.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gapbench/backend.hpp"

namespace gapbench::cpu {

// Queries and keys, T x dk each (row-major), for each of `heads` heads.
template <typename Real>
struct QkHeads {
  std::int64_t heads = 1;
  std::int64_t T = 0;
  std::int64_t dk = 0;
  std::vector<Real> queries;  // heads blocks of T x dk
  std::vector<Real> keys;
};

// Reads "Q.npy,K.npy": two C-order float32 or float64 arrays of the same shape, T x dk or
// heads x T x dk. Throws UsageError naming --qk when the text, the files or the shapes are wrong.
template <typename Real>
QkHeads<Real> load_qk(const std::string& files);

// The top singular values of head `head`: A = softmax_row(beta / sqrt(dk) Q K^T) under the causal
// mask when `causal`, then `fix`, with the operator of point.op (auto: dense when it fits).
// point.model supplies beta, causal and fix; its T and dk are set from `qk`.
template <typename Real>
MatrixOutcome solve_head(const QkHeads<Real>& qk, std::int64_t head, PointSpec point,
                         std::uint64_t seed);

}  // namespace gapbench::cpu
