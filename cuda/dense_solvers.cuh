// cuSOLVER's SVDs on dense device matrices (values only), the GPU's reference and peers of the
// iterative solvers:
//   exact    cusolverDnXgesvd (64-bit API): the full SVD, the GPU reference (minutes at T = 32768)
//   xgesvdr  cusolverDnXgesvdr (64-bit API): the vendor's randomized top-k (rank k, oversampling
//            p, power iterations)
//   exact, --spectrum eigen: cusolverDnXgeev (64-bit API), values only, the GPU's eigen reference
//   gesvda   cusolverDn?gesvdaStridedBatched: approximate SVD of a whole batch from the eigen-
//            decomposition of A^T A; 32-bit sizes only, so T is capped at kGesvdaMaxT
// Each takes a row-major T x T matrix, which is the column-major A^T: the same singular values.
// exact and xgesvdr overwrite the matrix.
#pragma once

#include <cstdint>
#include <vector>

#include "gapbench/solvers/solver_types.hpp"
#include "handles.cuh"

namespace gapbench::cuda {

// gesvda's sizes are int: T * T (and its workspace) must stay below 2^31.
inline constexpr std::int64_t kGesvdaMaxT = 46340;

// Device bytes each call below allocates for one matrix (gesvda: for `batch` matrices).
template <typename Real>
std::int64_t exact_workspace_bytes(const CusolverHandle& solver, std::int64_t T);
template <typename Real>
std::int64_t xgesvdr_workspace_bytes(const CusolverHandle& solver, std::int64_t T, int k, int p,
                                     int iters);
template <typename Real>
std::int64_t gesvda_workspace_bytes(const CusolverHandle& solver, std::int64_t T, int k, int batch);

// Replaces the columns of the column-major m x n matrix a (m >= n) by an orthonormal basis of
// their span: Q of its QR (cuSOLVER geqrf and orgqr; int sizes). Queued on the solver's stream;
// returns once done.
template <typename Real>
void orthonormalize_columns(const CusolverHandle& solver, Real* a, std::int64_t m, std::int64_t n);

template <typename Real>
SolveResult exact_values(const CusolverHandle& solver, Real* a, std::int64_t T, int k,
                         bool all_values);
// Every eigenvalue of the row-major T x T matrix a (the column-major A^T: the same eigenvalues)
// by cusolverDnXgeev, values only (overwrites a); the top k by modulus, or all, in the order of
// eigen_values.hpp.
template <typename Real>
std::int64_t exact_eigen_workspace_bytes(const CusolverHandle& solver, std::int64_t T);
template <typename Real>
SolveResult exact_eigenvalues(const CusolverHandle& solver, Real* a, std::int64_t T, int k,
                              bool all_values);
template <typename Real>
SolveResult xgesvdr_values(const CusolverHandle& solver, Real* a, std::int64_t T, int k, int p,
                           int iters);
// One result per matrix of the batch at a (stride T * T). residual_estimate is cuSOLVER's
// h_R_nrmF for that matrix and residual the same relative to s1.
template <typename Real>
std::vector<SolveResult> gesvda_values(const CusolverHandle& solver, const Real* a, std::int64_t T,
                                       int k, int batch);

}  // namespace gapbench::cuda
