#include <cub/block/block_reduce.cuh>

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "blas.cuh"
#include "gapbench/entries.hpp"
#include "gapbench/factors.hpp"
#include "generate.cuh"
#include "logits_gemm.cuh"
#include "resources.cuh"
#include "softmax_stats.cuh"
#include "vector16.cuh"

namespace gapbench::cuda {
namespace {

// The Philox stream enum (rng.hpp), not the RAII cuda::Stream of resources.cuh.
using RngStream = ::gapbench::Stream;

struct AddSquares {
  __device__ __forceinline__ RowSquares operator()(RowSquares a, RowSquares b) const {
    return add(a, b);
  }
};

// Sums the row's squares over the block and writes them (the host adds the rows: sum_rows).
template <int kThreads>
__device__ void write_row_stats(RowSquares local, RowSquares* out) {
  using Reduce = cub::BlockReduce<RowSquares, kThreads>;
  __shared__ typename Reduce::TempStorage storage;
  const RowSquares r = Reduce(storage).Reduce(local, AddSquares());
  if (threadIdx.x == 0) *out = r;
}

constexpr int kRowThreads = 256;
constexpr int kCachedRowThreads = 1024;

// One thread block per (row i = blockIdx.x, matrix b = blockIdx.y) of a markov batch.
template <typename Real>
__global__ void __launch_bounds__(kRowThreads)
    markov_rows(EntryLaw law, Real beta, std::uint64_t seed, const std::uint32_t* indices,
                std::int64_t T, Fix fix, Real* a, RowSquares* row_stats) {
  const std::int64_t i = blockIdx.x;
  const std::int64_t b = blockIdx.y;
  const std::uint32_t index = indices[b];
  const auto row_id = static_cast<std::uint32_t>(i);
  const bool logits = markov_uses_logits(law);
  Real* row = a + (b * T + i) * T;

  MaxSum local = empty_row(logits);
  for (std::int64_t j = threadIdx.x; j < T; j += kRowThreads) {
    const Real raw =
        markov_raw_entry<Real>(law, beta, seed, index, row_id, static_cast<std::uint32_t>(j));
    if (logits) {
      add_logit(local, static_cast<double>(raw));
    } else {
      add_weight(local, static_cast<double>(raw));
    }
  }
  const MaxSum norm = block_normaliser<kRowThreads>(local);
  const Real row_max = static_cast<Real>(norm.max);
  const Real inv = static_cast<Real>(1.0 / norm.sum);
  const Real shift = fix_shift<Real>(fix, T);
  const double inv_t = 1.0 / static_cast<double>(T);

  RowSquares sums{0.0, 0.0};
  for (std::int64_t j = threadIdx.x; j < T; j += kRowThreads) {
    const Real raw =
        markov_raw_entry<Real>(law, beta, seed, index, row_id, static_cast<std::uint32_t>(j));
    const Real v = (logits ? softmax_weight(raw, row_max) : raw) * inv;
    add_entry(sums, v, inv_t);
    row[j] = v - shift;
  }
  write_row_stats<kRowThreads>(sums, row_stats + b * T + i);
}

// Block reduction operators: the larger of two values, and their sum.
struct MaxOp {
  template <typename Real>
  __device__ __forceinline__ Real operator()(Real a, Real b) const {
    return a > b ? a : b;
  }
};
struct SumOp {
  __device__ __forceinline__ double operator()(double a, double b) const { return a + b; }
};

// The block-wide reduction of `local` by `op`, broadcast to every thread.
template <typename T, int kThreads, typename Op>
__device__ T block_all_reduce(T local, Op op) {
  using Reduce = cub::BlockReduce<T, kThreads>;
  __shared__ typename Reduce::TempStorage storage;
  __shared__ T total;
  const T r = Reduce(storage).Reduce(local, op);
  if (threadIdx.x == 0) total = r;
  __syncthreads();
  return total;
}

// Row softmax of attention logits in place: one thread block per (row, matrix), in the CPU's
// steps: the row maximum, the sum of the weights exp(x - max) at the matrix's precision
// accumulated in float64, then the normalised row. With kCached the row is held in dynamic shared
// memory (the scaled logits, then their weights), so the logits are read once, each weight
// computed once and the result written once; otherwise they are read three times. Cached rows
// that start on 16 bytes (`vector_rows`: `a` aligned, T a multiple of 16 / sizeof(Real)) move as
// 16-byte vectors, several per
// thread in flight: with one 128 KiB row per SM (T = 32768, float32) the loads in flight, not
// the bandwidth, set the pace.
template <typename Real, bool kCached, int kThreads>
__global__ void __launch_bounds__(kThreads)
    softmax_rows(std::int64_t T, Real logit_scale, bool causal, Fix fix, Real* a, RowSquares* row_stats,
                 bool vector_rows) {
  using Vec = Vector16<Real>;
  using VecType = typename Vec::type;
  constexpr int W = Vec::width;
  extern __shared__ __align__(16) unsigned char shared_row_bytes[];
  Real* cache = reinterpret_cast<Real*>(shared_row_bytes);
  const std::int64_t i = blockIdx.x;
  const std::int64_t b = blockIdx.y;
  Real* row = a + (b * T + i) * T;
  const std::int64_t valid = attended_in(i, 0, T, causal);
  // Whole vectors of the row (every entry, masked ones too); 0 takes the scalar loops throughout.
  const std::int64_t vectors = kCached && vector_rows ? T / W : 0;

  // 1. The row maximum over the valid entries; cached: the scaled logits into shared memory.
  Real local_max = -INFINITY;
#pragma unroll 4
  for (std::int64_t g = threadIdx.x; g < vectors; g += kThreads) {
    Real e[W];
    Vec::unpack(reinterpret_cast<const VecType*>(row)[g], e);
#pragma unroll
    for (int r = 0; r < W; ++r) {
      e[r] *= logit_scale;
      if (g * W + r < valid && e[r] > local_max) local_max = e[r];
    }
    reinterpret_cast<VecType*>(cache)[g] = Vec::pack(e);
  }
  for (std::int64_t j = vectors * W + threadIdx.x; j < valid; j += kThreads) {
    const Real x = row[j] * logit_scale;
    if constexpr (kCached) cache[j] = x;
    local_max = x > local_max ? x : local_max;
  }
  const Real row_max = block_all_reduce<Real, kThreads>(local_max, MaxOp());

  // 2. The sum of the weights; cached: the weights replace the logits.
  double local_sum = 0;
  for (std::int64_t j = threadIdx.x; j < valid; j += kThreads) {
    const Real w = softmax_weight(kCached ? cache[j] : row[j] * logit_scale, row_max);
    if constexpr (kCached) cache[j] = w;
    local_sum += static_cast<double>(w);
  }
  const double sum = block_all_reduce<double, kThreads>(local_sum, SumOp());  // also a barrier
  const Real inv = static_cast<Real>(1.0 / sum);
  const Real shift = fix_shift<Real>(fix, T);
  const double inv_t = 1.0 / static_cast<double>(T);

  // 3. The normalised row, masked entries 0, less the fix's shift.
  RowSquares sums{0.0, 0.0};
#pragma unroll 4
  for (std::int64_t g = threadIdx.x; g < vectors; g += kThreads) {
    Real e[W];
    Vec::unpack(reinterpret_cast<const VecType*>(cache)[g], e);
#pragma unroll
    for (int r = 0; r < W; ++r) {
      const Real v = g * W + r < valid ? e[r] * inv : Real(0);
      add_entry(sums, v, inv_t);
      e[r] = v - shift;
    }
    reinterpret_cast<VecType*>(row)[g] = Vec::pack(e);
  }
  for (std::int64_t j = vectors * W + threadIdx.x; j < T; j += kThreads) {
    Real v = 0;
    if (j < valid) v = (kCached ? cache[j] : softmax_weight(row[j] * logit_scale, row_max)) * inv;
    add_entry(sums, v, inv_t);
    row[j] = v - shift;
  }
  write_row_stats<kThreads>(sums, row_stats + b * T + i);
}

// Row-major rows x cols factor matrices, one per batch entry (blockIdx.y), `scale` times
// standard normals from counter (column, row, index, stream); the batch's indices in device
// memory, or (indices null) the one `index`.
template <typename Real>
__global__ void gaussian_factors(RngStream stream, Real scale, std::uint64_t seed,
                                 const std::uint32_t* indices, std::uint32_t index,
                                 std::int64_t rows, std::int64_t cols, Real* out) {
  const std::int64_t b = blockIdx.y;
  const std::int64_t n = rows * cols;
  const std::uint32_t matrix = indices ? indices[b] : index;
  Real* m = out + b * n;
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    m[e] = gaussian_factor_entry<Real>(stream, scale, seed, matrix,
                                       static_cast<std::uint32_t>(e / cols),
                                       static_cast<std::uint32_t>(e % cols));
  }
}

template <typename Real>
void launch_factors(const FactorDraw& f, std::uint64_t seed, const std::uint32_t* indices,
                    std::uint32_t index, int batch, Real* out, cudaStream_t s) {
  constexpr int kThreads = 256;
  const std::int64_t blocks = std::min<std::int64_t>((f.rows * f.cols + kThreads - 1) / kThreads,
                                                     4096);
  gaussian_factors<Real><<<dim3(static_cast<unsigned>(std::max<std::int64_t>(blocks, 1)), batch),
                           kThreads, 0, s>>>(f.stream, static_cast<Real>(f.scale), seed, indices,
                                             index, f.rows, f.cols, out);
  GAPBENCH_CUDA_CHECK_LAUNCH();
}

// Largest dynamic shared memory one block may use on the current device.
int shared_memory_optin_bytes() {
  int device = 0, bytes = 0;
  GAPBENCH_CUDA_CHECK(cudaGetDevice(&device));
  GAPBENCH_CUDA_CHECK(
      cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  return bytes;
}

template <typename Real>
void launch_softmax(std::int64_t T, int batch, Real logit_scale, bool causal, Fix fix, Real* a,
                    RowSquares* row_stats, cudaStream_t s) {
  const dim3 grid(static_cast<unsigned>(T), static_cast<unsigned>(batch));
  // Static shared memory of the two block reductions, well under this margin.
  constexpr std::size_t kReductionMargin = 8 * 1024;
  const std::size_t row_bytes = static_cast<std::size_t>(T) * sizeof(Real);
  if (row_bytes + kReductionMargin <= static_cast<std::size_t>(shared_memory_optin_bytes())) {
    auto kernel = softmax_rows<Real, true, kCachedRowThreads>;
    GAPBENCH_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(row_bytes)));
    const bool vector_rows =
        reinterpret_cast<std::uintptr_t>(a) % 16 == 0 && T % Vector16<Real>::width == 0;
    kernel<<<grid, kCachedRowThreads, row_bytes, s>>>(T, logit_scale, causal, fix, a, row_stats,
                                                      vector_rows);
  } else {
    softmax_rows<Real, false, kRowThreads>
        <<<grid, kRowThreads, 0, s>>>(T, logit_scale, causal, fix, a, row_stats, false);
  }
  GAPBENCH_CUDA_CHECK_LAUNCH();
}

