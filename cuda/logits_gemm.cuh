// The logits GEMM of attention (column-major C = A^T B, per batch entry) at the precision
// --logits asks: float32 or float64 CUDA-core GEMM (full), TF32 tensor cores, or BF16 tensor
// cores on BF16 copies of the inputs, accumulating in float32 either way. The inputs are first
// rounded in place as the tensor cores read them (round_logits_inputs), so the CPU backend,
// which rounds the same way (entries.hpp), computes the same logits up to summation order.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "gapbench/model.hpp"
#include "handles.cuh"
#include "resources.cuh"

namespace gapbench::cuda {

// Rounds n values in place to the mantissa of `logits` (no-op for full or float64).
template <typename Real>
void round_logits_inputs(LogitsPrecision logits, Real* x, std::int64_t n, cudaStream_t stream);

// BF16 copies of n float32 values (exact when they were rounded by round_logits_inputs).
DeviceBuffer<__nv_bfloat16> bf16_copy(const float* x, std::int64_t n, cudaStream_t stream);

// C (m x n, ldc, stride_c) = A^T (A: k x m, lda, stride_a) B (k x n, ldb, stride_b) for `batch`
// entries. For kBf16, a16 and b16 are BF16 copies of a and b (bf16_copy), else unused.
template <typename Real>
void logits_gemm(cublasHandle_t blas, LogitsPrecision logits, std::int64_t m, std::int64_t n,
                 std::int64_t k, const Real* a, const __nv_bfloat16* a16, std::int64_t lda,
                 std::int64_t stride_a, const Real* b, const __nv_bfloat16* b16, std::int64_t ldb,
                 std::int64_t stride_b, Real* c, std::int64_t ldc, std::int64_t stride_c,
                 std::int64_t batch);

}  // namespace gapbench::cuda
