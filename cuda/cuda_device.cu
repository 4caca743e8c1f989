// The CUDA device (device.hpp): its stages over device memory on one stream, for float32 and
// float64: batched generation (generate.cu), the dense and fused operators and block operations
// (device_ops.cu, fused_device.cu), cuSOLVER's dense SVDs (dense_solvers.cu) and the row-major
// linear algebra of signal propagation (cuBLAS, dense_algebra.cu). The measurement loop, the
// operator rule and the memory plan are the Backend's (src/gapbench/backend.cpp), the same as the
// CPU's; this file only says what the GPU has and what each stage costs in device memory.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "blas.cuh"
#include "dense_algebra.cuh"
#include "dense_solvers.cuh"
#include "device_ops.cuh"
#include "fused_device.cuh"
#include "gapbench/cpu/cpu_device.hpp"
#include "gapbench/cuda_api.hpp"
#include "gapbench/error.hpp"
#include "gapbench/factors.hpp"
#include "gapbench/row_stats.hpp"
#include "generate.cuh"
#include "handles.cuh"
#include "logits_gemm.cuh"
#include "resources.cuh"

namespace gapbench::cuda {
namespace {

// Lanczos block on the GPU's dense operator: 8. With cuBLAS's GEMM a block of 4 cost 2.2x a
// single vector's pass, so the block was 1; the streaming block product (block_product.cu) reads
// A once for the whole block. Measured on an H200 on 2026-12-04 (results/gpu/NVIDIA_H200/
// 2026-12-04/bench_gpu.json), T = 32768, float32, attention, top 4, medians of 3: a pass with 4
// vectors at 1.07x the copy-bandwidth floor (cuBLAS: 2.05x); the solve took 42 passes and 56 ms
// with blocks of 1, 22 and 33 ms with 4, 16 and 29 ms with 8, each with s2 exact to float32.
constexpr int kDenseLanczosBlock = 8;
// Lanczos block on the fused operator: one tile of A serves the whole block.
constexpr int kFusedLanczosBlock = 8;
// Most matrices generated in one batch.
constexpr int kMaxBatch = 64;
// Device memory left out of the budget: cuBLAS/cuSOLVER internals, the CUDA context's growth.
constexpr double kReserveFraction = 0.05;
constexpr std::int64_t kReserveBytes = 512ll << 20;

// `count` elements of device memory owned by a shared_ptr (Matrix<Real>'s storage).
template <typename T>
std::shared_ptr<T> device_storage(std::int64_t count) {
  auto buffer = std::make_shared<DeviceBuffer<T>>(
      static_cast<std::size_t>(std::max<std::int64_t>(count, 1)));
  return std::shared_ptr<T>(buffer, buffer->data());
}

// xgesvdr's oversampling p and power iterations: the flags', or their defaults when 0.
int oversample(const SolverOptions& o) {
  return o.oversample > 0 ? o.oversample : default_oversample(o.k);
}
int power_iters(const SolverOptions& o) {
  return o.power_iters > 0 ? o.power_iters : kDefaultPowerIters;
}

// The stream and library handles every stage queues its work on.
struct Queue {
  Stream stream;
  CublasHandle blas{stream.get()};
  CusolverHandle solver{stream.get()};
};

template <typename Real>
class CudaStages final : public Stages<Real> {
 public:
  explicit CudaStages(const Queue& queue)
      : m_queue(queue), m_ops(queue.stream.get(), queue.blas.get()) {}
  using Stages<Real>::download;

