#include "gapbench/cpu/cpu_backend.hpp"

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

#include "gapbench/cpu/blas.hpp"
#include "gapbench/cpu/fused_operator.hpp"
#include "gapbench/cpu/generate.hpp"
#include "gapbench/error.hpp"
#include "gapbench/rng.hpp"
#include "gapbench/solvers/iterative.hpp"

extern "C" {
char* openblas_get_config(void);
void ilaver_(int* major, int* minor, int* patch);  // LAPACK's version
}

namespace gapbench::cpu {

// ---- DenseOperator ------------------------------------------------------------------------

template <typename Real>
void DenseOperator<Real>::apply(BlockView<const Real> x, BlockView<Real> y) const {
  this->count_pass();
  if (x.cols == 1) {
    blas::gemv(CblasRowMajor, CblasNoTrans, m_rows, m_cols, Real(1), m_a, m_cols, x.data, Real(0),
               y.data);
    return;
  }
  // Row-major A is column-major A^T with ld = cols; op = transpose gives A.
  blas::gemm(CblasColMajor, CblasTrans, CblasNoTrans, m_rows, x.cols, m_cols, Real(1), m_a, m_cols,
             x.data, x.ld, Real(0), y.data, y.ld);
}

template <typename Real>
void DenseOperator<Real>::apply_transpose(BlockView<const Real> x, BlockView<Real> y) const {
  this->count_pass();
  if (x.cols == 1) {
    blas::gemv(CblasRowMajor, CblasTrans, m_rows, m_cols, Real(1), m_a, m_cols, x.data, Real(0),
               y.data);
    return;
  }
  blas::gemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m_cols, x.cols, m_rows, Real(1), m_a,
             m_cols, x.data, x.ld, Real(0), y.data, y.ld);
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

// Single-vector Lanczos on the CPU: OpenBLAS GEMV reads A at the memory floor, while a GEMM with
// 4 to 8 columns takes 2.5x to 4.5x as long per pass (T = 4096, float64, this 2-core machine).
constexpr int kPreferredBlock = 1;

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
SolveResult solve_dense(Real* a, std::int64_t T, const SolverOptions& options, Precision precision,
                        std::uint64_t start_seed) {
  if (options.kind == SolverKind::kExact) {
    return exact_singular_values(a, T, T, options.k, options.all_values);
  }
  DenseOperator<Real> op(a, T, T);
  HostBlockOps<Real> ops;
  return solve_iterative<Real>(op, ops, options, precision, start_seed, kPreferredBlock);
}

// ---- the backend ----------------------------------------------------------------------------

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

}  // namespace

void check_dense_fits(std::int64_t T, Precision precision) {
  const double bytes_per = precision == Precision::kFloat64 ? 8.0 : 4.0;
  const double need = bytes_per * static_cast<double>(T) * static_cast<double>(T);
  const double have = free_memory_bytes();
  if (need > 0.9 * have) {
    const auto fits = static_cast<std::int64_t>(std::sqrt(0.9 * have / bytes_per));
    throw UsageError(fmt::format(
        "--T: a dense {} matrix at T = {} needs {:.1f} GiB but {:.1f} GiB of memory is free; "
        "the largest T that fits is about {}",
        to_string(precision), T, need / (1 << 30), have / (1 << 30), fits));
  }
}

OperatorChoice resolve_operator(const PointSpec& point) {
  const std::int64_t T = point.model.T;
  const bool iterative = is_iterative(point.solver.kind);
  if (point.op == OperatorChoice::kDense || !iterative) {
    if (point.op == OperatorChoice::kFused) {
      throw UsageError(fmt::format(
          "--operator fused: --solver {} needs the dense matrix; only lanczos and rsvd run "
          "matrix-free (use --operator dense or auto)",
          to_string(point.solver.kind)));
    }
    check_dense_fits(T, point.precision);
    return OperatorChoice::kDense;
  }
  if (point.op == OperatorChoice::kAuto) {
    try {
      check_dense_fits(T, point.precision);
      return OperatorChoice::kDense;
    } catch (const UsageError&) {
      // does not fit: fused below
    }
  }
  // The factors (X, Q, K for attention) and the solver's basis, a few hundred vectors at most.
  const ModelSpec& m = point.model;
  const double per_row =
      (m.kind == ModelKind::kAttention ? static_cast<double>(m.d + 2 * m.dk) : 0.0) + 400.0;
  const double need =
      per_row * static_cast<double>(T) * (point.precision == Precision::kFloat64 ? 8 : 4);
  const double have = free_memory_bytes();
  if (need > 0.9 * have) {
    throw UsageError(fmt::format(
        "--T: the fused operator at T = {} needs about {:.1f} GiB (factors and the solver's "
        "vectors) but {:.1f} GiB of memory is free; lower --T",
        T, need / (1 << 30), have / (1 << 30)));
  }
  return OperatorChoice::kFused;
}

