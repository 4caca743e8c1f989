// The matrix-free (fused) operator on the device: the CUDA counterpart of
// src/gapbench/cpu/fused_operator.hpp. It keeps Q and K (attention; generated on the device from
// the same counters) or nothing but the Philox counters (markov), and each row's softmax maximum
// and 1/sum from one streaming pass, and computes A X and A^T X tile by tile: a tile of logits
// (cuBLAS GEMM, Q_I K_J^T), one kernel that masks, exponentiates and normalises it (or draws the
// markov entries), and a cuBLAS GEMM of the tile with the block of vectors. Memory: the factors,
// O(T) statistics and one tile (tile_rows x tile_cols).
//
// The three-step form writes every tile once by the logits GEMM, reads and writes it in the
// normalising kernel and reads it in the product, about 4 passes over its bytes. For attention
// with dk <= 128 (fused_attention_fits) the operator takes the on-chip kernel instead
// (fused_attention.cuh: the tile stays in registers; Q^T and K^T are kept, no tile), unless
// FusedForm::kThreeStep is asked.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "fused_attention.cuh"
#include "gapbench/cuda_api.hpp"
#include "gapbench/device.hpp"
#include "gapbench/metrics.hpp"
#include "gapbench/model.hpp"
#include "gapbench/operator.hpp"
#include "handles.cuh"
#include "resources.cuh"

namespace gapbench::cuda {

template <typename Real>
class DeviceFusedOperator final : public MatrixFreeOperator<Real> {
 public:
  // Matrix `index` of `spec` under `seed`; tiles of at most tile_rows x tile_cols (smaller
  // tiles only in tests, to cross tile boundaries at small T).
  DeviceFusedOperator(const ModelSpec& spec, std::uint64_t seed, std::uint32_t index,
                      cudaStream_t stream, cublasHandle_t blas, std::int64_t tile_rows = 8192,
                      std::int64_t tile_cols = 8192, FusedForm form = FusedForm::kAuto);
  // The attention matrix of given factors (`run --qk`): Q then K, row-major spec.T x spec.dk
  // each, already rounded per spec.logits; spec gives beta, the causal mask and the fix.
  DeviceFusedOperator(const ModelSpec& spec, DeviceBuffer<Real> factors, cudaStream_t stream,
                      cublasHandle_t blas, std::int64_t tile_rows = 8192,
                      std::int64_t tile_cols = 8192, FusedForm form = FusedForm::kAuto);

  std::int64_t rows() const override { return m_spec.T; }
  std::int64_t cols() const override { return m_spec.T; }
  void apply(BlockView<const Real> x, BlockView<Real> y) const override;
  void apply_transpose(BlockView<const Real> x, BlockView<Real> y) const override;

  FrobeniusSums sums() const override { return m_sums; }
  // Attention's A_ii from the factors and the row statistics, O(T dk): causal attention's
  // eigenvalues (--solver diagonal).
  std::vector<double> diagonal() const override;

  // Device bytes the operator holds for `spec` at its largest, while it is built (factors,
  // statistics, one tile or the transposed factors).
  static std::int64_t device_bytes(const ModelSpec& spec, std::int64_t tile_rows = 8192,
                                   std::int64_t tile_cols = 8192,
                                   FusedForm form = FusedForm::kAuto);

  // Whether `spec` in `form` takes the on-chip kernel.
  static bool on_chip(const ModelSpec& spec, FusedForm form);

 private:
  // Both public constructors: `given` factors, or (empty) those of matrix `index` of `spec`.
  DeviceFusedOperator(const ModelSpec& spec, std::uint64_t seed, std::uint32_t index,
                      DeviceBuffer<Real> given, cudaStream_t stream, cublasHandle_t blas,
                      std::int64_t tile_rows, std::int64_t tile_cols, FusedForm form);

  // Queues the normalised tile of A for rows [i0, i0 + ni) and columns [j0, j0 + nj) into
  // m_tile (column-major nj x ni: row i of the tile is contiguous); `raw_only` leaves the
  // scaled logits (or markov raw values) instead, for the statistics pass.
  void make_tile(std::int64_t i0, std::int64_t ni, std::int64_t j0, std::int64_t nj,
                 bool raw_only) const;
  void subtract_fix(BlockView<const Real> x, BlockView<Real> y) const;
  // The three-step statistics pass: every (causal) tile once, raw, folded into `stats`.
  void tile_stats(MaxSum* stats) const;
  // The on-chip kernel's view of the operator (factors, statistics); x, y and stats unset.
  FusedAttentionArgs<Real> attention_args() const;
  void on_chip_product(BlockView<const Real> x, BlockView<Real> y, bool transpose) const;

  ModelSpec m_spec;
  std::uint64_t m_seed;
  std::uint32_t m_index;
  cudaStream_t m_stream;
  cublasHandle_t m_blas;
  std::int64_t m_tile_rows, m_tile_cols;
  bool m_on_chip;  // the on-chip kernel (fused_attention.cuh), not the three-step tiles
  bool m_logits;
  bool m_causal;  // attention's causal mask (markov has none)
  Real m_logit_scale = 1;
  DeviceBuffer<Real> m_factors;             // Q (T x dk) then K (T x dk), row-major; attention only
  DeviceBuffer<__nv_bfloat16> m_factors16;  // their BF16 copies for --logits bf16
  DeviceBuffer<Real> m_factors_t;           // on chip: Q^T (dk x T) then K^T, in place of those
  DeviceBuffer<Real> m_row_max;             // per row: the maximum logit (0 for markov weights)
  DeviceBuffer<Real> m_row_inv;             // per row: 1 / the sum of the weights
  DeviceBuffer<Real> m_tile;                // one tile (three-step form)
  mutable DeviceBuffer<double> m_scratch;   // per column of a block: its sum (the fix)
  FrobeniusSums m_sums;
};

}  // namespace gapbench::cuda
