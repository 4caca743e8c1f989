// GPU benchmarks: the copy bandwidth (the yardstick of every GPU floor), the device's state at the
// start and the end of the run (clocks, temperature, power, persistence mode and the clock-event
// reasons as throttle_reasons, so throttling shows; `gapbench history` flags such runs), and the
// CUDA backend's families, each against its floor in the same run:
//
//   gpu/copy/d2d               cudaMemcpyAsync of 1 GiB device to device; bytes_per_s counts
//                              bytes read plus bytes written.
//   gpu/generate/MODEL/T       one matrix (float32). memory floor: writing 4 T^2 bytes at the copy
//                              bandwidth; attention's compute floor: 2 T^2 dk flops of the logits
//                              GEMM at the FP32 peak (SMs x 128 lanes x 2 x clock on Hopper).
//                              x_floor = time / the larger floor; compute_bound says which binds.
//   gpu/generate/markov_draws  the Philox draws and transforms of one markov matrix, summed and
//                              never stored: the arithmetic floor of the markov kernel (which
//                              draws every entry twice).
//   gpu/pass/B/T/cols/SIDE/IMPL one product of a batch of B float32 matrices with a block of cols
//                              vectors, A X or A^T X, by cuBLAS (strided-batched GEMV or GEMM)
//                              or by the block-product kernels (cuda/block_product.cuh), side by
//                              side; floor 4 T^2 B bytes.
//   gpu/fused/pass/T/b/SIDE/FORM one product of the fused operator (attention, T = 65536, b = 8),
//                              the on-chip kernel (full and TF32 logits) and the three-step tiles
//                              side by side, against the exp floor and the logits floor.
//   gpu/solve/SOLVER/T         top-4 of one float32 attention matrix: lanczos (blocks of 1, 4
//                              and 8 at the default tol; 4 and 8 at looser tols) and xgesvdr
//                              (power iterations 2 and 4 to 8); rel_err_s2 against float64
//                              lanczos at tol 1e-10 on the float64 matrix of the same draw;
//                              per_pass_x_floor = solve time / passes / memory floor.
//
// Timing uses CUDA events on a non-default stream (UseManualTime); allocation and a warm-up run
// are outside the timed loop. On a machine with no device every GPU benchmark is skipped with
// the reason.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "blas.cuh"
#include "block_product.cuh"
#include "dense_solvers.cuh"
#include "device_ops.cuh"
#include "fused_device.cuh"
#include "gapbench/cuda_api.hpp"
#include "gapbench/entries.hpp"
#include "gapbench/solvers/iterative.hpp"
#include "generate.cuh"
#include "harness.hpp"
#include "resources.cuh"

namespace gapbench::bench {
namespace {

bool skip_without_device(benchmark::State& state) {
  const cuda::Inventory inv = cuda::inventory();
  if (!inv.devices.empty()) return false;
  state.SkipWithError(("no CUDA device: " + inv.reason).c_str());
  return true;
}

constexpr std::size_t kCopyBytes = std::size_t{1} << 30;

// Seconds of one 1 GiB device-to-device copy, best of `reps` after a warm-up.
double time_copy_d2d(int reps, benchmark::State* state) {
  cuda::Stream stream;
  cuda::DeviceBuffer<char> src(kCopyBytes), dst(kCopyBytes);
  GAPBENCH_CUDA_CHECK(cudaMemsetAsync(src.data(), 1, kCopyBytes, stream.get()));
  GAPBENCH_CUDA_CHECK(
      cudaMemcpyAsync(dst.data(), src.data(), kCopyBytes, cudaMemcpyDeviceToDevice, stream.get()));
  stream.synchronize();
  cuda::Event start, stop;
  double best = 1e30;
  const auto once = [&] {
    start.record(stream);
    GAPBENCH_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), kCopyBytes,
                                        cudaMemcpyDeviceToDevice, stream.get()));
    stop.record(stream);
    const double s = stop.elapsed_ms_since(start) / 1e3;
    best = std::min(best, s);
    return s;
  };
  if (state) {
    for (auto _ : *state) state->SetIterationTime(once());
  } else {
    for (int r = 0; r < reps; ++r) once();
  }
  return best;
}

