// The fused operator's on-chip kernel for attention (FlashAttention's form): one kernel per pass
// that computes a tile of logits from Q and K in shared memory, turns it into softmax weights in
// registers and multiplies them into the block of vectors, so no entry of A is ever written to
// memory. The three-step form of fused_device.cu (a cuBLAS logits GEMM, a normalising kernel, a
// cuBLAS product) moves each tile through memory about four times; this one reads only Q, K and
// X.
//
// A thread block owns 64 outputs (rows i of A X, or columns j of A^T X) and streams the other
// index in steps of 64; each of its 16 x 16 threads computes a 4 x 4 patch of logits per step
// (dk fused multiply-adds per entry, SIMT in Real; with `tensor_cores` the block's 64 x 64 logits
// come from TF32 tensor cores instead, for --logits tf32 and bf16: their inputs are already
// rounded to TF32 or to BF16, which TF32 holds exactly, so products are exact and only the
// accumulation, in the tensor cores' order and rounding, differs from the CPU's). The passes:
//   kStats             the softmax statistics of each row (max, sum, sum of squares of
//                      exp(x - max)) over its valid entries, as the CPU's online softmax;
//   kProduct           Y = A X: y_i = inv_i sum_j exp(x_ij - max_i) X_j;
//   kTransposeProduct  Y = A^T X: y_j = sum_i exp(x_ij - max_i) inv_i X_i.
// x_ij = logit_scale q_i . k_j; the causal mask keeps j <= i. The fix's rank-one term is the
// caller's (fused_device.cu). Blocks of more than kFusedKernelVectors vectors go in chunks.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "block_width.cuh"
#include "softmax_stats.cuh"

namespace gapbench::cuda {

// Largest dk (Q and K tiles of 64 x dk in shared memory) and block width the kernel takes.
constexpr int kFusedKernelMaxDk = 128;
constexpr int kFusedKernelVectors = kMaxTemplatedWidth;

enum class FusedPass { kStats, kProduct, kTransposeProduct };

template <typename Real>
struct FusedAttentionArgs {
  const Real* qt = nullptr;  // Q^T: dk x T, row-major (entry (d, i) at d T + i)
  const Real* kt = nullptr;  // K^T: dk x T
  std::int64_t T = 0;
  int dk = 0;
  Real logit_scale = 1;
  bool causal = false;
  const Real* row_max = nullptr;  // kProduct, kTransposeProduct: per row i
  const Real* row_inv = nullptr;  // 1 / the row's sum
  const Real* x = nullptr;        // T x b, column-major, leading dimension ldx
  std::int64_t ldx = 0;
  Real* y = nullptr;  // T x b, column-major, leading dimension ldy (overwritten)
  std::int64_t ldy = 0;
  int b = 0;
  MaxSum* stats = nullptr;    // kStats: per row i (overwritten)
  bool tensor_cores = false;  // float32 only: the logits on TF32 tensor cores
};

// Whether the kernel takes dk on the current device: dk <= kFusedKernelMaxDk and its tiles within
// the device's shared memory per block (float64 at dk = 128 needs 133 KiB: Hopper's 227 KiB
// take it, smaller parts may not); tensor cores only in float32 from architecture 80.
template <typename Real>
bool fused_attention_fits(int dk, bool tensor_cores);

// Queues one pass on `stream`.
template <typename Real>
void fused_attention_pass(FusedPass pass, const FusedAttentionArgs<Real>& args,
                          cudaStream_t stream);

}  // namespace gapbench::cuda
