#include "gapbench/cpu/cpu_device.hpp"

#include <fmt/format.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <string>
#include <type_traits>
#include <vector>

#include "gapbench/backward.hpp"
#include "gapbench/cpu/blas.hpp"
#include "gapbench/cpu/fused_operator.hpp"
#include "gapbench/cpu/generate.hpp"
#include "gapbench/entries.hpp"
#include "gapbench/error.hpp"
#include "gapbench/factors.hpp"
#include "gapbench/rng.hpp"
#include "gapbench/solvers/eigen_values.hpp"
#include "gapbench/solvers/iterative.hpp"

extern "C" {
char* openblas_get_config(void);
void ilaver_(int* major, int* minor, int* patch);  // LAPACK's version
}

namespace gapbench::cpu {

// ---- DenseOperator ------------------------------------------------------------------------

template <typename Real>
void DenseOperator<Real>::product(BlockView<const Real> x, BlockView<Real> y,
                                  bool transpose) const {
  this->count_pass();
  if (x.cols == 1) {
    blas::gemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, m_rows, m_cols, Real(1), m_a,
               m_cols, x.data, Real(0), y.data);
    return;
  }
  // Row-major A is column-major A^T with ld = cols: op = transpose gives A, none gives A^T.
  blas::gemm(CblasColMajor, transpose ? CblasNoTrans : CblasTrans, CblasNoTrans,
             transpose ? m_cols : m_rows, x.cols, transpose ? m_rows : m_cols, Real(1), m_a, m_cols,
             x.data, x.ld, Real(0), y.data, y.ld);
}

// ---- HostBlockOps -------------------------------------------------------------------------

template <typename Real>
Block<Real> HostBlockOps<Real>::allocate(std::int64_t rows, std::int64_t cols) {
  std::shared_ptr<Real> storage(new Real[static_cast<std::size_t>(rows * cols)](),
                                std::default_delete<Real[]>());
  return Block<Real>(std::move(storage), rows, cols);
}

template <typename Real>
void HostBlockOps<Real>::project(BlockView<const Real> v, BlockView<const Real> w, double* host_c) {
  const std::int64_t p = v.cols, q = w.cols;
  if (p == 0 || q == 0) return;
  std::vector<Real> c(static_cast<std::size_t>(p * q));
  Real* out = c.data();
  if constexpr (std::is_same_v<Real, double>) out = host_c;
  if (q == 1) {  // GEMV: OpenBLAS's GEMM is several times slower with one column
    blas::gemv(CblasColMajor, CblasTrans, v.rows, p, Real(1), v.data, v.ld, w.data, Real(0), out);
  } else {
    blas::gemm(CblasColMajor, CblasTrans, CblasNoTrans, p, q, v.rows, Real(1), v.data, v.ld, w.data,
               w.ld, Real(0), out, p);
  }
  if constexpr (!std::is_same_v<Real, double>) std::copy(c.begin(), c.end(), host_c);
}

template <typename Real>
void HostBlockOps<Real>::update(BlockView<const Real> v, const double* host_c, double alpha,
                                double beta, BlockView<Real> w) {
  const std::int64_t p = v.cols, q = w.cols;
  if (p == 0) {
    if (beta != 1.0) {
      for (std::int64_t c = 0; c < q; ++c) {
        for (std::int64_t i = 0; i < w.rows; ++i) w.data[c * w.ld + i] *= static_cast<Real>(beta);
      }
    }
    return;
  }
  std::vector<Real> converted;
  const Real* c = nullptr;
  if constexpr (std::is_same_v<Real, double>) {
    c = host_c;
  } else {
    converted.assign(host_c, host_c + p * q);
    c = converted.data();
  }
  if (q == 1) {
    blas::gemv(CblasColMajor, CblasNoTrans, w.rows, p, Real(alpha), v.data, v.ld, c, Real(beta),
               w.data);
  } else {
    blas::gemm(CblasColMajor, CblasNoTrans, CblasNoTrans, w.rows, q, p, Real(alpha), v.data, v.ld,
               c, p, Real(beta), w.data, w.ld);
  }
}

