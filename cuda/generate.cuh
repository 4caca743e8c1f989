// Batched generation of model matrices on the device, from the same Philox counter layout as the
// CPU backend (src/gapbench/entries.hpp), so (model, T, seed, index) gives the same matrix on both
// backends up to rounding.
//
// A batch of B matrices lies strided in one allocation: matrix b is the row-major T x T block at
// a + b * T * T. Alongside, each row's Frobenius sums (sum of squares, and of squares about 1/T)
// land in row_stats[(b * T + i) * 2 + {0, 1}], summed on the host in row order.
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

#include "gapbench/model.hpp"
#include "handles.cuh"

namespace gapbench::cuda {

// Device elements (of the model's Real) generate_batch needs per matrix besides the matrix: the
// attention factors; 0 for markov.
std::int64_t generation_workspace_elements(const ModelSpec& spec);

// Fills `a` with matrices `indices` of `spec` under `seed` (B = indices.size()), and their row
// sums into `row_stats` (2 * B * T doubles). `workspace` holds B * generation_workspace_elements.
// Queued on `stream` (the stream of `blas`); returns once the kernels have run (it waits for
// them before freeing its small device copy of `indices`).
template <typename Real>
void generate_batch(const ModelSpec& spec, std::uint64_t seed,
                    const std::vector<std::uint32_t>& indices, Real* a, double* row_stats,
                    Real* workspace, cudaStream_t stream, cublasHandle_t blas);

// The queries and keys of attention matrix `index` (the same as generate_batch's): Q row-major
// T x dk at workspace, K after it; `workspace` holds generation_workspace_elements(spec). Returns
// once they are computed.
template <typename Real>
void generate_attention_factors(const ModelSpec& spec, std::uint64_t seed, std::uint32_t index,
                                Real* workspace, cudaStream_t stream, cublasHandle_t blas);

}  // namespace gapbench::cuda
