#include <algorithm>
#include <type_traits>

#include "blas.cuh"
#include "gapbench/entries.hpp"
#include "logits_gemm.cuh"

namespace gapbench::cuda {
namespace {

constexpr int kThreads = 256;

unsigned blocks_for(std::int64_t n) {
  return static_cast<unsigned>(std::clamp<std::int64_t>((n + kThreads - 1) / kThreads, 1, 65535));
}

template <typename Real>
__global__ void round_inputs(LogitsPrecision logits, Real* x, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    x[i] = round_logits_input(x[i], logits);
  }
}

__global__ void to_bf16(const float* x, __nv_bfloat16* y, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    y[i] = __float2bfloat16_rn(x[i]);
  }
}

}  // namespace

template <typename Real>
void round_logits_inputs(LogitsPrecision logits, Real* x, std::int64_t n, cudaStream_t stream) {
  if (logits == LogitsPrecision::kFull || std::is_same_v<Real, double> || n == 0) return;
  round_inputs<Real><<<blocks_for(n), kThreads, 0, stream>>>(logits, x, n);
  GAPBENCH_CUDA_CHECK_LAUNCH();
}

DeviceBuffer<__nv_bfloat16> bf16_copy(const float* x, std::int64_t n, cudaStream_t stream) {
  DeviceBuffer<__nv_bfloat16> y(static_cast<std::size_t>(n));
  if (n > 0) {
    to_bf16<<<blocks_for(n), kThreads, 0, stream>>>(x, y.data(), n);
    GAPBENCH_CUDA_CHECK_LAUNCH();
  }
  return y;
}

template <typename Real>
void logits_gemm(cublasHandle_t blas, LogitsPrecision logits, std::int64_t m, std::int64_t n,
                 std::int64_t k, const Real* a, const __nv_bfloat16* a16, std::int64_t lda,
                 std::int64_t stride_a, const Real* b, const __nv_bfloat16* b16, std::int64_t ldb,
                 std::int64_t stride_b, Real* c, std::int64_t ldc, std::int64_t stride_c,
                 std::int64_t batch) {
  if constexpr (std::is_same_v<Real, float>) {
    if (logits != LogitsPrecision::kFull) {
      const float one = 1, zero = 0;
      const bool bf16 = logits == LogitsPrecision::kBf16;
      GAPBENCH_CUBLAS_CHECK(cublasGemmStridedBatchedEx_64(
          blas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, bf16 ? static_cast<const void*>(a16) : a,
          bf16 ? CUDA_R_16BF : CUDA_R_32F, lda, stride_a, bf16 ? static_cast<const void*>(b16) : b,
          bf16 ? CUDA_R_16BF : CUDA_R_32F, ldb, stride_b, &zero, c, CUDA_R_32F, ldc, stride_c,
          batch, bf16 ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT));
      return;
    }
  }
  blas::gemm_strided_batched(blas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, Real(1), a, lda, stride_a, b,
                             ldb, stride_b, Real(0), c, ldc, stride_c, batch);
}

template void round_logits_inputs<float>(LogitsPrecision, float*, std::int64_t, cudaStream_t);
template void round_logits_inputs<double>(LogitsPrecision, double*, std::int64_t, cudaStream_t);
template void logits_gemm<float>(cublasHandle_t, LogitsPrecision, std::int64_t, std::int64_t,
                                 std::int64_t, const float*, const __nv_bfloat16*, std::int64_t,
                                 std::int64_t, const float*, const __nv_bfloat16*, std::int64_t,
                                 std::int64_t, float*, std::int64_t, std::int64_t, std::int64_t);
template void logits_gemm<double>(cublasHandle_t, LogitsPrecision, std::int64_t, std::int64_t,
                                  std::int64_t, const double*, const __nv_bfloat16*, std::int64_t,
                                  std::int64_t, const double*, const __nv_bfloat16*, std::int64_t,
                                  std::int64_t, double*, std::int64_t, std::int64_t, std::int64_t);

}  // namespace gapbench::cuda