template <typename Real>
void HostBlockOps<Real>::fill_random(BlockView<Real> w, std::uint64_t seed, std::uint32_t salt) {
#pragma omp parallel for schedule(static)
  for (std::int64_t c = 0; c < w.cols; ++c) {
    for (std::int64_t i = 0; i < w.rows; ++i) {
      w.data[c * w.ld + i] = standard_normal<Real>(philox_draw(seed, Stream::kSolverStart, salt,
                                                               static_cast<std::uint32_t>(i),
                                                               static_cast<std::uint32_t>(c)));
    }
  }
}

template <typename Real>
void HostBlockOps<Real>::copy(BlockView<const Real> src, BlockView<Real> dst) {
  for (std::int64_t c = 0; c < src.cols; ++c) {
    std::copy(src.data + c * src.ld, src.data + c * src.ld + src.rows, dst.data + c * dst.ld);
  }
}

// ---- solvers on dense host matrices ---------------------------------------------------------

template <typename Real>
SolveResult exact_singular_values(Real* a, std::int64_t rows, std::int64_t cols, int k,
                                  bool all_values) {
  std::vector<Real> s(static_cast<std::size_t>(std::min(rows, cols)));
  GAPBENCH_LAPACK_CHECK(blas::gesdd_values(rows, cols, a, s.data()));
  SolveResult result;
  const std::size_t keep = all_values ? s.size() : std::min<std::size_t>(k, s.size());
  result.values.assign(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(keep));
  return result;
}

template <typename Real>
SolveResult exact_eigenvalues(Real* a, std::int64_t T, int k, bool all_values) {
  std::vector<Real> wr(static_cast<std::size_t>(T)), wi(wr.size());
  GAPBENCH_LAPACK_CHECK(blas::geev_values(T, a, wr.data(), wi.data()));
  SolveResult result;
  keep_top_eigenvalues(std::vector<double>(wr.begin(), wr.end()),
                       std::vector<double>(wi.begin(), wi.end()), k, all_values, result);
  return result;
}

template <typename Real>
SolveResult exact_values(Real* a, std::int64_t T, const SolverOptions& options) {
  return options.spectrum == Spectrum::kEigen
             ? exact_eigenvalues(a, T, options.k, options.all_values)
             : exact_singular_values(a, T, T, options.k, options.all_values);
}

template <typename Real>
SolveResult solve_dense(Real* a, std::int64_t T, const SolverOptions& options, Precision precision,
                        std::uint64_t start_seed) {
  if (options.kind == SolverKind::kExact) return exact_values(a, T, options);
  DenseOperator<Real> op(a, T, T);
  HostBlockOps<Real> ops;
  return solve_iterative<Real>(op, ops, options, precision, start_seed, kDenseLanczosBlock);
}

TokenStats token_stats(const double* x, std::int64_t T, std::int64_t d, double trace) {
  TokenStats r;
  // Cosines: || sum_i x_i/|x_i| ||^2 = T + sum_{i != j} cos(x_i, x_j) (zero rows count as 0).
  std::vector<double> unit_sum(static_cast<std::size_t>(d), 0.0), mean(unit_sum.size(), 0.0);
  std::int64_t nonzero = 0;
  for (std::int64_t i = 0; i < T; ++i) {
    const double* row = x + i * d;
    const double norm = cblas_dnrm2(d, row, 1);
    if (norm > 0) {
      cblas_daxpy(d, 1.0 / norm, row, 1, unit_sum.data(), 1);
      ++nonzero;
    }
    cblas_daxpy(d, 1.0 / static_cast<double>(T), row, 1, mean.data(), 1);
  }
  const double s = cblas_dnrm2(d, unit_sum.data(), 1);
  r.mean_cosine = (s * s - static_cast<double>(nonzero)) / (static_cast<double>(T) * (T - 1));
  // Computed directly rather than as ||X||^2 - T |mean|^2, which cancels when tokens collapse.
  double centered_sq = 0;
  for (std::int64_t i = 0; i < T; ++i) {
    for (std::int64_t j = 0; j < d; ++j) {
      const double v = x[i * d + j] - mean[j];
      centered_sq += v * v;
    }
  }
  r.centered_ratio = std::sqrt(centered_sq / trace);
  return r;
}