  // ---- memory ------------------------------------------------------------------------------
  Matrix<Real> allocate(std::int64_t rows, std::int64_t cols) override {
    return Matrix<Real>(device_storage<Real>(rows * cols), rows, cols);
  }
  Matrix<Real> upload(const Real* host, std::int64_t rows, std::int64_t cols) override {
    Matrix<Real> m = allocate(rows, cols);
    GAPBENCH_CUDA_CHECK(cudaMemcpyAsync(m.data(), host, m.size() * sizeof(Real),
                                        cudaMemcpyHostToDevice, stream()));
    m_queue.stream.synchronize();  // the host copy may go once this returns
    return m;
  }
  std::vector<Real> download(const Real* data, std::int64_t count) override {
    return to_host(data, count, stream());
  }
  Matrix<Real> copy(const Real* data, std::int64_t rows, std::int64_t cols) override {
    Matrix<Real> m = allocate(rows, cols);
    GAPBENCH_CUDA_CHECK(cudaMemcpyAsync(m.data(), data, m.size() * sizeof(Real),
                                        cudaMemcpyDeviceToDevice, stream()));
    return m;
  }
  FrobeniusSums given_matrix(const Real* a, std::int64_t T, bool center, Real* out) override {
    const std::int64_t n = T * T;
    const double shift = 1.0 / static_cast<double>(T);
    FrobeniusSums s;
    s.frob_perp_sq = shifted_sum_of_squares(a, shift, n, stream());
    s.frob_sq = center ? s.frob_perp_sq : sum_of_squares(a, n, stream());
    if (out != nullptr && center) {
      subtract(a, shift, out, n, stream());
    } else if (out != nullptr && out != a) {
      GAPBENCH_CUDA_CHECK(cudaMemcpyAsync(out, a, n * sizeof(Real), cudaMemcpyDeviceToDevice,
                                          stream()));
    }
    return s;
  }

  // ---- generation --------------------------------------------------------------------------
  DenseBatch<Real> generate(const ModelSpec& spec, std::uint64_t seed,
                            const std::vector<std::uint32_t>& indices) override {
    const std::int64_t T = spec.T;
    const auto batch_size = static_cast<std::int64_t>(indices.size());
    DenseBatch<Real> batch{allocate(batch_size * T, T), T, {}};
    DeviceBuffer<RowSquares> rows(static_cast<std::size_t>(batch_size * T));
    {
      DeviceBuffer<Real> factors(
          static_cast<std::size_t>(batch_size * attention_factor_elements(spec)));
      generate_batch<Real>(spec, seed, indices, batch.matrices.data(), rows.data(),
                           factors.data(), stream(), blas());
    }
    const std::vector<RowSquares> host = to_host(rows.data(), batch_size * T, stream());
    for (std::int64_t b = 0; b < batch_size; ++b) {
      batch.sums.push_back(sum_rows(host.data() + b * T, T, spec.fix));
    }
    return batch;
  }
  FrobeniusSums attention_from_factors(const Matrix<Real>& queries, const Matrix<Real>& keys,
                                       Real logit_scale, bool causal, Fix fix, Real* a) override {
    const std::int64_t T = queries.rows();
    DeviceBuffer<RowSquares> rows(static_cast<std::size_t>(T));
    attention_of_factors<Real>(T, queries.cols(), queries.data(), keys.data(), logit_scale, causal,
                               fix, a, rows.data(), stream(), blas());
    return sum_rows(to_host(rows.data(), T, stream()), fix);
  }
  void round_logits_inputs(LogitsPrecision logits, Matrix<Real>& factor) override {
    cuda::round_logits_inputs<Real>(logits, factor.data(), factor.size(), stream());
  }

  // ---- operators ---------------------------------------------------------------------------
  std::unique_ptr<LinearOperator<Real>> dense_operator(const Real* a, std::int64_t rows,
                                                       std::int64_t cols) override {
    return std::make_unique<DeviceDenseOperator<Real>>(a, rows, cols, blas());
  }
  std::unique_ptr<MatrixFreeOperator<Real>> fused_operator(const ModelSpec& spec,
                                                           std::uint64_t seed,
                                                           std::uint32_t index) override {
    return std::make_unique<DeviceFusedOperator<Real>>(spec, seed, index, stream(), blas());
  }
  std::unique_ptr<MatrixFreeOperator<Real>> fused_operator(GivenFactors<Real> f) override {
    // The operator keeps Q then K in one allocation.
    DeviceBuffer<Real> both(static_cast<std::size_t>(f.queries.size() + f.keys.size()));
    GAPBENCH_CUDA_CHECK(cudaMemcpyAsync(both.data(), f.queries.data(),
                                        f.queries.size() * sizeof(Real), cudaMemcpyDeviceToDevice,
                                        stream()));
    GAPBENCH_CUDA_CHECK(cudaMemcpyAsync(both.data() + f.queries.size(), f.keys.data(),
                                        f.keys.size() * sizeof(Real), cudaMemcpyDeviceToDevice,
                                        stream()));
    return std::make_unique<DeviceFusedOperator<Real>>(f.model, std::move(both), stream(), blas());
  }
  BlockOps<Real>& block_ops() override { return m_ops; }

