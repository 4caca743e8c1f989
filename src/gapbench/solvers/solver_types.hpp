// Plain configuration and result structs of the solvers (RAFT style *_types.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gapbench/model.hpp"

namespace gapbench {

// exact: full SVD (LAPACK gesdd / cuSOLVER Xgesvd), or with --spectrum eigen every eigenvalue
// (LAPACK geev / cuSOLVER Xgeev, values only). lanczos, rsvd: iterative singular solvers, on any
// backend's LinearOperator. xgesvdr, gesvda: cuSOLVER's randomized and approximate SVDs (CUDA
// backend only). arnoldi: restarted Arnoldi (Krylov-Schur) for the top eigenvalues by modulus, on
// any LinearOperator. diagonal: the eigenvalues of a triangular matrix (causal attention) are its
// diagonal entries, read off in O(T).
enum class SolverKind { kExact, kLanczos, kRsvd, kXgesvdr, kGesvda, kArnoldi, kDiagonal };

std::string to_string(SolverKind v);
SolverKind parse_solver(const std::string& s, const std::string& flag = "--solver");

// Which spectrum a point measures: the singular values of the matrix analysed, or its
// eigenvalues (complex in general; the top k by modulus).
enum class Spectrum { kSingular, kEigen };
std::string to_string(Spectrum v);
Spectrum parse_spectrum(const std::string& s, const std::string& flag = "--spectrum");
// Whether `kind` computes values of `spectrum` (exact computes either).
bool solves_spectrum(SolverKind kind, Spectrum spectrum);

struct SolverOptions {
  SolverKind kind = SolverKind::kLanczos;
  int k = 4;                // number of top singular values
  double tol = 0;  // lanczos: residual_i <= tol * s_i; arnoldi: <= tol * s1; 0: default_tol
  int max_iter = 0;  // lanczos, arnoldi: block steps (0 = their default; docs/solvers.md)
  int block = 0;     // lanczos, arnoldi: vectors per block; 0 = the default
  int basis = 0;            // lanczos, arnoldi: basis size before a restart; 0 = their default
  bool all_values = false;  // exact: keep every value (singular values or eigenvalues)
  int oversample = 0;       // rsvd, xgesvdr: extra basis vectors p; 0 = default_oversample(k)
  int power_iters = 0;      // xgesvdr: power iterations; 0 = kDefaultPowerIters
  Spectrum spectrum = Spectrum::kSingular;
};

// True for the solvers that iterate to a residual tolerance (--tol, --max-iter apply).
bool is_iterative(SolverKind v);
// True for the solvers only the CUDA backend has.
bool is_cuda_only(SolverKind v);
inline constexpr int kDefaultPowerIters = 2;
// Oversampling of rsvd and xgesvdr: max(k, 8) extra vectors.
int default_oversample(int k);

// Default residual tolerance, relative to each singular value: 1e-8 in float64, 1e-4 in float32.
// A residual r moves a singular value by at most r, and by about r^2 / (distance to the rest of
// the spectrum) once it is separated, so 1e-8 gives values to ~1e-14 relative or better even for
// the bulk-edge clusters (relative gaps ~1e-3); float32 products carry about 1e-7 ||A|| of
// rounding, and s2 ~ 2c/sqrt(T) << ||A||.
double default_tol(Precision p);
inline constexpr int kDefaultMaxIter = 2000;
inline constexpr int kMaxK = 32;

struct SolveResult {
  // Singular: descending, the top k, or all of them (exact, all_values). Eigen: the real parts,
  // with `values_im` the imaginary parts, ordered by modulus, descending; a complex conjugate pair
  // is adjacent, positive imaginary part first, and never split (k that would split one takes the
  // pair whole, so an eigen result may hold k + 1 values).
  std::vector<double> values;
  std::vector<double> values_im;  // eigen only (empty for singular values)
  int iterations = 0;          // block steps (lanczos); 0 for exact
  int restarts = 0;
  std::int64_t passes = 0;  // passes over A (products with A or A^T of a block)
  // max_i ||(A v_i - s_i u_i, A^T u_i - s_i v_i)|| / s_i over the top k, recomputed from the
  // final vectors; 0 for exact (LAPACK's backward error is not reported per value).
  double residual = 0;
  double residual_estimate = 0;  // the same from the Lanczos relation, what convergence tested
  bool converged = true;
  double deflated = 0;  // --fix deflate: the s1 removed before solving (0 otherwise)
};

}  // namespace gapbench