// Read-plus-write bytes per second of the device copy, measured once per run.
double gpu_copy_bandwidth() {
  static const double bw = 2.0 * kCopyBytes / time_copy_d2d(5, nullptr);
  return bw;
}

void bm_copy_d2d(benchmark::State& state) {
  if (skip_without_device(state)) return;
  time_copy_d2d(0, &state);
  state.counters["bytes_per_s"] =
      benchmark::Counter(2.0 * kCopyBytes, benchmark::Counter::kIsIterationInvariantRate);
}

// SMs x SM clock of device 0 (per second): a per-SM, per-clock rate times this is the device's.
double sm_clocks_per_s() {
  int sms = 0, clock_khz = 0;
  GAPBENCH_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  GAPBENCH_CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0));
  return static_cast<double>(sms) * clock_khz * 1e3;
}

// FP32 peak of device 0: 128 FP32 lanes x 2 (FMA) per SM per clock, the Hopper figure.
double fp32_peak_flops() { return 128 * 2 * sm_clocks_per_s(); }

ModelSpec bench_model(ModelKind kind, std::int64_t T) {
  ModelSpec spec;
  spec.kind = kind;
  spec.T = T;
  spec.d = spec.dk = 64;  // the issue's attention: gaussian inputs, d = d_k = 64
  return spec;
}

// Times `work` (queued on `stream`) with events: one warm-up, then the benchmark's iterations.
template <typename Work>
double time_on_stream(benchmark::State& state, const cuda::Stream& stream, Work work) {
  work();
  stream.synchronize();
  cuda::Event start, stop;
  double total = 0;
  std::int64_t n = 0;
  for (auto _ : state) {
    start.record(stream);
    work();
    stop.record(stream);
    const double s = stop.elapsed_ms_since(start) / 1e3;
    state.SetIterationTime(s);
    total += s;
    ++n;
  }
  return n ? total / n : 0;
}

// The generation workspace of matrix 0 of `spec` (seed 0): its factors and row sums.
template <typename Real>
struct Generation {
  explicit Generation(const ModelSpec& spec)
      : spec(spec),
        factors(static_cast<std::size_t>(attention_factor_elements(spec))),
        rows(static_cast<std::size_t>(spec.T)) {}
  // Matrix 0 into `a` (row-major T x T on the device), queued on `blas`'s stream.
  void into(Real* a, const cuda::Stream& stream, const cuda::CublasHandle& blas) {
    cuda::generate_batch<Real>(spec, 0, {0}, a, rows.data(), factors.data(), stream.get(),
                               blas.get());
  }
  ModelSpec spec;
  cuda::DeviceBuffer<Real> factors;
  cuda::DeviceBuffer<RowSquares> rows;
};

void bm_generate(benchmark::State& state, ModelKind kind, std::int64_t T) {
  if (skip_without_device(state)) return;
  const ModelSpec spec = bench_model(kind, T);
  cuda::Stream stream;
  cuda::CublasHandle blas(stream.get());
  cuda::DeviceBuffer<float> a(static_cast<std::size_t>(T * T));
  Generation<float> generation(spec);
  const double seconds =
      time_on_stream(state, stream, [&] { generation.into(a.data(), stream, blas); });
  const double bytes = 4.0 * T * T;
  const double memory_floor = bytes / gpu_copy_bandwidth();
  const double compute_floor =
      kind == ModelKind::kAttention ? 2.0 * T * T * spec.dk / fp32_peak_flops() : 0.0;
  state.counters["bytes_per_s"] = bytes / seconds;
  state.counters["pct_of_copy_bw"] = 100.0 * bytes / seconds / gpu_copy_bandwidth();
  state.counters["memory_floor_s"] = memory_floor;
  state.counters["compute_floor_s"] = compute_floor;
  state.counters["x_floor"] = seconds / std::max(memory_floor, compute_floor);
  state.counters["compute_bound"] = compute_floor > memory_floor ? 1 : 0;
}

