// Precision-generic wrappers over CBLAS (OpenBLAS) and LAPACKE used by the CPU backend, so that
// templated code calls one name for float and double. Column-major unless a call says otherwise.
#pragma once

#include <cblas.h>
#include <lapacke.h>

#include <cstdint>

extern "C" {
void openblas_set_num_threads(int);
int openblas_get_num_threads(void);
}

namespace gapbench::cpu {

// OpenBLAS single-threaded while it lives, for BLAS calls made inside OpenMP loops (each thread
// computing its own block): OpenBLAS's own threads would oversubscribe the cores, and its
// rounding would depend on how they split the work.
class SerialBlas {
 public:
  SerialBlas() : m_threads(openblas_get_num_threads()) { openblas_set_num_threads(1); }
  ~SerialBlas() { openblas_set_num_threads(m_threads); }
  SerialBlas(const SerialBlas&) = delete;
  SerialBlas& operator=(const SerialBlas&) = delete;

 private:
  int m_threads;
};

}  // namespace gapbench::cpu

namespace gapbench::cpu::blas {

inline void gemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, std::int64_t m,
                 std::int64_t n, std::int64_t k, float alpha, const float* a, std::int64_t lda,
                 const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  cblas_sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline void gemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, std::int64_t m,
                 std::int64_t n, std::int64_t k, double alpha, const double* a, std::int64_t lda,
                 const double* b, std::int64_t ldb, double beta, double* c, std::int64_t ldc) {
  cblas_dgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

inline void gemv(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, std::int64_t m, std::int64_t n, float alpha,
                 const float* a, std::int64_t lda, const float* x, float beta, float* y) {
  cblas_sgemv(order, ta, m, n, alpha, a, lda, x, 1, beta, y, 1);
}
inline void gemv(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, std::int64_t m, std::int64_t n,
                 double alpha, const double* a, std::int64_t lda, const double* x, double beta,
                 double* y) {
  cblas_dgemv(order, ta, m, n, alpha, a, lda, x, 1, beta, y, 1);
}

inline void scal(std::int64_t n, float alpha, float* x) { cblas_sscal(n, alpha, x, 1); }
inline void scal(std::int64_t n, double alpha, double* x) { cblas_dscal(n, alpha, x, 1); }

// C (n x n, the `uplo` triangle) = A A^T or A^T A (trans), alpha 1 and beta 0.
inline void syrk(CBLAS_ORDER order, CBLAS_UPLO uplo, CBLAS_TRANSPOSE trans, std::int64_t n,
                 std::int64_t k, const float* a, std::int64_t lda, float* c, std::int64_t ldc) {
  cblas_ssyrk(order, uplo, trans, n, k, 1.0f, a, lda, 0.0f, c, ldc);
}
inline void syrk(CBLAS_ORDER order, CBLAS_UPLO uplo, CBLAS_TRANSPOSE trans, std::int64_t n,
                 std::int64_t k, const double* a, std::int64_t lda, double* c, std::int64_t ldc) {
  cblas_dsyrk(order, uplo, trans, n, k, 1.0, a, lda, 0.0, c, ldc);
}

// QR of the column-major m x n matrix a (m >= n), then its first k columns of Q in place.
inline lapack_int geqrf(std::int64_t m, std::int64_t n, float* a, std::int64_t lda, float* tau) {
  return LAPACKE_sgeqrf(LAPACK_COL_MAJOR, m, n, a, lda, tau);
}
inline lapack_int geqrf(std::int64_t m, std::int64_t n, double* a, std::int64_t lda, double* tau) {
  return LAPACKE_dgeqrf(LAPACK_COL_MAJOR, m, n, a, lda, tau);
}
inline lapack_int orgqr(std::int64_t m, std::int64_t n, std::int64_t k, float* a, std::int64_t lda,
                        const float* tau) {
  return LAPACKE_sorgqr(LAPACK_COL_MAJOR, m, n, k, a, lda, tau);
}
inline lapack_int orgqr(std::int64_t m, std::int64_t n, std::int64_t k, double* a,
                        std::int64_t lda, const double* tau) {
  return LAPACKE_dorgqr(LAPACK_COL_MAJOR, m, n, k, a, lda, tau);
}

// Singular values only (jobz = 'N') of a row-major m x n matrix, destroyed on return. The
// buffer is handed to LAPACK as the column-major n x m matrix A^T, which has the same singular
// values: LAPACKE's row-major path would first make a transposed copy (T^2 more memory).
inline lapack_int gesdd_values(std::int64_t m, std::int64_t n, float* a, float* s) {
  return LAPACKE_sgesdd(LAPACK_COL_MAJOR, 'N', n, m, a, n, s, nullptr, 1, nullptr, 1);
}
inline lapack_int gesdd_values(std::int64_t m, std::int64_t n, double* a, double* s) {
  return LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', n, m, a, n, s, nullptr, 1, nullptr, 1);
}

// Eigenvalues only (wr + i wi) of the row-major n x n matrix a (overwritten): LAPACK reads it as
// its transpose, which has the same eigenvalues.
inline lapack_int geev_values(std::int64_t n, float* a, float* wr, float* wi) {
  return LAPACKE_sgeev(LAPACK_COL_MAJOR, 'N', 'N', n, a, n, wr, wi, nullptr, 1, nullptr, 1);
}
inline lapack_int geev_values(std::int64_t n, double* a, double* wr, double* wi) {
  return LAPACKE_dgeev(LAPACK_COL_MAJOR, 'N', 'N', n, a, n, wr, wi, nullptr, 1, nullptr, 1);
}

}  // namespace gapbench::cpu::blas
