// Batched generation of model matrices on the device, from the same Philox counter layout as the
// CPU backend (src/gapbench/entries.hpp) and the same recipe for attention's factors
// (src/gapbench/factors.hpp), so (model, T, seed, index) gives the same matrix on both backends
// up to rounding.
//
// A batch of B matrices lies strided in one allocation: matrix b is the row-major T x T block at
// a + b * T * T. Alongside, each row's sums of squares (row_stats.hpp, RowSquares) land in
// row_stats[b * T + i], added on the host in row order (sum_rows).
//
//   markov:    one fused kernel per batch: each thread block owns a row, draws it twice from the
//              counter-based generator (once for the softmax maximum and sum, once to write), and
//              writes the normalised row once: the matrix is written once and never read.
//   attention: Philox kernels for the factors (X, W_Q, W_K or Q, K directly), cuBLAS
//              strided-batched GEMMs for Q = X W_Q, K = X W_K and the logits Q K^T, then one
//              row-softmax kernel (scale, causal mask, max, exp, sum, normalise, fix) that keeps
//              the row in shared memory when it fits, so the logits are read once.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "gapbench/factors.hpp"
#include "gapbench/model.hpp"
#include "gapbench/row_stats.hpp"
#include "handles.cuh"

namespace gapbench::cuda {

// Fills `a` with matrices `indices` of `spec` under `seed` (B = indices.size()), and their rows'
// sums into `row_stats` (B * T). `workspace` holds B * attention_factor_elements(spec). Queued on
// `stream` (the stream of `blas`); returns once the kernels have run (it waits for them before
// freeing its small device copy of `indices`).
template <typename Real>
void generate_batch(const ModelSpec& spec, std::uint64_t seed,
                    const std::vector<std::uint32_t>& indices, Real* a, RowSquares* row_stats,
                    Real* workspace, cudaStream_t stream, cublasHandle_t blas);

// The queries and keys of attention matrix `index` (the same as generate_batch's): Q row-major
// T x dk at workspace, K after it; `workspace` holds attention_factor_elements(spec). Returns
// once they are computed.
template <typename Real>
void generate_attention_factors(const ModelSpec& spec, std::uint64_t seed, std::uint32_t index,
                                Real* workspace, cudaStream_t stream, cublasHandle_t blas);

// The attention matrix of given factors (Q, K row-major T x dk) into `a` (row-major T x T):
// the logits GEMM (at the run's precision: factors rounded for --logits multiply exactly, so only
// the order of the sums differs from tensor cores) and the row softmax of generate_batch, with
// logit_scale, the causal mask and the fix; the rows' sums into row_stats (T). Queued on
// `stream`.
template <typename Real>
void attention_of_factors(std::int64_t T, std::int64_t dk, const Real* queries, const Real* keys,
                          Real logit_scale, bool causal, Fix fix, Real* a, RowSquares* row_stats,
                          cudaStream_t stream, cublasHandle_t blas);

// out (row-major draw.rows x draw.cols) = draw.scale times standard normals of matrix `index`
// from draw.stream (the CPU's gaussian_matrix). Queued on `stream`.
template <typename Real>
void fill_gaussian(const FactorDraw& draw, std::uint64_t seed, std::uint32_t index, Real* out,
                   cudaStream_t stream);

}  // namespace gapbench::cuda