__global__ void markov_draws_only(std::int64_t T, double* out) {
  double acc = 0;
  const std::int64_t n = T * T;
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    acc += markov_raw_entry<float>(EntryLaw::kExponential, 1.0f, 0, 0,
                                   static_cast<std::uint32_t>(e / T),
                                   static_cast<std::uint32_t>(e % T));
  }
  if (acc == -1.0) out[0] = acc;  // never true: keeps the draws from being optimised away
}

void bm_markov_draws(benchmark::State& state, std::int64_t T) {
  if (skip_without_device(state)) return;
  cuda::Stream stream;
  cuda::DeviceBuffer<double> sink(1);
  int sms = 0;
  GAPBENCH_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  const double seconds = time_on_stream(state, stream, [&] {
    markov_draws_only<<<sms * 8, 256, 0, stream.get()>>>(T, sink.data());
    GAPBENCH_CUDA_CHECK_LAUNCH();
  });
  state.counters["draws_per_s"] = static_cast<double>(T) * T / seconds;
  state.counters["x_memory_floor"] = seconds / (4.0 * T * T / gpu_copy_bandwidth());
}

// One product of a batch of B float32 T x T matrices (row-major, as the solvers hold them) with a
// block of `cols` vectors: A X, or A^T X with `transpose`, by cuBLAS (strided-batched GEMV or
// GEMM) or by the block-product kernels (cuda/block_product.cuh) that the dense operator uses.
void bm_batch_pass(benchmark::State& state, int batch, std::int64_t T, int cols, bool transpose,
                   bool kernels) {
  if (skip_without_device(state)) return;
  cuda::Stream stream;
  cuda::CublasHandle blas(stream.get());
  cuda::DeviceBuffer<float> a(static_cast<std::size_t>(batch) * T * T);
  cuda::DeviceBuffer<float> x(static_cast<std::size_t>(batch) * T * cols);
  cuda::DeviceBuffer<float> y(static_cast<std::size_t>(batch) * T * cols);
  cuda::DeviceBuffer<float> workspace(
      static_cast<std::size_t>(cuda::block_product_workspace_elements(
          transpose ? cuda::ProductSide::kM : cuda::ProductSide::kMTranspose, T, T, cols, batch)));
  GAPBENCH_CUDA_CHECK(cudaMemsetAsync(a.data(), 0, a.bytes(), stream.get()));
  GAPBENCH_CUDA_CHECK(cudaMemsetAsync(x.data(), 0, x.bytes(), stream.get()));
  // Row-major A is the column-major M = A^T: A X = M^T X (cuBLAS op T), A^T X = M X (op N).
  const cublasOperation_t op = transpose ? CUBLAS_OP_N : CUBLAS_OP_T;
  const double seconds = time_on_stream(state, stream, [&] {
    if (kernels) {
      cuda::block_product<float>(transpose ? cuda::ProductSide::kM : cuda::ProductSide::kMTranspose,
                                 {a.data(), T, T, T, T * T}, {x.data(), T, T * cols},
                                 {y.data(), T, T * cols}, cols, batch, workspace, stream.get());
    } else if (cols == 1) {
      cuda::blas::gemv_strided_batched(blas.get(), op, T, T, 1.0f, a.data(), T, T * T, x.data(), T,
                                       0.0f, y.data(), T, batch);
    } else {
      cuda::blas::gemm_strided_batched(blas.get(), op, CUBLAS_OP_N, T, cols, T, 1.0f, a.data(), T,
                                       T * T, x.data(), T, T * cols, 0.0f, y.data(), T, T * cols,
                                       batch);
    }
  });
  const double bytes = 4.0 * T * T * batch;
  state.counters["bytes_per_s"] = bytes / seconds;
  state.counters["pct_of_copy_bw"] = 100.0 * bytes / seconds / gpu_copy_bandwidth();
  state.counters["x_floor"] = seconds / (bytes / gpu_copy_bandwidth());
}