  // ---- dense solvers -----------------------------------------------------------------------
  SolveResult solve_dense(const SolverOptions& o, Real* a, std::int64_t T) override {
    switch (o.kind) {
      case SolverKind::kExact:
        return o.spectrum == Spectrum::kEigen
                   ? exact_eigenvalues<Real>(m_queue.solver, a, T, o.k, o.all_values)
                   : exact_values<Real>(m_queue.solver, a, T, o.k, o.all_values);
      case SolverKind::kXgesvdr:
        return xgesvdr_values<Real>(m_queue.solver, a, T, o.k, oversample(o), power_iters(o));
      default:
        throw Error("the CUDA device has no single-matrix dense solver " + to_string(o.kind));
    }
  }
  std::vector<double> diagonal(const Real* a, std::int64_t T) override {
    // Every (T + 1)-th element: one strided copy.
    std::vector<Real> d(static_cast<std::size_t>(T));
    GAPBENCH_CUDA_CHECK(cudaMemcpy2DAsync(d.data(), sizeof(Real), a,
                                          static_cast<std::size_t>(T + 1) * sizeof(Real),
                                          sizeof(Real), static_cast<std::size_t>(T),
                                          cudaMemcpyDeviceToHost, stream()));
    GAPBENCH_CUDA_CHECK(cudaStreamSynchronize(stream()));
    return std::vector<double>(d.begin(), d.end());
  }
  std::vector<SolveResult> solve_dense_batch(const SolverOptions& o,
                                             const DenseBatch<Real>& batch) override {
    if (o.kind != SolverKind::kGesvda) {
      throw Error("the CUDA device has no batched solver " + to_string(o.kind));
    }
    return gesvda_values<Real>(m_queue.solver, batch.matrices.data(), batch.T, o.k,
                               static_cast<int>(batch.size()));
  }

  // ---- memory plan -------------------------------------------------------------------------
  std::int64_t dense_bytes(const ModelSpec& spec) const override {
    const std::int64_t T = spec.T;
    const std::int64_t bf16_copies =  // queue_attention's BF16 Q and K for --logits bf16
        spec.kind == ModelKind::kAttention && spec.logits == LogitsPrecision::kBf16
            ? 2 * T * spec.dk * 2
            : 0;
    return (T * T + attention_factor_elements(spec)) * static_cast<std::int64_t>(sizeof(Real)) +
           T * static_cast<std::int64_t>(sizeof(RowSquares)) + bf16_copies;
  }
  std::int64_t fused_bytes(const ModelSpec& spec) const override {
    return DeviceFusedOperator<Real>::device_bytes(spec);
  }
  std::int64_t dense_operator_bytes(std::int64_t T) const override {
    return DeviceDenseOperator<Real>::workspace_elements(T, T) *
           static_cast<std::int64_t>(sizeof(Real));
  }
  std::int64_t dense_solver_bytes(const SolverOptions& o, std::int64_t T,
                                  int batch) const override {
    switch (o.kind) {
      case SolverKind::kExact:
        return o.spectrum == Spectrum::kEigen
                   ? exact_eigen_workspace_bytes<Real>(m_queue.solver, T)
                   : exact_workspace_bytes<Real>(m_queue.solver, T);
      case SolverKind::kXgesvdr:
        return xgesvdr_workspace_bytes<Real>(m_queue.solver, T, o.k, oversample(o),
                                             power_iters(o));
      case SolverKind::kGesvda:
        return gesvda_workspace_bytes<Real>(m_queue.solver, T, o.k, batch);
      default:
        return 0;  // the iterative solvers' vectors are planned by the Backend
    }
  }

