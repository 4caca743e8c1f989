// cuBLAS calls overloaded on float and double, with 64-bit sizes (the *_64 API: T * T passes 2^31
// at T = 46,341). Matrices are column-major as cuBLAS sees them; a row-major T x T matrix A is the
// column-major A^T with ld = T.
#pragma once

#include <cublas_v2.h>

#include <cstdint>

#include "handles.cuh"

namespace gapbench::cuda::blas {

inline void gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, std::int64_t m,
                 std::int64_t n, std::int64_t k, float alpha, const float* a, std::int64_t lda,
                 const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  GAPBENCH_CUBLAS_CHECK(cublasSgemm_64(h, ta, tb, m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc));
}
inline void gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, std::int64_t m,
                 std::int64_t n, std::int64_t k, double alpha, const double* a, std::int64_t lda,
                 const double* b, std::int64_t ldb, double beta, double* c, std::int64_t ldc) {
  GAPBENCH_CUBLAS_CHECK(cublasDgemm_64(h, ta, tb, m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc));
}

inline void gemv(cublasHandle_t h, cublasOperation_t t, std::int64_t m, std::int64_t n, float alpha,
                 const float* a, std::int64_t lda, const float* x, float beta, float* y) {
  GAPBENCH_CUBLAS_CHECK(cublasSgemv_64(h, t, m, n, &alpha, a, lda, x, 1, &beta, y, 1));
}
inline void gemv(cublasHandle_t h, cublasOperation_t t, std::int64_t m, std::int64_t n,
                 double alpha, const double* a, std::int64_t lda, const double* x, double beta,
                 double* y) {
  GAPBENCH_CUBLAS_CHECK(cublasDgemv_64(h, t, m, n, &alpha, a, lda, x, 1, &beta, y, 1));
}

inline void gemm_strided_batched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
                                 std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                                 const float* a, std::int64_t lda, std::int64_t stride_a,
                                 const float* b, std::int64_t ldb, std::int64_t stride_b,
                                 float beta, float* c, std::int64_t ldc, std::int64_t stride_c,
                                 std::int64_t batch) {
  GAPBENCH_CUBLAS_CHECK(cublasSgemmStridedBatched_64(h, ta, tb, m, n, k, &alpha, a, lda, stride_a,
                                                     b, ldb, stride_b, &beta, c, ldc, stride_c,
                                                     batch));
}
inline void gemm_strided_batched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
                                 std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
                                 const double* a, std::int64_t lda, std::int64_t stride_a,
                                 const double* b, std::int64_t ldb, std::int64_t stride_b,
                                 double beta, double* c, std::int64_t ldc, std::int64_t stride_c,
                                 std::int64_t batch) {
  GAPBENCH_CUBLAS_CHECK(cublasDgemmStridedBatched_64(h, ta, tb, m, n, k, &alpha, a, lda, stride_a,
                                                     b, ldb, stride_b, &beta, c, ldc, stride_c,
                                                     batch));
}

inline void gemv_strided_batched(cublasHandle_t h, cublasOperation_t t, std::int64_t m,
                                 std::int64_t n, float alpha, const float* a, std::int64_t lda,
                                 std::int64_t stride_a, const float* x, std::int64_t stride_x,
                                 float beta, float* y, std::int64_t stride_y, std::int64_t batch) {
  GAPBENCH_CUBLAS_CHECK(cublasSgemvStridedBatched_64(h, t, m, n, &alpha, a, lda, stride_a, x, 1,
                                                     stride_x, &beta, y, 1, stride_y, batch));
}
inline void gemv_strided_batched(cublasHandle_t h, cublasOperation_t t, std::int64_t m,
                                 std::int64_t n, double alpha, const double* a, std::int64_t lda,
                                 std::int64_t stride_a, const double* x, std::int64_t stride_x,
                                 double beta, double* y, std::int64_t stride_y,
                                 std::int64_t batch) {
  GAPBENCH_CUBLAS_CHECK(cublasDgemvStridedBatched_64(h, t, m, n, &alpha, a, lda, stride_a, x, 1,
                                                     stride_x, &beta, y, 1, stride_y, batch));
}

// C (n x n, column-major, the `uplo` triangle) = op(A) op(A)^T: A A^T (N) or A^T A (T).
inline void syrk(cublasHandle_t h, cublasFillMode_t uplo, cublasOperation_t trans, std::int64_t n,
                 std::int64_t k, const float* a, std::int64_t lda, float* c, std::int64_t ldc) {
  const float one = 1, zero = 0;
  GAPBENCH_CUBLAS_CHECK(cublasSsyrk_64(h, uplo, trans, n, k, &one, a, lda, &zero, c, ldc));
}
inline void syrk(cublasHandle_t h, cublasFillMode_t uplo, cublasOperation_t trans, std::int64_t n,
                 std::int64_t k, const double* a, std::int64_t lda, double* c, std::int64_t ldc) {
  const double one = 1, zero = 0;
  GAPBENCH_CUBLAS_CHECK(cublasDsyrk_64(h, uplo, trans, n, k, &one, a, lda, &zero, c, ldc));
}

inline void scal(cublasHandle_t h, std::int64_t n, float alpha, float* x) {
  GAPBENCH_CUBLAS_CHECK(cublasSscal_64(h, n, &alpha, x, 1));
}
inline void scal(cublasHandle_t h, std::int64_t n, double alpha, double* x) {
  GAPBENCH_CUBLAS_CHECK(cublasDscal_64(h, n, &alpha, x, 1));
}

}  // namespace gapbench::cuda::blas
