// The CUDA backend: batched generation (generate.cu), the iterative solvers on device memory
// (device_ops.cu) and cuSOLVER's SVDs (dense_solvers.cu), behind the Backend interface, with the
// memory plan that sizes each batch to the free device memory before anything is allocated.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>

#include "dense_solvers.cuh"
#include "device_ops.cuh"
#include "fused_device.cuh"
#include "gapbench/cuda_api.hpp"
#include "gapbench/error.hpp"
#include "gapbench/solvers/iterative.hpp"
#include "gapbench/solvers/lanczos.hpp"
#include "gapbench/solvers/rsvd.hpp"
#include "generate.cuh"
#include "handles.cuh"
#include "resources.cuh"

namespace gapbench::cuda {
namespace {

// Lanczos block on the GPU: 1, so that every pass runs at the memory floor. Measured on an H200
// at T = 32768 (float32, attention, top 4): a GEMV pass at 1.17x the copy-bandwidth floor, a
// block-of-4 GEMM pass at 2.2x; the solve took 42 passes and 57 ms with blocks of 1 (1.35x the
// floor per pass, Lanczos' own work included) and 22 passes and 43 ms with --block 4.
constexpr int kPreferredBlock = 1;
// Lanczos block on the fused operator: one tile of A serves the whole block.
constexpr int kFusedBlock = 8;
// Most matrices generated in one batch.
constexpr int kMaxBatch = 64;
// Device memory left unplanned: cuBLAS/cuSOLVER internals, the CUDA context's growth.
constexpr double kReserveFraction = 0.05;
constexpr std::int64_t kReserveBytes = 512ll << 20;

std::int64_t real_bytes(Precision p) { return p == Precision::kFloat64 ? 8 : 4; }

double gib(std::int64_t bytes) { return static_cast<double>(bytes) / (1 << 30); }

// Device bytes of one solve of `point` (the solvers run one matrix at a time, except gesvda,
// which takes the whole batch).
std::int64_t solver_bytes(const PointSpec& point, const CusolverHandle& solver, int batch) {
  const std::int64_t T = point.model.T;
  const std::int64_t s = real_bytes(point.precision);
  const bool f64 = point.precision == Precision::kFloat64;
  const SolverOptions& o = point.solver;
  switch (o.kind) {
    case SolverKind::kLanczos: {
      const LanczosPlan p = plan_lanczos(o, point.precision, T, kPreferredBlock);
      const std::int64_t cols =
          2 * p.basis + p.block + 2 * std::max(p.block, p.keep) + std::max(p.block, p.k);
      return cols * T * s + DeviceDenseOperator<float>::workspace_elements(T, T) * s;
    }
    case SolverKind::kRsvd: {
      const RsvdPlan p = plan_rsvd(o, point.precision, T);
      return 8 * static_cast<std::int64_t>(p.k + p.oversample) * T * s;
    }
    case SolverKind::kExact:
      return f64 ? exact_workspace_bytes<double>(solver, T)
                 : exact_workspace_bytes<float>(solver, T);
    case SolverKind::kXgesvdr: {
      const int p = o.oversample > 0 ? o.oversample : default_oversample(o.k);
      const int it = o.power_iters > 0 ? o.power_iters : kDefaultPowerIters;
      return f64 ? xgesvdr_workspace_bytes<double>(solver, T, o.k, p, it)
                 : xgesvdr_workspace_bytes<float>(solver, T, o.k, p, it);
    }
    case SolverKind::kGesvda:
      return f64 ? gesvda_workspace_bytes<double>(solver, T, o.k, batch)
                 : gesvda_workspace_bytes<float>(solver, T, o.k, batch);
  }
  return 0;
}

// Device bytes of one matrix of `point` with its generation factors and row sums.
std::int64_t matrix_bytes(const PointSpec& point) {
  const std::int64_t T = point.model.T;
  const std::int64_t bf16_copies =  // generate_batch's BF16 Q and K for --logits bf16
      point.model.logits == LogitsPrecision::kBf16 ? 2 * T * point.model.dk * 2 : 0;
  return (T * T + generation_workspace_elements(point.model)) * real_bytes(point.precision) +
         2 * T * static_cast<std::int64_t>(sizeof(double)) + bf16_copies;
}

// Device bytes of a batch of `batch` matrices of `point`: matrices, generation factors, row sums
// and the solver's workspace. When the matrices alone pass `budget`, the solver's workspace is
// not asked for (cuSOLVER's size queries can fail for absurd sizes).
std::int64_t batch_bytes(const PointSpec& point, const CusolverHandle& solver, int batch,
                         std::int64_t budget) {
  const std::int64_t matrices = batch * matrix_bytes(point);
  if (matrices > budget) return matrices;
  return matrices + solver_bytes(point, solver, batch);
}

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const DeviceInfo& info)
      : m_info(info),
        m_select(info.ordinal),
        m_stream(),
        m_blas(m_stream.get()),
        m_solver(m_stream.get()) {}