  // ---- dense linear algebra ----------------------------------------------------------------
  void fill_gaussian(Matrix<Real>& m, ::gapbench::Stream stream_id, Real scale, std::uint64_t seed,
                     std::uint32_t index) override {
    cuda::fill_gaussian<Real>(FactorDraw{stream_id, static_cast<double>(scale), m.rows(), m.cols()},
                              seed, index, m.data(), stream());
  }
  void orthonormalize_rows(Matrix<Real>& x) override {
    // Row-major T x d is column-major d x T = X^T: orthonormal columns of X^T are rows of X.
    orthonormalize_columns<Real>(m_queue.solver, x.data(), x.cols(), x.rows());
  }
  void product(Real alpha, const Matrix<Real>& a, bool transpose_a, const Matrix<Real>& b,
               bool transpose_b, Real beta, Matrix<Real>& c) override {
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, with every row-major
    // matrix read as its column-major transpose: a stored row-major matrix is op(.)^T as it
    // stands when not transposed (OP_N), and needs OP_T when it is.
    const std::int64_t m = c.rows(), n = c.cols(), k = transpose_a ? a.rows() : a.cols();
    blas::gemm(blas(), transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N,
               transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, alpha, b.data(),
               transpose_b ? k : n, a.data(), transpose_a ? m : k, beta, c.data(), n);
  }
  double frobenius_norm(const Matrix<Real>& m) override {
    return std::sqrt(sum_of_squares<Real>(m.data(), m.size(), stream()));
  }
  void scale(Matrix<Real>& m, Real alpha) override {
    blas::scal(blas(), m.size(), alpha, m.data());
  }
  void add_scaled(const Matrix<Real>& x, Real s, Matrix<Real>& z) override {
    cuda::add_scaled<Real>(x.data(), s, z.data(), z.size(), stream());
  }
  void layer_norm_rows(Matrix<Real>& m) override {
    cuda::layer_norm_rows<Real>(m.data(), m.rows(), m.cols(), stream());
  }
  void set_identity(Matrix<Real>& m) override {
    cuda::set_identity<Real>(m.data(), m.rows(), m.cols(), stream());
  }
  void fill(Matrix<Real>& m, Real value) override {
    cuda::fill<Real>(m.data(), value, m.size(), stream());
  }
  double dot(const Matrix<Real>& a, const Matrix<Real>& b) override {
    return cuda::dot<Real>(a.data(), b.data(), a.size(), stream());
  }
  void softmax_backward_rows(const Matrix<Real>& a, Real offset, Matrix<Real>& g) override {
    cuda::softmax_backward_rows<Real>(a.data(), offset, g.data(), a.rows(), a.cols(), stream());
  }
  void layer_norm_backward_rows(const Matrix<Real>& z, Matrix<Real>& g) override {
    cuda::layer_norm_backward_rows<Real>(z.data(), g.data(), z.rows(), z.cols(), stream());
  }
  void gram(const Matrix<Real>& x, Matrix<Real>& g) override {
    // x row-major T x d is column-major A = X^T (d x T, ld d). X X^T = A^T A, X^T X = A A^T.
    // The column-major lower triangle is the row-major upper one, then mirrored.
    const std::int64_t T = x.rows(), d = x.cols(), m = std::min(T, d);
    if (T <= d) {
      blas::syrk(blas(), CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_T, T, d, x.data(), d, g.data(), m);
    } else {
      blas::syrk(blas(), CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, d, T, x.data(), d, g.data(), m);
    }
    mirror_upper<Real>(g.data(), m, stream());
  }
  GramStats gram_stats(const Matrix<Real>& g) override {
    // g is stored in full, so the sum of all its squares is ||G||_F^2.
    return {trace<Real>(g.data(), g.rows(), stream()),
            sum_of_squares<Real>(g.data(), g.size(), stream())};
  }
  TokenStats token_stats(const Matrix<Real>& x, double trace_sq) override {
    // O(T d) work once per layer: on the host, by the CPU's definition.
    const std::vector<Real> host = download(x);
    if constexpr (std::is_same_v<Real, double>) {
      return cpu::token_stats(host.data(), x.rows(), x.cols(), trace_sq);
    } else {
      const std::vector<double> wide(host.begin(), host.end());
      return cpu::token_stats(wide.data(), x.rows(), x.cols(), trace_sq);
    }
  }