int set_threads(int threads) {
  if (threads == kKeepThreads) return omp_get_max_threads();
  const int n = threads > 0 ? threads : omp_get_num_procs();
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
  return n;
}

namespace {

// MemAvailable of /proc/meminfo (free memory plus what the page cache would give back).
double free_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024.0;
  }
  return static_cast<double>(sysconf(_SC_AVPHYS_PAGES)) *
         static_cast<double>(sysconf(_SC_PAGESIZE));
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown CPU";
}

template <typename Real>
std::shared_ptr<Real> host_storage(std::int64_t count) {
  // Not zeroed: every stage writes what it allocates before reading it.
  return std::shared_ptr<Real>(new Real[static_cast<std::size_t>(std::max<std::int64_t>(count, 1))],
                               std::default_delete<Real[]>());
}

// The stages of the CPU device over host memory, for one precision.
template <typename Real>
class CpuStages final : public Stages<Real> {
 public:
  using Stages<Real>::download;
  Matrix<Real> allocate(std::int64_t rows, std::int64_t cols) override {
    return Matrix<Real>(host_storage<Real>(rows * cols), rows, cols);
  }
  Matrix<Real> upload(const Real* host, std::int64_t rows, std::int64_t cols) override {
    Matrix<Real> m = allocate(rows, cols);
    std::copy(host, host + rows * cols, m.data());
    return m;
  }
  std::vector<Real> download(const Real* data, std::int64_t count) override {
    return std::vector<Real>(data, data + count);
  }
  Matrix<Real> copy(const Real* data, std::int64_t rows, std::int64_t cols) override {
    return upload(data, rows, cols);
  }
  FrobeniusSums given_matrix(const Real* a, std::int64_t T, bool center, Real* out) override {
    // One pass in a fixed order (the same sums for any thread count).
    const double shift = 1.0 / static_cast<double>(T);
    FrobeniusSums s;
    for (std::int64_t e = 0; e < T * T; ++e) {
      const double perp = static_cast<double>(a[e]) - shift;
      s.frob_perp_sq += perp * perp;
      s.frob_sq += center ? perp * perp : static_cast<double>(a[e]) * a[e];
      if (out != nullptr) out[e] = center ? static_cast<Real>(perp) : a[e];
    }
    return s;
  }

  DenseBatch<Real> generate(const ModelSpec& spec, std::uint64_t seed,
                            const std::vector<std::uint32_t>& indices) override {
    const std::int64_t T = spec.T;
    DenseBatch<Real> batch{allocate(static_cast<std::int64_t>(indices.size()) * T, T), T, {}};
    for (std::size_t b = 0; b < indices.size(); ++b) {
      batch.sums.push_back(generate_dense<Real>(spec, seed, indices[b], batch.matrix(b)));
    }
    return batch;
  }
  FrobeniusSums attention_from_factors(const Matrix<Real>& queries, const Matrix<Real>& keys,
                                       Real logit_scale, bool causal, Fix fix, Real* a) override {
    return cpu::attention_from_factors<Real>(queries.rows(), queries.cols(), queries.data(),
                                             keys.data(), logit_scale, causal, fix, a);
  }
  void round_logits_inputs(LogitsPrecision logits, Matrix<Real>& factor) override {
    if (logits == LogitsPrecision::kFull) return;
    for (std::int64_t e = 0; e < factor.size(); ++e) {
      factor.data()[e] = round_logits_input(factor.data()[e], logits);
    }
  }

