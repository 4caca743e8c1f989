// Matrix-free model matrices on the CPU: products Y = A X and Y = A^T X without ever storing A,
// for context lengths whose dense T x T matrix does not fit in memory.
//
// attention: keeps Q and K (T x dk each) and the softmax statistics of each row (maximum m_i and
// sum l_i, O(T)), computed once in a streaming pass, and regenerates A tile by tile in each
// product: a tile of logits Q_I K_J^T (OpenBLAS GEMM), scaled, masked (causal), exponentiated
// against m_i and divided by l_i, then multiplied into the block of vectors (GEMM), as
// FlashAttention's forward (A V) and backward (dV = P^T dO) passes do. Memory O(T (dk + b)) plus
// one tile per thread.
// markov: keeps only the row statistics and redraws each entry from its Philox counter
// (entries.hpp) in every product: O(T) memory, T^2 draws per product.
//
// The fix A - (1/T) 1 1^T applies on the fly (Y -= (1/T) 1 (1^T X)). Each block of output rows
// (A X) or columns (A^T X) is owned by one thread in a fixed order, with single-threaded
// OpenBLAS calls inside, so results do not depend on the thread count. A block of b vectors
// shares each tile: the cost of a product is nearly that of its tiles, whatever b.
#pragma once

#include <cstdint>
#include <vector>

#include "gapbench/device.hpp"
#include "gapbench/metrics.hpp"
#include "gapbench/model.hpp"

namespace gapbench::cpu {

template <typename Real>
class FusedOperator final : public MatrixFreeOperator<Real> {
 public:
  // softmax_row(logit_scale * Q K^T) under the causal mask when `causal`, then `fix`; Q and K
  // row-major T x dk.
  static FusedOperator attention(std::vector<Real> queries, std::vector<Real> keys, std::int64_t T,
                                 std::int64_t dk, Real logit_scale, bool causal, Fix fix);
  // Matrix `index` of `spec` (attention from its generated factors, or markov) under `seed`:
  // the same matrix as generate_dense, to rounding.
  static FusedOperator from_model(const ModelSpec& spec, std::uint64_t seed, std::uint32_t index);

  std::int64_t rows() const override { return m_T; }
  std::int64_t cols() const override { return m_T; }
  void apply(BlockView<const Real> x, BlockView<Real> y) const override;
  void apply_transpose(BlockView<const Real> x, BlockView<Real> y) const override;

  // The Frobenius sums of the matrix, from the row statistics (as generate_dense returns them).
  FrobeniusSums sums() const override { return m_sums; }
  std::vector<double> diagonal() const override;
  // Bytes held (factors and row statistics), for memory planning and reports.
  std::int64_t bytes() const;

 private:
  enum class Source { kAttention, kMarkov };
  FusedOperator() = default;

  // Computes m_i, l_i (and the Frobenius sums) in one streaming pass over the tiles.
  void compute_row_statistics();
  // The raw tile (logits scaled, or markov raw values) of rows [i0, i0 + ni) and columns
  // [j0, j0 + nj), row-major with ld nj; entries outside the causal mask are not written.
  void raw_tile(std::int64_t i0, std::int64_t ni, std::int64_t j0, std::int64_t nj,
                Real* tile) const;
  // The tile of A itself (normalised; the fix is not applied), masked entries 0.
  void normalised_tile(std::int64_t i0, std::int64_t ni, std::int64_t j0, std::int64_t nj,
                       Real* tile) const;
  void subtract_fix(BlockView<const Real> x, BlockView<Real> y) const;

  Source m_source = Source::kAttention;
  std::int64_t m_T = 0;
  Fix m_fix = Fix::kNone;
  bool m_causal = false;
  // attention
  std::vector<Real> m_queries, m_keys;
  std::int64_t m_dk = 0;
  Real m_logit_scale = 1;
  // markov
  ModelSpec m_spec;
  std::uint64_t m_seed = 0;
  std::uint32_t m_index = 0;
  bool m_logits = true;  // entries are logits to softmax (attention, markov lognormal)
  // per row: the maximum of the logits (0 for markov weights) and 1 / the sum of the weights
  std::vector<Real> m_row_max, m_row_inv;
  FrobeniusSums m_sums;
};

}  // namespace gapbench::cpu
