// The device interface: what a backend (the CPU in src/gapbench/cpu/, a CUDA GPU in cuda/) offers
// to the one measurement loop above it (backend.hpp) and to `propagate`. A device offers stages,
// each over its own memory:
//
//   generate   a batch of dense model matrices with their Frobenius sums
//   operators  a dense matrix or a matrix-free (fused) model matrix as a LinearOperator, and the
//              block operations the iterative solvers need (operator.hpp)
//   solvers    the dense solvers it has (exact; on CUDA also xgesvdr and the batched gesvda)
//   memory     its budget and the bytes each stage takes, for the one memory plan
//   algebra    row-major dense linear algebra for signal propagation (GEMM, LayerNorm, norms)
//
// Everything above it (solvers, the measurement loop, sweeps, propagate, the CLI) is written once.
// Stages come per precision (Stages<float>, Stages<double>); a device implements them once as a
// template. Matrices are row-major; blocks of vectors column-major (operator.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gapbench/error.hpp"
#include "gapbench/metrics.hpp"
#include "gapbench/model.hpp"
#include "gapbench/operator.hpp"
#include "gapbench/point.hpp"
#include "gapbench/rng.hpp"
#include "gapbench/solvers/solver_types.hpp"

namespace gapbench {

// A row-major rows x cols matrix in a device's memory: move-only, no implicit copies (to the host
// by Stages::download, from it by Stages::upload).
template <typename Real>
class Matrix {
 public:
  Matrix() = default;
  Matrix(std::shared_ptr<Real> storage, std::int64_t rows, std::int64_t cols)
      : m_storage(std::move(storage)), m_rows(rows), m_cols(cols) {}
  Matrix(const Matrix&) = delete;
  Matrix& operator=(const Matrix&) = delete;
  Matrix(Matrix&&) noexcept = default;
  Matrix& operator=(Matrix&&) noexcept = default;

  // A matrix over memory the caller keeps (not freed with it).
  static Matrix borrow(const Real* data, std::int64_t rows, std::int64_t cols) {
    return Matrix(std::shared_ptr<Real>(const_cast<Real*>(data), [](Real*) {}), rows, cols);
  }

  Real* data() const { return m_storage.get(); }
  std::int64_t rows() const { return m_rows; }
  std::int64_t cols() const { return m_cols; }
  std::int64_t size() const { return m_rows * m_cols; }

 private:
  std::shared_ptr<Real> m_storage;
  std::int64_t m_rows = 0;
  std::int64_t m_cols = 0;
};

// A batch of T x T matrices, one after another (matrix b at matrix(b)), with each one's
// Frobenius sums.
template <typename Real>
struct DenseBatch {
  Matrix<Real> matrices;  // (size * T) x T
  std::int64_t T = 0;
  std::vector<FrobeniusSums> sums;

  std::size_t size() const { return sums.size(); }
  Real* matrix(std::size_t b) const {
    return matrices.data() + static_cast<std::int64_t>(b) * T * T;
  }
};

// A model matrix that is never stored: its products regenerate it; its Frobenius sums come from
// the row statistics computed when it was made.
template <typename Real>
class MatrixFreeOperator : public LinearOperator<Real> {
 public:
  virtual FrobeniusSums sums() const = 0;
  // The diagonal of A (before the fix), from the factors and row statistics in O(T dk): the
  // eigenvalues of causal attention (--solver diagonal). Devices without it throw Error; the
  // Backend refuses the combination first (Device::fused_diagonal).
  virtual std::vector<double> diagonal() const {
    throw Error("this device's fused operator has no diagonal");
  }
};

// The attention factors of one matrix given by the user (`run --qk`): Q and K row-major T x dk in
// the device's memory, with the model that says how A is formed from them (beta, causal, fix,
// logits; T and dk).
template <typename Real>
struct GivenFactors {
  ModelSpec model;
  Matrix<Real> queries;
  Matrix<Real> keys;
};

// The sums of a Gram matrix G = X X^T (or X^T X): trace = ||X||_F^2 = sum s_i^2 and
// ||G||_F^2 = sum s_i^4.
struct GramStats {
  double trace = 0;
  double sum_sq = 0;
};

// The token statistics of X (rows are tokens): the mean cosine between distinct tokens and
// ||X - 1 mean^T||_F / ||X||_F (`trace` = ||X||_F^2, given).
struct TokenStats {
  double mean_cosine = 0;
  double centered_ratio = 0;
};

template <typename Real>
class Stages {
 public:
  virtual ~Stages() = default;