  std::unique_ptr<LinearOperator<Real>> dense_operator(const Real* a, std::int64_t rows,
                                                       std::int64_t cols) override {
    return std::make_unique<DenseOperator<Real>>(a, rows, cols);
  }
  std::unique_ptr<MatrixFreeOperator<Real>> fused_operator(const ModelSpec& spec,
                                                           std::uint64_t seed,
                                                           std::uint32_t index) override {
    return std::make_unique<FusedOperator<Real>>(
        FusedOperator<Real>::from_model(spec, seed, index));
  }
  std::unique_ptr<MatrixFreeOperator<Real>> fused_operator(GivenFactors<Real> f) override {
    const ModelSpec& m = f.model;
    return std::make_unique<FusedOperator<Real>>(FusedOperator<Real>::attention(
        download(f.queries), download(f.keys), m.T, m.dk,
        attention_logit_scale(static_cast<Real>(m.beta), m.dk), m.causal, m.fix));
  }
  BlockOps<Real>& block_ops() override { return m_ops; }

  SolveResult solve_dense(const SolverOptions& options, Real* a, std::int64_t T) override {
    if (options.kind != SolverKind::kExact) {
      throw Error("the CPU device has no dense solver " + to_string(options.kind));
    }
    return exact_values(a, T, options);
  }
  std::vector<double> diagonal(const Real* a, std::int64_t T) override {
    std::vector<double> d(static_cast<std::size_t>(T));
    for (std::int64_t i = 0; i < T; ++i) d[static_cast<std::size_t>(i)] = a[i * T + i];
    return d;
  }
  std::vector<SolveResult> solve_dense_batch(const SolverOptions& options,
                                             const DenseBatch<Real>&) override {
    throw Error("the CPU device has no batched solver " + to_string(options.kind));
  }

  std::int64_t dense_bytes(const ModelSpec& spec) const override {
    return (spec.T * spec.T + attention_factor_elements(spec)) *
           static_cast<std::int64_t>(sizeof(Real));
  }
  std::int64_t fused_bytes(const ModelSpec& spec) const override {
    // The factors while they are drawn, and two numbers per row.
    return (attention_factor_elements(spec) + 2 * spec.T) * static_cast<std::int64_t>(sizeof(Real));
  }
  std::int64_t dense_operator_bytes(std::int64_t) const override { return 0; }
  std::int64_t dense_solver_bytes(const SolverOptions& options, std::int64_t T,
                                  int) const override {
    // gesdd with jobz = 'N': the values and O(T) work besides the matrix it overwrites; geev
    // values only: wr, wi and a blocked Hessenberg reduction's O(nb T) work.
    const std::int64_t elements = options.spectrum == Spectrum::kEigen ? 80 * T : 16 * T;
    return elements * static_cast<std::int64_t>(sizeof(Real));
  }