// Queues the queries and keys of a batch by the shared recipe (factors.hpp): Q at workspace
// (B x T x dk, row-major each), K after them; for gaussian inputs X, W_Q and W_K follow
// (attention_factor_elements).
template <typename Real>
void queue_attention_factors(const ModelSpec& spec, std::uint64_t seed,
                             const std::uint32_t* d_indices, int batch, Real* workspace,
                             cudaStream_t stream, cublasHandle_t blas) {
  const std::int64_t T = spec.T, d = spec.d, dk = spec.dk;
  const AttentionRecipe r = attention_recipe(spec);
  Real* q = workspace;           // B x (T x dk), row-major each
  Real* k = q + batch * T * dk;  // B x (T x dk)
  if (r.direct) {
    launch_factors(r.q, seed, d_indices, 0, batch, q, stream);
    launch_factors(r.k, seed, d_indices, 0, batch, k, stream);
  } else {
    Real* x = k + batch * T * dk;    // B x (T x d)
    Real* wq = x + batch * T * d;    // B x (d x dk)
    Real* wk = wq + batch * d * dk;  // B x (d x dk)
    launch_factors(r.x, seed, d_indices, 0, batch, x, stream);
    launch_factors(r.wq, seed, d_indices, 0, batch, wq, stream);
    launch_factors(r.wk, seed, d_indices, 0, batch, wk, stream);
    // Row-major Q = X W is column-major Q^T = W^T X^T: (dk x d)(d x T).
    blas::gemm_strided_batched(blas, CUBLAS_OP_N, CUBLAS_OP_N, dk, T, d, Real(1), wq, dk, d * dk,
                               x, d, T * d, Real(0), q, dk, T * dk, batch);
    blas::gemm_strided_batched(blas, CUBLAS_OP_N, CUBLAS_OP_N, dk, T, d, Real(1), wk, dk, d * dk,
                               x, d, T * d, Real(0), k, dk, T * dk, batch);
  }
  round_logits_inputs(spec.logits, q, 2 * batch * T * dk, stream);  // Q and K are adjacent
}