// One product of the fused (matrix-free) operator for the float32 attention matrix with a block
// of b vectors, A X or A^T X, on-chip kernel or three-step tiles (FusedForm), with full or TF32
// logits; building the operator (factors and the statistics pass) is outside the timing. Floors:
// the exp floor (T^2 exponentials at SMs x 16 per clock, Hopper's SFU rate) and the logits floor
// (2 T^2 dk flops: at the FP32 peak for full logits, at Hopper's dense TF32 tensor-core rate of
// SMs x 2048 flops per clock for --logits tf32); x_floor is against the larger.
void bm_fused_pass(benchmark::State& state, std::int64_t T, int b, bool transpose,
                   cuda::FusedForm form, LogitsPrecision logits) {
  if (skip_without_device(state)) return;
  ModelSpec spec = bench_model(ModelKind::kAttention, T);
  spec.logits = logits;
  cuda::Stream stream;
  cuda::CublasHandle blas(stream.get());
  const cuda::DeviceFusedOperator<float> op(spec, 0, 0, stream.get(), blas.get(), 8192, 8192, form);
  cuda::DeviceBuffer<float> x(static_cast<std::size_t>(T * b)), y(x.size());
  GAPBENCH_CUDA_CHECK(cudaMemsetAsync(x.data(), 0, x.bytes(), stream.get()));
  const BlockView<const float> xv{x.data(), T, b, T};
  const BlockView<float> yv{y.data(), T, b, T};
  const double seconds = time_on_stream(
      state, stream, [&] { transpose ? op.apply_transpose(xv, yv) : op.apply(xv, yv); });
  const double per_clock = sm_clocks_per_s();
  const double entries = static_cast<double>(T) * T;
  const double exp_floor = entries / (16 * per_clock);
  const double logits_flops = 2.0 * entries * spec.dk;
  const double logits_floor = logits == LogitsPrecision::kFull ? logits_flops / fp32_peak_flops()
                                                               : logits_flops / (2048 * per_clock);
  state.counters["exp_floor_s"] = exp_floor;
  state.counters["logits_floor_s"] = logits_floor;
  state.counters["x_floor"] = seconds / std::max(exp_floor, logits_floor);
  state.counters["entries_per_s"] = entries / seconds;
}

// s2 of the float64 attention matrix (seed 0, index 0) from lanczos at tol 1e-10, cached.
double reference_s2(std::int64_t T) {
  static std::int64_t cached_T = 0;
  static double cached = 0;
  if (cached_T == T) return cached;
  const ModelSpec spec = bench_model(ModelKind::kAttention, T);
  cuda::Stream stream;
  cuda::CublasHandle blas(stream.get());
  cuda::DeviceBuffer<double> a(static_cast<std::size_t>(T * T));
  Generation<double>(spec).into(a.data(), stream, blas);
  cuda::DeviceDenseOperator<double> op(a.data(), T, T, blas.get());
  cuda::DeviceBlockOps<double> ops(stream.get(), blas.get());
  SolverOptions o;
  o.kind = SolverKind::kLanczos;
  o.tol = 1e-10;
  cached = solve_iterative<double>(op, ops, o, Precision::kFloat64, 0, 4).values.at(1);
  cached_T = T;
  return cached;
}

void bm_solve(benchmark::State& state, SolverKind kind, std::int64_t T, int power_iters,
              int block = 1, double tol = 0) {
  if (skip_without_device(state)) return;
  const double ref = reference_s2(T);
  const ModelSpec spec = bench_model(ModelKind::kAttention, T);
  cuda::Stream stream;
  cuda::CublasHandle blas(stream.get());
  cuda::CusolverHandle solver(stream.get());
  cuda::DeviceBuffer<float> a(static_cast<std::size_t>(T * T));
  cuda::DeviceBuffer<float> work(kind == SolverKind::kXgesvdr ? a.size() : 0);  // gesvdr overwrites
  Generation<float>(spec).into(a.data(), stream, blas);
  SolverOptions o;
  o.kind = kind;
  o.k = 4;
  o.block = block;
  o.tol = tol;
  const cuda::DeviceDenseOperator<float> op(a.data(), T, T, blas.get());  // its scratch too
  SolveResult r;
  double total = 0;
  std::int64_t n = 0;
  for (auto _ : state) {
    if (kind == SolverKind::kXgesvdr) {
      GAPBENCH_CUDA_CHECK(cudaMemcpyAsync(work.data(), a.data(), a.bytes(),
                                          cudaMemcpyDeviceToDevice, stream.get()));
    }
    stream.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    if (kind == SolverKind::kXgesvdr) {
      r = cuda::xgesvdr_values<float>(solver, work.data(), T, 4, default_oversample(4),
                                      power_iters);
    } else {
      cuda::DeviceBlockOps<float> ops(stream.get(), blas.get());
      r = solve_iterative<float>(op, ops, o, Precision::kFloat32, 0, block);
    }
    stream.synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(s);
    total += s;
    ++n;
  }
  const double seconds = n ? total / n : 0;
  state.counters["passes_over_A"] = static_cast<double>(r.passes);
  state.counters["s2"] = r.values.at(1);
  state.counters["rel_err_s2"] = std::abs(r.values.at(1) - ref) / ref;
  state.counters["converged"] = r.converged ? 1 : 0;
  if (r.passes > 0) {
    state.counters["per_pass_x_floor"] =
        seconds / static_cast<double>(r.passes) / (4.0 * T * T / gpu_copy_bandwidth());
  }
}