  void fill_gaussian(Matrix<Real>& m, Stream stream, Real scale, std::uint64_t seed,
                     std::uint32_t index) override {
    const std::int64_t rows = m.rows(), cols = m.cols();
    Real* out = m.data();
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < rows; ++i) {
      for (std::int64_t j = 0; j < cols; ++j) {
        out[i * cols + j] =
            gaussian_factor_entry<Real>(stream, scale, seed, index, static_cast<std::uint32_t>(i),
                                        static_cast<std::uint32_t>(j));
      }
    }
  }
  void orthonormalize_rows(Matrix<Real>& x) override {
    // Row-major T x d is column-major d x T = X^T: its QR gives orthonormal columns, i.e. rows
    // of X (d >= T). LAPACK runs on one OpenBLAS thread so that the result is bitwise the same
    // for any thread count (threaded BLAS-3 inside the QR rounds differently).
    const std::int64_t T = x.rows(), d = x.cols();
    std::vector<Real> tau(static_cast<std::size_t>(T));
    const SerialBlas serial;
    GAPBENCH_LAPACK_CHECK(blas::geqrf(d, T, x.data(), d, tau.data()));
    GAPBENCH_LAPACK_CHECK(blas::orgqr(d, T, T, x.data(), d, tau.data()));
  }
  void product(Real alpha, const Matrix<Real>& a, bool transpose_a, const Matrix<Real>& b,
               bool transpose_b, Real beta, Matrix<Real>& c) override {
    deterministic_product<Real>(alpha, transpose_a, transpose_b, c.rows(), c.cols(),
                                transpose_a ? a.rows() : a.cols(), a.data(), b.data(), beta,
                                c.data());
  }
  double frobenius_norm(const Matrix<Real>& m) override {
    // A serial sum, so the norm does not depend on the thread count as a threaded reduction
    // would.
    double sum = 0;
    for (std::int64_t e = 0; e < m.size(); ++e)
      sum += static_cast<double>(m.data()[e]) * m.data()[e];
    return std::sqrt(sum);
  }
  void scale(Matrix<Real>& m, Real alpha) override { blas::scal(m.size(), alpha, m.data()); }
  void add_scaled(const Matrix<Real>& x, Real s, Matrix<Real>& z) override {
    for (std::int64_t e = 0; e < z.size(); ++e) z.data()[e] = x.data()[e] + s * z.data()[e];
  }
  void layer_norm_rows(Matrix<Real>& m) override {
    const std::int64_t T = m.rows(), d = m.cols();
    Real* x = m.data();
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < T; ++i) {
      Real* row = x + i * d;
      double mean = 0;
      for (std::int64_t j = 0; j < d; ++j) mean += row[j];
      mean /= static_cast<double>(d);
      double var = 0;
      for (std::int64_t j = 0; j < d; ++j) var += (row[j] - mean) * (row[j] - mean);
      var /= static_cast<double>(d);
      const double inv = var > 0 ? 1.0 / std::sqrt(var) : 0.0;
      for (std::int64_t j = 0; j < d; ++j) row[j] = static_cast<Real>((row[j] - mean) * inv);
    }
  }
  void fill(Matrix<Real>& m, Real value) override {
    std::fill(m.data(), m.data() + m.size(), value);
  }
  double dot(const Matrix<Real>& a, const Matrix<Real>& b) override {
    double sum = 0;  // serial: the same for any thread count
    for (std::int64_t e = 0; e < a.size(); ++e) {
      sum += static_cast<double>(a.data()[e]) * static_cast<double>(b.data()[e]);
    }
    return sum;
  }
  void softmax_backward_rows(const Matrix<Real>& a, Real offset, Matrix<Real>& g) override {
    const std::int64_t rows = a.rows(), cols = a.cols();
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < rows; ++i) {
      const Real* p = a.data() + i * cols;
      Real* dp = g.data() + i * cols;
      double r = 0;
      for (std::int64_t j = 0; j < cols; ++j) r += static_cast<double>(dp[j]) * (p[j] + offset);
      for (std::int64_t j = 0; j < cols; ++j) {
        dp[j] = static_cast<Real>(softmax_backward_entry(p[j] + offset, dp[j], r));
      }
    }
  }
  void layer_norm_backward_rows(const Matrix<Real>& z, Matrix<Real>& g) override {
    const std::int64_t rows = z.rows(), n = z.cols();
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < rows; ++i) {
      const Real* x = z.data() + i * n;
      Real* dy = g.data() + i * n;
      double mean = 0, var = 0, m1 = 0, m2 = 0;
      for (std::int64_t j = 0; j < n; ++j) mean += x[j];
      mean /= static_cast<double>(n);
      for (std::int64_t j = 0; j < n; ++j) var += (x[j] - mean) * (x[j] - mean);
      var /= static_cast<double>(n);
      const double inv = var > 0 ? 1.0 / std::sqrt(var) : 0.0;
      for (std::int64_t j = 0; j < n; ++j) {
        m1 += dy[j];
        m2 += dy[j] * (x[j] - mean) * inv;
      }
      m1 /= static_cast<double>(n);
      m2 /= static_cast<double>(n);
      for (std::int64_t j = 0; j < n; ++j) {
        dy[j] =
            static_cast<Real>(layer_norm_backward_entry(dy[j], (x[j] - mean) * inv, m1, m2, inv));
      }
    }
  }
  void set_identity(Matrix<Real>& m) override {
    std::fill(m.data(), m.data() + m.size(), Real(0));
    for (std::int64_t i = 0; i < std::min(m.rows(), m.cols()); ++i) m.data()[i * m.cols() + i] = 1;
  }
  void gram(const Matrix<Real>& x, Matrix<Real>& g) override {
    const std::int64_t T = x.rows(), d = x.cols(), m = std::min(T, d);
    // The upper triangle by SYRK, then mirrored.
    if (T <= d) {
      blas::syrk(CblasRowMajor, CblasUpper, CblasNoTrans, T, d, x.data(), d, g.data(), m);
    } else {
      blas::syrk(CblasRowMajor, CblasUpper, CblasTrans, d, T, x.data(), d, g.data(), m);
    }
    Real* G = g.data();
    for (std::int64_t i = 0; i < m; ++i) {
      for (std::int64_t j = i + 1; j < m; ++j) G[j * m + i] = G[i * m + j];
    }
  }
  GramStats gram_stats(const Matrix<Real>& g) override {
    GramStats s;
    const std::int64_t m = g.rows();
    const Real* G = g.data();
    for (std::int64_t i = 0; i < m; ++i) {
      s.trace += G[i * m + i];
      s.sum_sq += static_cast<double>(G[i * m + i]) * G[i * m + i];
      for (std::int64_t j = i + 1; j < m; ++j) {
        s.sum_sq += 2 * static_cast<double>(G[i * m + j]) * G[i * m + j];
      }
    }
    return s;
  }
  TokenStats token_stats(const Matrix<Real>& x, double trace) override {
    if constexpr (std::is_same_v<Real, double>) {
      return cpu::token_stats(x.data(), x.rows(), x.cols(), trace);
    } else {
      const std::vector<double> wide(x.data(), x.data() + x.size());
      return cpu::token_stats(wide.data(), x.rows(), x.cols(), trace);
    }
  }

 private:
  HostBlockOps<Real> m_ops;
};