// The logits of a batch of factors (T x dk each) into `a` (row i of matrix b is column i of the
// column-major K Q^T: (K^T stored dk x T)^T (Q^T stored dk x T)) at the precision `logits` asks,
// then the row softmax of logit_scale times them with the causal mask and the fix, and each row's
// sums into row_stats.
template <typename Real>
void queue_attention(std::int64_t T, std::int64_t dk, LogitsPrecision logits, Real logit_scale,
                     bool causal, Fix fix, int batch, const Real* q, const Real* k, Real* a,
                     RowSquares* row_stats, cudaStream_t stream, cublasHandle_t blas) {
  DeviceBuffer<__nv_bfloat16> q16, k16;  // BF16 copies of Q and K for --logits bf16
  if constexpr (std::is_same_v<Real, float>) {
    if (logits == LogitsPrecision::kBf16) {
      q16 = bf16_copy(q, batch * T * dk, stream);
      k16 = bf16_copy(k, batch * T * dk, stream);
    }
  }
  logits_gemm<Real>(blas, logits, T, T, dk, k, k16.data(), dk, T * dk, q, q16.data(), dk, T * dk,
                    a, T, T * T, batch);
  launch_softmax<Real>(T, batch, logit_scale, causal, fix, a, row_stats, stream);
  // The copies are freed on return: wait for the GEMM that reads them.
  if (q16.data()) GAPBENCH_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace

template <typename Real>
void generate_attention_factors(const ModelSpec& spec, std::uint64_t seed, std::uint32_t index,
                                Real* workspace, cudaStream_t stream, cublasHandle_t blas) {
  validate(spec);
  DeviceBuffer<std::uint32_t> d_index(1);
  GAPBENCH_CUDA_CHECK(cudaMemcpyAsync(d_index.data(), &index, sizeof(std::uint32_t),
                                      cudaMemcpyHostToDevice, stream));
  queue_attention_factors(spec, seed, d_index.data(), 1, workspace, stream, blas);
  GAPBENCH_CUDA_CHECK(cudaStreamSynchronize(stream));  // before d_index is freed
}

template <typename Real>
void generate_batch(const ModelSpec& spec, std::uint64_t seed,
                    const std::vector<std::uint32_t>& indices, Real* a, RowSquares* row_stats,
                    Real* workspace, cudaStream_t stream, cublasHandle_t blas) {
  validate(spec);
  const int batch = static_cast<int>(indices.size());
  if (batch == 0) return;
  const std::int64_t T = spec.T;
  // grid.x (one block per row) takes at most 2^31 - 1 blocks, grid.y (matrices) 65535.
  if (T > std::numeric_limits<std::int32_t>::max() || batch > 65535) {
    throw UsageError("--T: the CUDA generator takes T < 2^31 and batches of at most 65535");
  }
  DeviceBuffer<std::uint32_t> d_indices(indices.size());
  GAPBENCH_CUDA_CHECK(cudaMemcpyAsync(d_indices.data(), indices.data(),
                                      indices.size() * sizeof(std::uint32_t),
                                      cudaMemcpyHostToDevice, stream));
  const dim3 grid(static_cast<unsigned>(T), static_cast<unsigned>(batch));

  if (spec.kind == ModelKind::kMarkov) {
    markov_rows<Real><<<grid, kRowThreads, 0, stream>>>(
        spec.law, static_cast<Real>(spec.beta), seed, d_indices.data(), T, spec.fix, a, row_stats);
    GAPBENCH_CUDA_CHECK_LAUNCH();
  } else {
    queue_attention_factors(spec, seed, d_indices.data(), batch, workspace, stream, blas);
    const Real* q = workspace;                        // B x (T x dk), row-major each
    const Real* k = workspace + batch * T * spec.dk;  // B x (T x dk)
    queue_attention<Real>(T, spec.dk, spec.logits,
                          attention_logit_scale(static_cast<Real>(spec.beta), spec.dk),
                          spec.causal, spec.fix, batch, q, k, a, row_stats, stream, blas);
  }
  // d_indices is freed on return: wait for the kernels that read it.
  GAPBENCH_CUDA_CHECK(cudaStreamSynchronize(stream));
}

template <typename Real>
void attention_of_factors(std::int64_t T, std::int64_t dk, const Real* queries, const Real* keys,
                          Real logit_scale, bool causal, Fix fix, Real* a, RowSquares* row_stats,
                          cudaStream_t stream, cublasHandle_t blas) {
  if (T > std::numeric_limits<std::int32_t>::max()) {
    throw UsageError("--T: the CUDA generator takes T < 2^31");
  }
  queue_attention<Real>(T, dk, LogitsPrecision::kFull, logit_scale, causal, fix, 1, queries, keys,
                        a, row_stats, stream, blas);
}

template <typename Real>
void fill_gaussian(const FactorDraw& draw, std::uint64_t seed, std::uint32_t index, Real* out,
                   cudaStream_t stream) {
  launch_factors<Real>(draw, seed, nullptr, index, 1, out, stream);
}

#define GAPBENCH_INSTANTIATE(Real)                                                                 \
  template void generate_attention_factors<Real>(const ModelSpec&, std::uint64_t, std::uint32_t,  \
                                                 Real*, cudaStream_t, cublasHandle_t);             \
  template void generate_batch<Real>(const ModelSpec&, std::uint64_t,                              \
                                     const std::vector<std::uint32_t>&, Real*, RowSquares*, Real*, \
                                     cudaStream_t, cublasHandle_t);                                \
  template void attention_of_factors<Real>(std::int64_t, std::int64_t, const Real*, const Real*,  \
                                           Real, bool, Fix, Real*, RowSquares*, cudaStream_t,      \
                                           cublasHandle_t);                                        \
  template void fill_gaussian<Real>(const FactorDraw&, std::uint64_t, std::uint32_t, Real*,        \
                                    cudaStream_t);
GAPBENCH_INSTANTIATE(float)
GAPBENCH_INSTANTIATE(double)
#undef GAPBENCH_INSTANTIATE

}  // namespace gapbench::cuda
