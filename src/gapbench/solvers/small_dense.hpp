// Host linear algebra on the small projected matrices of the iterative solvers (float64,
// column-major, LAPACKE). Sizes are at most a few hundred.
#pragma once

#include <cstdint>
#include <vector>

namespace gapbench::detail {

struct SmallSvd {
  std::vector<double> left;    // n x n, column i is the left singular vector of values[i]
  std::vector<double> values;  // descending
  std::vector<double> right;   // n x n, column i is the right singular vector
};

// Full SVD of the n x n column-major matrix h.
SmallSvd small_svd(const std::vector<double>& h, std::int64_t n);

// Eigenvalues (descending) and eigenvectors (columns) of the symmetric n x n matrix g.
void small_symmetric_eig(const std::vector<double>& g, std::int64_t n, std::vector<double>& values,
                         std::vector<double>& vectors);

// The largest eigenvalue of the symmetric n x n matrix g (full storage; LAPACK ?syevd, values
// only).
double small_symmetric_top_eigenvalue(std::vector<double> g, std::int64_t n);

// A real Schur form S = Q T Q^T of a general n x n matrix, its diagonal blocks ordered by the
// modulus of their eigenvalues, descending (as far as LAPACK ?trexc can swap them: a swap it
// refuses as too ill-conditioned leaves that block where it is).
struct SmallSchur {
  std::vector<double> t;   // n x n quasi-upper-triangular, column-major; 2 x 2 blocks standardised
  std::vector<double> q;   // n x n orthogonal, column-major
  std::vector<double> re;  // eigenvalue i: re[i] + i im[i], in the order of T's diagonal; a
  std::vector<double> im;  // 2 x 2 block gives a conjugate pair, positive imaginary part first
};

// Sorted real Schur form of the n x n column-major matrix s (LAPACK dgees, then dtrexc; one
// BLAS thread, so the result does not depend on the thread count). `sorted` < n orders only
// the leading blocks: positions 0 .. sorted - 1 (a 2 x 2 block across the end taken whole) hold
// the blocks of largest modulus, descending, and the rest stay in dgees's order, which saves
// the swaps of the tail (a restart keeps only the leading block).
SmallSchur small_schur_by_modulus(const std::vector<double>& s, std::int64_t n,
                                  std::int64_t sorted = -1);

// The largest singular value of the rows x cols column-major matrix h (leading dimension ld):
// sqrt of the top eigenvalue of h^T h (BLAS dsyrk, LAPACK dsyevd, one thread).
double small_top_singular_value(const double* h, std::int64_t rows, std::int64_t cols,
                                std::int64_t ld);

// Right eigenvectors of S = Q T Q^T from its Schur form (LAPACK dtrevc, back-transformed by Q):
// n x n column-major; column i is the eigenvector of a real eigenvalue i, and columns i, i + 1
// the real and imaginary parts of the eigenvector of re[i] + i im[i] for a pair (im[i] > 0).
// Not normalised.
std::vector<double> small_schur_eigenvectors(const SmallSchur& schur, std::int64_t n);

// Every eigenvalue of the n x n column-major matrix a (LAPACK dgeev, values only), unsorted.
void small_eigenvalues(std::vector<double> a, std::int64_t n, std::vector<double>& re,
                       std::vector<double>& im);

}  // namespace gapbench::detail