// nvidia-smi's view of device 0: clocks, temperature, power, persistence mode.
// The first line nvidia-smi prints for `query` about device 0, or "" when it fails.
std::string nvidia_smi_line(const std::string& query) {
  const std::string command =
      "nvidia-smi --query-gpu=" + query + " --format=csv,noheader,nounits -i 0 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  std::array<char, 256> buf{};
  return pipe && std::fgets(buf.data(), buf.size(), pipe.get()) ? buf.data() : "";
}

// NVML's clock-event (throttle) reasons of device 0 as a bit mask ("0x0000000000000001": GPU
// idle), under their name since driver R535 and their older one; nullopt when neither answers.
std::optional<double> throttle_reasons() {
  for (const char* field : {"clocks_event_reasons.active", "clocks_throttle_reasons.active"}) {
    const std::string line = nvidia_smi_line(field);
    char* end = nullptr;
    const unsigned long long bits = std::strtoull(line.c_str(), &end, 16);
    if (end != line.c_str() && line.rfind("0x", 0) == 0) return static_cast<double>(bits);
  }
  return std::nullopt;
}

void bm_device_state(benchmark::State& state) {
  if (skip_without_device(state)) return;
  std::string line;
  for (auto _ : state) {
    line = nvidia_smi_line("clocks.sm,clocks.mem,temperature.gpu,power.draw,persistence_mode");
  }
  std::istringstream in(line);
  std::string field;
  const char* names[] = {"sm_clock_mhz", "mem_clock_mhz", "temperature_c", "power_w"};
  for (const char* name : names) {
    if (!std::getline(in, field, ',')) break;
    try {
      state.counters[name] = std::stod(field);
    } catch (const std::exception&) {
      // "[N/A]": not reported by this device
    }
  }
  if (std::getline(in, field)) {
    state.counters["persistence_mode"] = field.find("Enabled") != std::string::npos ? 1 : 0;
  }
  // Read apart from the others: a driver that knows neither field name fails only this one.
  if (const auto bits = throttle_reasons()) state.counters["throttle_reasons"] = *bits;
  if (line.empty()) state.SkipWithError("nvidia-smi gave no device state");
}

}  // namespace