  // ---- memory --------------------------------------------------------------------------------
  virtual Matrix<Real> allocate(std::int64_t rows, std::int64_t cols) = 0;
  virtual Matrix<Real> upload(const Real* host, std::int64_t rows, std::int64_t cols) = 0;
  virtual std::vector<Real> download(const Real* data, std::int64_t count) = 0;
  std::vector<Real> download(const Matrix<Real>& m) { return download(m.data(), m.size()); }
  // A new matrix holding the rows x cols elements at `data` (the device's memory).
  virtual Matrix<Real> copy(const Real* data, std::int64_t rows, std::int64_t cols) = 0;
  // The sums of a given row-major T x T matrix A at `a` (the device's memory), in float64:
  // frob_perp_sq = ||A - (1/T) 1 1^T||_F^2, frob_sq that of the matrix analysed (A - (1/T) 1 1^T
  // with `center`, else A). `out` (null: nothing is written; it may be `a`) receives the matrix
  // analysed, each entry rounded once from float64.
  virtual FrobeniusSums given_matrix(const Real* a, std::int64_t T, bool center, Real* out) = 0;

  // ---- generation ----------------------------------------------------------------------------
  // Matrices `indices` of `spec` under `seed` (the same matrices on every device, to rounding).
  virtual DenseBatch<Real> generate(const ModelSpec& spec, std::uint64_t seed,
                                    const std::vector<std::uint32_t>& indices) = 0;
  // a (T x T) = softmax_row(logit_scale Q K^T) under the causal mask when `causal`, then the fix;
  // Q, K row-major T x dk. Returns the Frobenius sums.
  virtual FrobeniusSums attention_from_factors(const Matrix<Real>& queries,
                                               const Matrix<Real>& keys, Real logit_scale,
                                               bool causal, Fix fix, Real* a) = 0;
  // Rounds factors as the logits GEMM's tensor cores read them (--logits; full: unchanged).
  virtual void round_logits_inputs(LogitsPrecision logits, Matrix<Real>& factor) = 0;

  // ---- operators -----------------------------------------------------------------------------
  // The dense row-major rows x cols matrix at `a` (the device's memory; not owned).
  virtual std::unique_ptr<LinearOperator<Real>> dense_operator(const Real* a, std::int64_t rows,
                                                               std::int64_t cols) = 0;
  // Matrix `index` of `spec` under `seed`, matrix-free.
  virtual std::unique_ptr<MatrixFreeOperator<Real>> fused_operator(const ModelSpec& spec,
                                                                   std::uint64_t seed,
                                                                   std::uint32_t index) = 0;
  // The attention matrix of given factors, matrix-free (the factors are taken over).
  virtual std::unique_ptr<MatrixFreeOperator<Real>> fused_operator(GivenFactors<Real> factors) = 0;
  virtual BlockOps<Real>& block_ops() = 0;

  // ---- dense solvers -------------------------------------------------------------------------
  // The values of one matrix by a dense solver (exact; xgesvdr on CUDA); `a` is overwritten.
  virtual SolveResult solve_dense(const SolverOptions& options, Real* a, std::int64_t T) = 0;
  // The diagonal of the row-major T x T matrix at `a`, in float64 on the host.
  virtual std::vector<double> diagonal(const Real* a, std::int64_t T) = 0;
  // A batched dense solver (Device::batched_solver): one result per matrix of `batch`.
  virtual std::vector<SolveResult> solve_dense_batch(const SolverOptions& options,
                                                     const DenseBatch<Real>& batch) = 0;

  // ---- memory plan: bytes of the device's memory each stage takes ----------------------------
  // One dense matrix of `spec` with its generation workspace and row sums.
  virtual std::int64_t dense_bytes(const ModelSpec& spec) const = 0;
  // The fused operator of `spec` (factors, row statistics, tiles).
  virtual std::int64_t fused_bytes(const ModelSpec& spec) const = 0;
  // Scratch of dense_operator on a T x T matrix.
  virtual std::int64_t dense_operator_bytes(std::int64_t T) const = 0;
  // Workspace of a dense solver on `batch` matrices (throws Error when the library cannot size
  // it).
  virtual std::int64_t dense_solver_bytes(const SolverOptions& options, std::int64_t T,
                                          int batch) const = 0;