  std::string name() const override { return "cuda"; }
  std::string device() const override {
    return fmt::format("{} (device {}, compute capability {}.{}, {} SMs, {:.1f} GiB)", m_info.name,
                       m_info.ordinal, m_info.cc_major, m_info.cc_minor, m_info.multiprocessors,
                       m_info.memory_bytes / (1 << 30));
  }
  std::map<std::string, std::string> versions() const override {
    auto v = library_versions();
    v["peak_memory_bandwidth_GBps"] =
        fmt::format("{:.0f}", m_info.peak_bandwidth_bytes_per_s / 1e9);
    v["lanczos_block"] = std::to_string(kPreferredBlock);
    return v;
  }

  void check(const PointSpec& point) const override {
    validate(point.model);
    const std::int64_t T = point.model.T;
    const SolverOptions& o = point.solver;
    if (o.k < 1 || o.k >= T) {
      throw UsageError(fmt::format("--k: k = {} must be between 1 and T - 1 = {}", o.k, T - 1));
    }
    check_iterative(o, point.precision, T, kPreferredBlock);
    if (o.kind == SolverKind::kXgesvdr) {
      const int p = o.oversample > 0 ? o.oversample : default_oversample(o.k);
      if (o.k + p > T) {
        throw UsageError(fmt::format(
            "--oversample: k + p = {} exceeds T = {}; lower --oversample or --k", o.k + p, T));
      }
    }
    if (o.kind == SolverKind::kGesvda && T > kGesvdaMaxT) {
      throw UsageError(fmt::format(
          "--solver gesvda: T = {} is above its cap {} (cuSOLVER's gesvdaStridedBatched takes "
          "32-bit sizes); use --solver lanczos, rsvd or xgesvdr",
          T, kGesvdaMaxT));
    }
    resolve_operator(point);  // throws when neither operator fits
  }

  int preferred_batch(const PointSpec& point) const override {
    if (resolve_operator(point) == OperatorChoice::kFused) return 1;
    return fitting_batch(point, kMaxBatch);
  }

  std::vector<MatrixOutcome> run_batch(const PointSpec& point, std::uint64_t seed,
                                       const std::vector<std::uint32_t>& indices) override {
    if (resolve_operator(point) == OperatorChoice::kFused) {
      return point.precision == Precision::kFloat64 ? run_fused<double>(point, seed, indices)
                                                    : run_fused<float>(point, seed, indices);
    }
    std::vector<MatrixOutcome> out;
    const int fit = fitting_batch(point, static_cast<int>(indices.size()));
    for (std::size_t first = 0; first < indices.size(); first += fit) {
      const std::vector<std::uint32_t> chunk(
          indices.begin() + static_cast<std::ptrdiff_t>(first),
          indices.begin() + static_cast<std::ptrdiff_t>(std::min(indices.size(), first + fit)));
      auto part = point.precision == Precision::kFloat64 ? run<double>(point, seed, chunk)
                                                         : run<float>(point, seed, chunk);
      for (auto& o : part) out.push_back(std::move(o));
    }
    return out;
  }

 private:
  // The operator `point` runs with (as cpu::resolve_operator): dense when asked or for the
  // solvers that need the matrix, fused when asked, and for auto dense while one dense matrix
  // fits the device memory, else fused. Throws UsageError when neither can run.
  OperatorChoice resolve_operator(const PointSpec& point) const {
    const bool iterative = is_iterative(point.solver.kind);
    if (point.op == OperatorChoice::kFused && !iterative) {
      throw UsageError(fmt::format(
          "--operator fused: --solver {} needs the dense matrix; only lanczos and rsvd run "
          "matrix-free (use --operator dense or auto)",
          to_string(point.solver.kind)));
    }
    if (point.op == OperatorChoice::kDense || !iterative) {
      fitting_batch(point, 1);
      return OperatorChoice::kDense;
    }
    if (point.op == OperatorChoice::kAuto) {
      try {
        fitting_batch(point, 1);
        return OperatorChoice::kDense;
      } catch (const UsageError&) {
        // does not fit: fused below
      }
    }
    const std::int64_t need = fused_bytes(point);
    const std::int64_t budget = memory_budget();
    if (need > budget) {
      throw UsageError(fmt::format(
          "--T: the fused operator at T = {} needs {:.2f} GiB of device memory (factors, "
          "statistics, one tile, the solver's vectors) but {:.2f} GiB is free on {}",
          point.model.T, gib(need), gib(budget), m_info.name));
    }
    return OperatorChoice::kFused;
  }