 private:
  cudaStream_t stream() const { return m_queue.stream.get(); }
  cublasHandle_t blas() const { return m_queue.blas.get(); }

  const Queue& m_queue;
  DeviceBlockOps<Real> m_ops;
};

// Makes the device current before any of its resources is created.
struct DeviceSelect {
  explicit DeviceSelect(int ordinal) { GAPBENCH_CUDA_CHECK(cudaSetDevice(ordinal)); }
};

class CudaDevice final : public Device {
 public:
  explicit CudaDevice(const DeviceInfo& info)
      : m_info(info), m_select(info.ordinal), m_f32(m_queue), m_f64(m_queue) {}

  std::string name() const override { return "cuda"; }
  std::string description() const override {
    return fmt::format("{} (device {}, compute capability {}.{}, {} SMs, {:.1f} GiB)", m_info.name,
                       m_info.ordinal, m_info.cc_major, m_info.cc_minor, m_info.multiprocessors,
                       m_info.memory_bytes / (1 << 30));
  }
  std::map<std::string, std::string> versions() const override {
    auto v = library_versions();
    v["peak_memory_bandwidth_GBps"] =
        fmt::format("{:.0f}", m_info.peak_bandwidth_bytes_per_s / 1e9);
    v["lanczos_block"] = std::to_string(kDenseLanczosBlock);
    return v;
  }

  // Free device memory less the reserve for the libraries.
  std::int64_t memory_budget() const override {
    std::size_t free_bytes = 0, total_bytes = 0;
    GAPBENCH_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    return static_cast<std::int64_t>(static_cast<double>(free_bytes) * (1.0 - kReserveFraction)) -
           kReserveBytes;
  }
  std::string memory_name() const override { return "device memory on " + m_info.name; }
  int max_batch() const override { return kMaxBatch; }
  int lanczos_block(OperatorChoice op) const override {
    return op == OperatorChoice::kFused ? kFusedLanczosBlock : kDenseLanczosBlock;
  }
  void check_dense_solver(const SolverOptions& o, std::int64_t T) const override {
    if (o.kind == SolverKind::kXgesvdr) {
      const int p = oversample(o);
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
  }
  bool fused_diagonal() const override { return true; }
  bool batched_solver(SolverKind kind) const override { return kind == SolverKind::kGesvda; }
  void synchronize() override { m_queue.stream.synchronize(); }
  int cuda_ordinal() const override { return m_info.ordinal; }
  std::uintptr_t stream_handle() const override {
    return reinterpret_cast<std::uintptr_t>(m_queue.stream.get());
  }

 protected:
  Stages<float>& stages_f32() override { return m_f32; }
  Stages<double>& stages_f64() override { return m_f64; }

 private:
  DeviceInfo m_info;
  DeviceSelect m_select;
  Queue m_queue;
  CudaStages<float> m_f32;
  CudaStages<double> m_f64;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const DeviceInfo& device) {
  return std::make_unique<Backend>(std::make_unique<CudaDevice>(device));
}

template <typename Real>
std::vector<Real> generate_on_device(const ModelSpec& spec, std::uint64_t seed,
                                     const std::vector<std::uint32_t>& indices,
                                     std::vector<FrobeniusSums>* sums) {
  const Queue queue;
  CudaStages<Real> stages(queue);
  DenseBatch<Real> batch = stages.generate(spec, seed, indices);
  if (sums) *sums = batch.sums;
  return stages.download(batch.matrices);
}

template std::vector<float> generate_on_device<float>(const ModelSpec&, std::uint64_t,
                                                      const std::vector<std::uint32_t>&,
                                                      std::vector<FrobeniusSums>*);
template std::vector<double> generate_on_device<double>(const ModelSpec&, std::uint64_t,
                                                        const std::vector<std::uint32_t>&,
                                                        std::vector<FrobeniusSums>*);

}  // namespace gapbench::cuda