  // ---- dense linear algebra (signal propagation) ---------------------------------------------
  // m = `scale` times standard normals, entry (i, j) from counter (j, i, index, stream).
  virtual void fill_gaussian(Matrix<Real>& m, Stream stream, Real scale, std::uint64_t seed,
                             std::uint32_t index) = 0;
  // Replaces the rows of x (rows <= cols) by an orthonormal basis of their span (QR of x^T).
  virtual void orthonormalize_rows(Matrix<Real>& x) = 0;
  // c = alpha op(a) op(b) + beta c, op transposing where asked (beta = 0: c is not read);
  // bitwise the same for any thread count.
  virtual void product(Real alpha, const Matrix<Real>& a, bool transpose_a, const Matrix<Real>& b,
                       bool transpose_b, Real beta, Matrix<Real>& c) = 0;
  // c = a b, or a b^T with `transpose_b`.
  void gemm(const Matrix<Real>& a, const Matrix<Real>& b, bool transpose_b, Matrix<Real>& c) {
    product(Real(1), a, false, b, transpose_b, Real(0), c);
  }
  // ||m||_F, summed in a fixed order.
  virtual double frobenius_norm(const Matrix<Real>& m) = 0;
  virtual void scale(Matrix<Real>& m, Real alpha) = 0;
  // z = x + s z.
  virtual void add_scaled(const Matrix<Real>& x, Real s, Matrix<Real>& z) = 0;
  // Each row to zero mean and unit (population) variance, no affine; a constant row becomes 0.
  virtual void layer_norm_rows(Matrix<Real>& m) = 0;
  virtual void set_identity(Matrix<Real>& m) = 0;
  virtual void fill(Matrix<Real>& m, Real value) = 0;
  // sum_e a_e b_e in float64, in a fixed order.
  virtual double dot(const Matrix<Real>& a, const Matrix<Real>& b) = 0;
  // Reverse mode of a row softmax (backward.hpp): g (the cotangent of the probabilities) becomes
  // that of the logits; the probabilities are a + offset (offset 1/T when a holds A - 11^T/T).
  virtual void softmax_backward_rows(const Matrix<Real>& a, Real offset, Matrix<Real>& g) = 0;
  // Reverse mode of layer_norm_rows at its input z: g (the cotangent of LN(z)) becomes that of
  // z.
  virtual void layer_norm_backward_rows(const Matrix<Real>& z, Matrix<Real>& g) = 0;
  // g (m x m, m = min(rows, cols), full symmetric storage) = x x^T or x^T x, the smaller.
  virtual void gram(const Matrix<Real>& x, Matrix<Real>& g) = 0;
  virtual GramStats gram_stats(const Matrix<Real>& g) = 0;
  virtual TokenStats token_stats(const Matrix<Real>& x, double trace) = 0;
};

class Device {
 public:
  virtual ~Device() = default;
  virtual std::string name() const = 0;         // "cpu" or "cuda"
  virtual std::string description() const = 0;  // the processor or GPU, in words
  // Library versions and settings for results metadata (name -> value).
  virtual std::map<std::string, std::string> versions() const = 0;

  // Bytes of memory the memory plan may use now, and that memory in words for messages
  // ("memory", "device memory on NVIDIA H200").
  virtual std::int64_t memory_budget() const = 0;
  virtual std::string memory_name() const = 0;
  // Most matrices generated in one batch.
  virtual int max_batch() const = 0;
  // The lanczos block when --block is not given, on the dense or the fused operator.
  virtual int lanczos_block(OperatorChoice op) const = 0;
  // Throws UsageError naming the flag when the device lacks the dense solver of `options`, or
  // its limits refuse it at T.
  virtual void check_dense_solver(const SolverOptions& options, std::int64_t T) const = 0;
  // Whether its fused operators give their diagonal (MatrixFreeOperator::diagonal).
  virtual bool fused_diagonal() const { return false; }
  // Whether the dense solver `kind` takes a whole batch at once (Stages::solve_dense_batch).
  virtual bool batched_solver(SolverKind kind) const = 0;
  // Waits for the device's queued work (a no-op on the CPU).
  virtual void synchronize() = 0;
  // Where arrays in this device's memory live, for callers that hand it their own (the Python
  // package's DLPack path): the CUDA device ordinal (-1: host memory) and the stream every stage
  // queues its work on (cudaStream_t as an integer; 0 on the CPU).
  virtual int cuda_ordinal() const { return -1; }
  virtual std::uintptr_t stream_handle() const { return 0; }

  template <typename Real>
  Stages<Real>& stages();

 protected:
  virtual Stages<float>& stages_f32() = 0;
  virtual Stages<double>& stages_f64() = 0;
};

template <>
inline Stages<float>& Device::stages<float>() {
  return stages_f32();
}
template <>
inline Stages<double>& Device::stages<double>() {
  return stages_f64();
}

}  // namespace gapbench