  // Device bytes of a fused solve: the operator and the solver's vectors (lanczos with blocks
  // of kFusedBlock, or rsvd).
  std::int64_t fused_bytes(const PointSpec& point) const {
    PointSpec solve = point;
    if (solve.solver.block == 0) solve.solver.block = kFusedBlock;
    const std::int64_t op = point.precision == Precision::kFloat64
                                ? DeviceFusedOperator<double>::device_bytes(point.model)
                                : DeviceFusedOperator<float>::device_bytes(point.model);
    return op + solver_bytes(solve, m_solver, 1);
  }

  // Free device memory less the reserve for the libraries.
  std::int64_t memory_budget() const {
    std::size_t free_bytes = 0, total_bytes = 0;
    GAPBENCH_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    return static_cast<std::int64_t>(static_cast<double>(free_bytes) * (1.0 - kReserveFraction)) -
           kReserveBytes;
  }

  // Matrix-free: the operator regenerates tiles of A in every product; one matrix at a time.
  template <typename Real>
  std::vector<MatrixOutcome> run_fused(const PointSpec& point, std::uint64_t seed,
                                       const std::vector<std::uint32_t>& indices) {
    return solve_matrix_free(
        point, indices,
        [&](std::uint32_t index) {
          return DeviceFusedOperator<Real>(point.model, seed, index, m_stream.get(), m_blas.get());
        },
        [&](const DeviceFusedOperator<Real>& op) {
          DeviceBlockOps<Real> ops(m_stream.get(), m_blas.get());
          SolveResult r =
              solve_iterative<Real>(op, ops, point.solver, point.precision, seed, kFusedBlock);
          m_stream.synchronize();
          return r;
        });
  }

  // Largest batch up to `wanted` that fits the free device memory; throws UsageError (naming
  // --T, with needed and free bytes and the largest T that fits) when not even one does.
  int fitting_batch(const PointSpec& point, int wanted) const {
    const std::int64_t budget = memory_budget();
    std::int64_t one = 0;
    try {
      one = batch_bytes(point, m_solver, 1, budget);
    } catch (const Error& e) {
      throw UsageError(
          fmt::format("--T: --solver {} cannot size its workspace at T = {} ({}); "
                      "use a smaller --T or another --solver",
                      to_string(point.solver.kind), point.model.T, e.what()));
    }
    if (one > budget) {
      throw UsageError(fmt::format(
          "--T: {} at T = {} ({}, solver {}) needs {:.2f} GiB of device memory but {:.2f} GiB is "
          "free on {} (after a reserve for the libraries); the largest T that fits is about {} "
          "(past it: --operator fused with lanczos or rsvd)",
          to_string(point.model.kind), point.model.T, to_string(point.precision),
          to_string(point.solver.kind), gib(one), gib(budget), m_info.name,
          largest_fitting_T(point, budget)));
    }
    int batch = 1;
    while (batch < wanted) {
      try {
        if (batch_bytes(point, m_solver, batch + 1, budget) > budget) break;
      } catch (const Error&) {
        break;  // gesvda's int workspace overflows for this batch: it does not fit either
      }
      ++batch;
    }
    return batch;
  }

  std::int64_t largest_fitting_T(PointSpec point, std::int64_t budget) const {
    std::int64_t lo = 2, hi = point.model.T;
    while (hi - lo > 1) {
      const std::int64_t mid = lo + (hi - lo) / 2;
      point.model.T = mid;
      bool fits = false;
      try {
        fits = batch_bytes(point, m_solver, 1, budget) <= budget;
      } catch (const Error&) {
        fits = false;
      }
      (fits ? lo : hi) = mid;
    }
    return lo;
  }