int set_threads(int threads) {
  const int n = threads > 0 ? threads : omp_get_num_procs();
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
  return n;
}

namespace {

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

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : m_threads(set_threads(threads)) {}

  std::string name() const override { return "cpu"; }
  std::string device() const override {
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

  void check(const PointSpec& point) const override {
    validate(point.model);
    const std::int64_t T = point.model.T;
    if (point.solver.k < 1 || point.solver.k >= T) {
      throw UsageError(
          fmt::format("--k: k = {} must be between 1 and T - 1 = {}", point.solver.k, T - 1));
    }
    if (is_cuda_only(point.solver.kind)) {
      throw UsageError(fmt::format("--solver {}: a cuSOLVER routine, only on --backend cuda",
                                   to_string(point.solver.kind)));
    }
    check_iterative(point.solver, point.precision, T, kPreferredBlock);
    resolve_operator(point);
  }

  std::vector<MatrixOutcome> run_batch(const PointSpec& point, std::uint64_t seed,
                                       const std::vector<std::uint32_t>& indices) override {
    // Only one precision's buffer is held at a time.
    if (point.precision == Precision::kFloat64) {
      std::vector<float>().swap(m_f32);
      return run<double>(point, seed, indices, m_f64);
    }
    std::vector<double>().swap(m_f64);
    return run<float>(point, seed, indices, m_f32);
  }

  int preferred_batch(const PointSpec&) const override { return 1; }

 private:
  template <typename Real>
  std::vector<MatrixOutcome> run(const PointSpec& point, std::uint64_t seed,
                                 const std::vector<std::uint32_t>& indices,
                                 std::vector<Real>& buffer) {
    using clock = std::chrono::steady_clock;
    const std::int64_t T = point.model.T;
    const OperatorChoice op = resolve_operator(point);
    if (op == OperatorChoice::kFused) {
      std::vector<Real>().swap(buffer);
      return run_fused<Real>(point, seed, indices);
    }
    buffer.resize(static_cast<std::size_t>(T * T));
    std::vector<MatrixOutcome> out;
    for (const std::uint32_t index : indices) {
      MatrixOutcome o;
      o.index = index;
      const auto t0 = clock::now();
      o.sums = generate_dense<Real>(point.model, seed, index, buffer.data());
      check_sums_finite(point, o);
      const auto t1 = clock::now();
      o.solve = solve_dense<Real>(buffer.data(), T, point.solver, point.precision, seed);
      const auto t2 = clock::now();
      o.generate_seconds = std::chrono::duration<double>(t1 - t0).count();
      o.solve_seconds = std::chrono::duration<double>(t2 - t1).count();
      out.push_back(std::move(o));
    }
    return out;
  }

  // Matrix-free: the operator holds the factors and row statistics; no T x T buffer.
  template <typename Real>
  std::vector<MatrixOutcome> run_fused(const PointSpec& point, std::uint64_t seed,
                                       const std::vector<std::uint32_t>& indices) {
    return solve_matrix_free(
        point, indices,
        [&](std::uint32_t index) {
          return FusedOperator<Real>::from_model(point.model, seed, index);
        },
        [&](const FusedOperator<Real>& op) {
          return solve_fused<Real>(op, point.solver, point.precision, seed);
        });
  }

  int m_threads;
  std::vector<double> m_f64;
  std::vector<float> m_f32;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) {
  return std::make_unique<CpuBackend>(threads);
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