class CpuDevice final : public Device {
 public:
  explicit CpuDevice(int threads) : m_threads(set_threads(threads)) {}

  std::string name() const override { return "cpu"; }
  std::string description() const override {
    return fmt::format("{} ({} threads)", cpu_model_name(), m_threads);
  }
  std::map<std::string, std::string> versions() const override {
    int major = 0, minor = 0, patch = 0;
    ilaver_(&major, &minor, &patch);
    return {{"blas", openblas_get_config()},
            {"lapack", fmt::format("{}.{}.{}", major, minor, patch)},
            {"openmp", std::to_string(_OPENMP)},
            {"threads", std::to_string(m_threads)}};
  }

  // 90% of MemAvailable: the rest for the process and the page cache.
  std::int64_t memory_budget() const override {
    return static_cast<std::int64_t>(0.9 * free_memory_bytes());
  }
  std::string memory_name() const override { return "memory"; }
  int max_batch() const override { return 1; }
  int lanczos_block(OperatorChoice op) const override {
    return op == OperatorChoice::kFused ? kFusedLanczosBlock : kDenseLanczosBlock;
  }
  void check_dense_solver(const SolverOptions& options, std::int64_t) const override {
    if (options.kind != SolverKind::kExact) {
      throw UsageError(fmt::format("--solver {}: a cuSOLVER routine, only on --backend cuda",
                                   to_string(options.kind)));
    }
  }
  bool fused_diagonal() const override { return true; }
  bool batched_solver(SolverKind) const override { return false; }
  void synchronize() override {}

 protected:
  Stages<float>& stages_f32() override { return m_f32; }
  Stages<double>& stages_f64() override { return m_f64; }

 private:
  int m_threads;
  CpuStages<float> m_f32;
  CpuStages<double> m_f64;
};

}  // namespace

std::unique_ptr<Device> make_cpu_device(int threads) {
  return std::make_unique<CpuDevice>(threads);
}

template class DenseOperator<float>;
template class DenseOperator<double>;
template class HostBlockOps<float>;
template class HostBlockOps<double>;
template SolveResult exact_singular_values<float>(float*, std::int64_t, std::int64_t, int, bool);
template SolveResult exact_singular_values<double>(double*, std::int64_t, std::int64_t, int, bool);
template SolveResult solve_dense<float>(float*, std::int64_t, const SolverOptions&, Precision,
                                        std::uint64_t);
template SolveResult solve_dense<double>(double*, std::int64_t, const SolverOptions&, Precision,
                                         std::uint64_t);

}  // namespace gapbench::cpu