void register_gpu_benchmarks(const char* phase) {
  benchmark::RegisterBenchmark(fmt::format("gpu/device_state/{}", phase).c_str(), bm_device_state)
      ->Iterations(1);
  if (std::string(phase) != "start") return;
  benchmark::RegisterBenchmark("gpu/copy/d2d/bytes:1GiB", bm_copy_d2d)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond)
      ->Repetitions(harness_options().repetitions);
  const auto reps = [](benchmark::internal::Benchmark* b) {
    b->UseManualTime()->Unit(benchmark::kMillisecond)->Repetitions(3)->Iterations(3);
  };
  const std::int64_t max_T = harness_options().max_T;
  for (const std::int64_t T : {16384, 32768}) {
    if (T > max_T) continue;
    for (const ModelKind kind : {ModelKind::kMarkov, ModelKind::kAttention}) {
      reps(benchmark::RegisterBenchmark(
          fmt::format("gpu/generate/{}/T:{}/float32", to_string(kind), T).c_str(),
          [kind, T](benchmark::State& s) { bm_generate(s, kind, T); }));
    }
    reps(benchmark::RegisterBenchmark(fmt::format("gpu/generate/markov_draws/T:{}", T).c_str(),
                                      [T](benchmark::State& s) { bm_markov_draws(s, T); }));
  }
  // Passes: cuBLAS and the block-product kernels side by side, A X and A^T X.
  const auto passes = [&](int batch, std::int64_t T) {
    for (const int cols : {1, 4}) {
      for (const bool transpose : {false, true}) {
        for (const bool kernels : {false, true}) {
          reps(benchmark::RegisterBenchmark(
              fmt::format("gpu/pass/B:{}/T:{}/cols:{}/float32/{}/{}", batch, T, cols,
                          transpose ? "At_X" : "A_X", kernels ? "block_product" : "cublas")
                  .c_str(),
              [=](benchmark::State& s) { bm_batch_pass(s, batch, T, cols, transpose, kernels); }));
        }
      }
    }
  };
  if (4096 <= max_T) passes(64, 4096);
  if (32768 <= max_T) {
    passes(1, 32768);
    // The fused operator's product: on-chip (full and TF32 logits) and three-step side by side.
    struct FusedCase {
      cuda::FusedForm form;
      LogitsPrecision logits;
      const char* name;
    };
    for (const bool transpose : {false, true}) {
      for (const FusedCase& c :
           {FusedCase{cuda::FusedForm::kAuto, LogitsPrecision::kFull, "on_chip"},
            FusedCase{cuda::FusedForm::kAuto, LogitsPrecision::kTf32, "on_chip_tf32"},
            FusedCase{cuda::FusedForm::kThreeStep, LogitsPrecision::kFull, "three_step"}}) {
        reps(benchmark::RegisterBenchmark(
            fmt::format("gpu/fused/pass/T:65536/b:8/float32/{}/{}", transpose ? "At_X" : "A_X",
                        c.name)
                .c_str(),
            [=](benchmark::State& s) { bm_fused_pass(s, 65536, 8, transpose, c.form, c.logits); }));
      }
    }
    const auto solve = [](benchmark::internal::Benchmark* b) {
      b->UseManualTime()->Unit(benchmark::kMillisecond)->Repetitions(3)->Iterations(1);
    };
    for (const int block : {1, 4, 8}) {
      solve(benchmark::RegisterBenchmark(
          fmt::format("gpu/solve/lanczos/T:32768/k:4/block:{}/float32", block).c_str(),
          [block](benchmark::State& s) { bm_solve(s, SolverKind::kLanczos, 32768, 0, block); }));
    }
    // Looser residual tolerances: the accuracy on s2 that xgesvdr reaches (~1e-4) for fewer
    // passes (the error of a value goes as residual^2 / gap once it separates). On the CPU, on
    // this matrix (results/cpu/AMD_EPYC_2t/lanczos_accuracy_T32768.csv): block 4 at tol 0.1
    // takes 12 passes for an s2 error of 4e-5, block 8 at 0.1 10 passes for 8.7e-5 and at 0.01
    // 12 passes for 7e-7.
    for (const auto& [block, tol] : {std::pair{4, 1e-1}, std::pair{4, 3e-2}, std::pair{4, 1e-2},
                                     std::pair{8, 1e-1}, std::pair{8, 1e-2}}) {
      solve(benchmark::RegisterBenchmark(
          fmt::format("gpu/solve/lanczos/T:32768/k:4/block:{}/tol:{}/float32", block, tol).c_str(),
          [block = block, tol = tol](benchmark::State& s) {
            bm_solve(s, SolverKind::kLanczos, 32768, 0, block, tol);
          }));
    }
    for (const int iters : {2, 4, 5, 6, 7, 8}) {
      solve(benchmark::RegisterBenchmark(
          fmt::format("gpu/solve/xgesvdr/T:32768/k:4/iters:{}/float32", iters).c_str(),
          [iters](benchmark::State& s) { bm_solve(s, SolverKind::kXgesvdr, 32768, iters); }));
    }
  }
}

}  // namespace gapbench::bench