  template <typename Real>
  std::vector<MatrixOutcome> run(const PointSpec& point, std::uint64_t seed,
                                 const std::vector<std::uint32_t>& indices) {
    using clock = std::chrono::steady_clock;
    const std::int64_t T = point.model.T;
    const int batch = static_cast<int>(indices.size());
    DeviceBuffer<Real> matrices(static_cast<std::size_t>(batch) * T * T);
    DeviceBuffer<Real> factors(static_cast<std::size_t>(batch) *
                               generation_workspace_elements(point.model));
    DeviceBuffer<double> row_stats(static_cast<std::size_t>(batch) * T * 2);

    const auto t0 = clock::now();
    generate_batch<Real>(point.model, seed, indices, matrices.data(), row_stats.data(),
                         factors.data(), m_stream.get(), m_blas.get());
    factors = DeviceBuffer<Real>();  // free for the solver
    std::vector<double> stats(row_stats.size());
    GAPBENCH_CUDA_CHECK(cudaMemcpyAsync(stats.data(), row_stats.data(),
                                        stats.size() * sizeof(double), cudaMemcpyDeviceToHost,
                                        m_stream.get()));
    m_stream.synchronize();
    const double generate_each = std::chrono::duration<double>(clock::now() - t0).count() / batch;

    std::vector<MatrixOutcome> out(static_cast<std::size_t>(batch));
    for (int b = 0; b < batch; ++b) {
      MatrixOutcome& o = out[b];
      o.index = indices[b];
      o.generate_seconds = generate_each;
      for (std::int64_t i = 0; i < T; ++i) {  // row order, as the CPU backend sums
        o.sums.frob_sq += stats[(b * T + i) * 2];
        o.sums.frob_perp_sq += stats[(b * T + i) * 2 + 1];
      }
      check_sums_finite(point, o);
    }

    const SolverOptions& opt = point.solver;
    if (opt.kind == SolverKind::kGesvda) {
      const auto t1 = clock::now();
      std::vector<SolveResult> results =
          gesvda_values<Real>(m_solver, matrices.data(), T, opt.k, batch);
      const double each = std::chrono::duration<double>(clock::now() - t1).count() / batch;
      for (int b = 0; b < batch; ++b) {
        out[b].solve = std::move(results[b]);
        out[b].solve_seconds = each;
      }
      return out;
    }
    for (int b = 0; b < batch; ++b) {
      Real* a = matrices.data() + static_cast<std::size_t>(b) * T * T;
      const auto t1 = clock::now();
      out[b].solve = solve_one(point, a, seed);
      m_stream.synchronize();
      out[b].solve_seconds = std::chrono::duration<double>(clock::now() - t1).count();
    }
    return out;
  }

  template <typename Real>
  SolveResult solve_one(const PointSpec& point, Real* a, std::uint64_t seed) {
    const std::int64_t T = point.model.T;
    const SolverOptions& o = point.solver;
    switch (o.kind) {
      case SolverKind::kExact:
        return exact_values<Real>(m_solver, a, T, o.k, o.all_values);
      case SolverKind::kXgesvdr:
        return xgesvdr_values<Real>(m_solver, a, T, o.k,
                                    o.oversample > 0 ? o.oversample : default_oversample(o.k),
                                    o.power_iters > 0 ? o.power_iters : kDefaultPowerIters);
      default: {
        DeviceDenseOperator<Real> op(a, T, T, m_blas.get());
        DeviceBlockOps<Real> ops(m_stream.get(), m_blas.get());
        return solve_iterative<Real>(op, ops, o, point.precision, seed, kPreferredBlock);
      }
    }
  }

  // Makes the backend's device current before any resource is created.
  struct DeviceSelect {
    explicit DeviceSelect(int ordinal) { GAPBENCH_CUDA_CHECK(cudaSetDevice(ordinal)); }
  };

  DeviceInfo m_info;
  DeviceSelect m_select;
  Stream m_stream;
  CublasHandle m_blas;
  CusolverHandle m_solver;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const DeviceInfo& device) {
  return std::make_unique<CudaBackend>(device);
}

template <typename Real>
std::vector<Real> generate_on_device(const ModelSpec& spec, std::uint64_t seed,
                                     const std::vector<std::uint32_t>& indices,
                                     std::vector<FrobeniusSums>* sums) {
  Stream stream;
  CublasHandle blas(stream.get());
  const std::int64_t T = spec.T;
  const std::size_t batch = indices.size();
  DeviceBuffer<Real> matrices(batch * T * T);
  DeviceBuffer<Real> factors(batch * generation_workspace_elements(spec));
  DeviceBuffer<double> row_stats(batch * T * 2);
  generate_batch<Real>(spec, seed, indices, matrices.data(), row_stats.data(), factors.data(),
                       stream.get(), blas.get());
  std::vector<Real> host(matrices.size());
  std::vector<double> stats(row_stats.size());
  GAPBENCH_CUDA_CHECK(cudaMemcpyAsync(host.data(), matrices.data(), matrices.bytes(),
                                      cudaMemcpyDeviceToHost, stream.get()));
  GAPBENCH_CUDA_CHECK(cudaMemcpyAsync(stats.data(), row_stats.data(), row_stats.bytes(),
                                      cudaMemcpyDeviceToHost, stream.get()));
  stream.synchronize();
  if (sums) {
    sums->assign(batch, FrobeniusSums{});
    for (std::size_t b = 0; b < batch; ++b) {
      for (std::int64_t i = 0; i < T; ++i) {
        (*sums)[b].frob_sq += stats[(b * T + i) * 2];
        (*sums)[b].frob_perp_sq += stats[(b * T + i) * 2 + 1];
      }
    }
  }
  return host;
}

template std::vector<float> generate_on_device<float>(const ModelSpec&, std::uint64_t,
                                                      const std::vector<std::uint32_t>&,
                                                      std::vector<FrobeniusSums>*);
template std::vector<double> generate_on_device<double>(const ModelSpec&, std::uint64_t,
                                                        const std::vector<std::uint32_t>&,
                                                        std::vector<FrobeniusSums>*);

}  // namespace gapbench::cuda
