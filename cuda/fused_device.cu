#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "blas.cuh"
#include "fused_attention.cuh"
#include "fused_device.cuh"
#include "gapbench/cuda_api.hpp"
#include "gapbench/entries.hpp"
#include "generate.cuh"
#include "logits_gemm.cuh"
#include "softmax_stats.cuh"

namespace gapbench::cuda {
namespace {

constexpr int kThreads = 256;

// Tiles hold at most kMaxTileSide^2 entries, so positions inside a tile fit 32-bit arithmetic
// (cheaper divisions in the per-entry kernel).
constexpr std::int64_t kMaxTileSide = 16384;

// The raw value of entry (i, j): the scaled logit (attention; the tile holds the logit) or the
// markov entry drawn from its counter.
template <typename Real>
__device__ __forceinline__ Real raw_value(const ModelSpec& spec, bool attention, Real logit_scale,
                                          std::uint64_t seed, std::uint32_t index, Real stored,
                                          std::int64_t i, std::int64_t j) {
  if (attention) return stored * logit_scale;
  return markov_raw_entry<Real>(spec.law, static_cast<Real>(spec.beta), seed, index,
                                static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(j));
}

// Fills the tile (rows [i0, i0 + ni), columns [j0, j0 + nj)) in place: the raw values
// (raw_only, for the statistics pass) or the entries of A, masked entries 0. Tile entry e
// (column-major nj x ni: row r = e / nj of the tile is contiguous) is A(i0 + e / nj, j0 + e % nj).
template <typename Real>
__global__ void fill_tile(ModelSpec spec, bool attention, bool logits, bool causal,
                          Real logit_scale, std::uint64_t seed, std::uint32_t index,
                          std::int64_t i0, std::uint32_t ni, std::int64_t j0, std::uint32_t nj,
                          bool raw_only, const Real* row_max, const Real* row_inv, Real* tile) {
  const std::uint32_t n = ni * nj;
  for (std::uint32_t e = blockIdx.x * blockDim.x + threadIdx.x; e < n;
       e += gridDim.x * blockDim.x) {
    const std::int64_t i = i0 + e / nj, j = j0 + e % nj;
    // Markov tiles are drawn, not read: only attention's tile holds a value (its logit).
    const Real x =
        raw_value(spec, attention, logit_scale, seed, index, attention ? tile[e] : Real(0), i, j);
    if (raw_only) {
      tile[e] = x;
      continue;
    }
    const bool valid = attends(i, j, causal);
    tile[e] = valid ? (logits ? softmax_weight(x, row_max[i]) : x) * row_inv[i] : Real(0);
  }
}

__global__ void clear_stats(std::int64_t T, bool logits, MaxSum* stats) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < T;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    stats[i] = empty_row(logits);
  }
}

// One block per tile row: folds the row's valid raw values into its running statistics.
template <typename Real>
__global__ void __launch_bounds__(kThreads)
    tile_row_stats(bool causal, bool logits, std::int64_t i0, std::int64_t j0, std::int64_t nj,
                   const Real* tile, MaxSum* stats) {
  const std::int64_t r = blockIdx.x, i = i0 + r;
  const std::int64_t valid = attended_in(i, j0, nj, causal);
  MaxSum local = empty_row(logits);
  for (std::int64_t c = threadIdx.x; c < valid; c += kThreads) {
    const double x = static_cast<double>(tile[r * nj + c]);
    if (logits) {
      add_logit(local, x);
    } else {
      add_weight(local, x);
    }
  }
  const MaxSum row = block_normaliser<kThreads>(local);
  if (threadIdx.x == 0) stats[i] = combine(stats[i], row);
}

template <typename Real>
__global__ void finish_stats(std::int64_t T, bool logits, const MaxSum* stats, Real* row_max,
                             Real* row_inv, double* row_sq) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < T;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const MaxSum s = stats[i];
    row_max[i] = logits ? static_cast<Real>(s.max) : Real(0);
    row_inv[i] = static_cast<Real>(1.0 / s.sum);
    row_sq[i] = normalised_sum_sq(s);
  }
}

// One block per column c of x: its sum, in float64.
template <typename Real>
__global__ void __launch_bounds__(kThreads)
    column_sums(const Real* x, std::int64_t rows, std::int64_t ld, double* sums) {
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage storage;
  const std::int64_t c = blockIdx.x;
  double local = 0;
  for (std::int64_t i = threadIdx.x; i < rows; i += kThreads) local += x[c * ld + i];
  const double total = Reduce(storage).Sum(local);
  if (threadIdx.x == 0) sums[c] = total;
}

// y[:, c] -= sums[c] / T: the fix's rank-one term.
template <typename Real>
__global__ void subtract_means(Real* y, std::int64_t rows, std::int64_t ld, const double* sums,
                               double T) {
  const std::int64_t c = blockIdx.y;
  const Real shift = static_cast<Real>(sums[c] / T);
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < rows;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    y[c * ld + i] -= shift;
  }
}

// out (cols x rows, row-major) = in^T for a row-major rows x cols `in`; writes coalesced.
template <typename Real>
__global__ void transpose_factor(const Real* in, std::int64_t rows, std::int64_t cols, Real* out) {
  const std::int64_t n = rows * cols;
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    out[e] = in[e % rows * cols + e / rows];
  }
}

// --logits tf32 and bf16 (float32 only) put the on-chip kernel's logits on tensor cores.
bool tensor_logits(const ModelSpec& spec) { return spec.logits != LogitsPrecision::kFull; }

unsigned grid_for(std::int64_t n) {
  return static_cast<unsigned>(std::clamp<std::int64_t>((n + kThreads - 1) / kThreads, 1, 65535));
}

// `spec`, validated, and the tile sides checked, before anything is allocated.
const ModelSpec& checked(const ModelSpec& spec, std::int64_t tile_rows, std::int64_t tile_cols) {
  validate(spec);
  if (tile_rows < 1 || tile_cols < 1 || tile_rows > kMaxTileSide || tile_cols > kMaxTileSide) {
    throw Error("DeviceFusedOperator: tile sides must be 1 to 16384");
  }
  return spec;
}

}  // namespace

template <typename Real>
bool DeviceFusedOperator<Real>::on_chip(const ModelSpec& spec, FusedForm form) {
  // float64 with --logits is refused by the CLI; here it would take the three-step form.
  return form == FusedForm::kAuto && spec.kind == ModelKind::kAttention &&
         (std::is_same_v<Real, float> || !tensor_logits(spec)) &&
         fused_attention_fits<Real>(static_cast<int>(spec.dk), tensor_logits(spec));
}

template <typename Real>
std::int64_t DeviceFusedOperator<Real>::device_bytes(const ModelSpec& spec, std::int64_t tile_rows,
                                                     std::int64_t tile_cols, FusedForm form) {
  const std::int64_t T = spec.T;
  const std::int64_t factors = attention_factor_elements(spec);
  const std::int64_t stats = T * static_cast<std::int64_t>(sizeof(MaxSum) + sizeof(double));
  if (on_chip(spec, form)) {
    // While it is built: the factors' workspace and their transposes (then the workspace goes).
    return (factors + 2 * T * spec.dk + 2 * T) * static_cast<std::int64_t>(sizeof(Real)) + stats;
  }
  const std::int64_t tile = std::min(tile_rows, T) * std::min(tile_cols, T);
  const std::int64_t bf16_copies = spec.logits == LogitsPrecision::kBf16 ? 2 * T * spec.dk * 2 : 0;
  return (factors + tile + 2 * T) * static_cast<std::int64_t>(sizeof(Real)) + stats + bf16_copies;
}

template <typename Real>
DeviceFusedOperator<Real>::DeviceFusedOperator(const ModelSpec& spec, std::uint64_t seed,
                                               std::uint32_t index, cudaStream_t stream,
                                               cublasHandle_t blas, std::int64_t tile_rows,
                                               std::int64_t tile_cols, FusedForm form)
    : DeviceFusedOperator(spec, seed, index, DeviceBuffer<Real>(), stream, blas, tile_rows,
                          tile_cols, form) {}

template <typename Real>
DeviceFusedOperator<Real>::DeviceFusedOperator(const ModelSpec& spec, DeviceBuffer<Real> factors,
                                               cudaStream_t stream, cublasHandle_t blas,
                                               std::int64_t tile_rows, std::int64_t tile_cols,
                                               FusedForm form)
    : DeviceFusedOperator(spec, 0, 0, std::move(factors), stream, blas, tile_rows, tile_cols,
                          form) {}

template <typename Real>
DeviceFusedOperator<Real>::DeviceFusedOperator(const ModelSpec& spec, std::uint64_t seed,
                                               std::uint32_t index, DeviceBuffer<Real> given,
                                               cudaStream_t stream, cublasHandle_t blas,
                                               std::int64_t tile_rows, std::int64_t tile_cols,
                                               FusedForm form)
    : m_spec(checked(spec, tile_rows, tile_cols)),
      m_seed(seed),
      m_index(index),
      m_stream(stream),
      m_blas(blas),
      m_tile_rows(std::min(tile_rows, spec.T)),
      m_tile_cols(std::min(tile_cols, spec.T)),
      m_on_chip(on_chip(spec, form)),
      m_logits(spec.kind == ModelKind::kAttention || markov_uses_logits(spec.law)),
      m_causal(spec.kind == ModelKind::kAttention && spec.causal),
      m_row_max(static_cast<std::size_t>(spec.T)),
      m_row_inv(static_cast<std::size_t>(spec.T)),
      m_tile(m_on_chip ? 0 : static_cast<std::size_t>(m_tile_rows * m_tile_cols)),
      m_scratch(64) {
  const std::int64_t T = spec.T;
  if (spec.kind == ModelKind::kAttention) {
    m_logit_scale = attention_logit_scale(static_cast<Real>(spec.beta), spec.dk);
    if (given.size() > 0) {
      m_factors = std::move(given);  // Q then K, rounded per --logits
    } else {
      m_factors = DeviceBuffer<Real>(static_cast<std::size_t>(attention_factor_elements(spec)));
      generate_attention_factors<Real>(spec, seed, index, m_factors.data(), stream, blas);
    }
    if (m_on_chip) {
      // The kernel reads Q and K as Q^T and K^T (a step's factors contiguous); Q and K already
      // carry --logits' rounding.
      const std::int64_t n = T * spec.dk;
      m_factors_t = DeviceBuffer<Real>(static_cast<std::size_t>(2 * n));
      for (int f = 0; f < 2; ++f) {
        transpose_factor<Real><<<grid_for(n), kThreads, 0, stream>>>(
            m_factors.data() + f * n, T, spec.dk, m_factors_t.data() + f * n);
        GAPBENCH_CUDA_CHECK_LAUNCH();
      }
      GAPBENCH_CUDA_CHECK(cudaStreamSynchronize(stream));
      m_factors = DeviceBuffer<Real>();
    } else if constexpr (std::is_same_v<Real, float>) {
      if (spec.logits == LogitsPrecision::kBf16) {
        m_factors16 = bf16_copy(m_factors.data(), 2 * T * spec.dk, stream);
      }
    }
  }
  // The statistics pass: every (causal) entry once, raw.
  DeviceBuffer<MaxSum> stats(static_cast<std::size_t>(T));
  DeviceBuffer<double> row_sq(static_cast<std::size_t>(T));
  if (m_on_chip) {
    FusedAttentionArgs<Real> args = attention_args();
    args.stats = stats.data();
    fused_attention_pass<Real>(FusedPass::kStats, args, stream);
  } else {
    tile_stats(stats.data());
  }
  finish_stats<Real><<<grid_for(T), kThreads, 0, stream>>>(
      T, m_logits, stats.data(), m_row_max.data(), m_row_inv.data(), row_sq.data());
  GAPBENCH_CUDA_CHECK_LAUNCH();
  const std::vector<double> host = to_host(row_sq.data(), T, stream);
  std::vector<RowSquares> rows(host.size());
  for (std::int64_t i = 0; i < T; ++i) rows[i] = row_squares_from_sum_sq(host[i], T);
  m_sums = sum_rows(rows, spec.fix);
}

// A_ii of attention, one thread a row: the logit q_i . k_i (summed in float64 over the factors
// as the logits GEMM reads them: rounded per --logits) scaled, then exp(logit - m_i) / l_i with
// the row's statistics. Element (i, c) of a factor is at f[i * row_step + c * col_step] (Q, K
// row-major, or Q^T, K^T on chip).
template <typename Real>
__global__ void attention_diagonal(std::int64_t T, std::int64_t dk, const Real* q, const Real* k,
                                   std::int64_t row_step, std::int64_t col_step, Real logit_scale,
                                   LogitsPrecision logits, const Real* row_max,
                                   const Real* row_inv, double* out) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= T) return;
  double dot = 0;
  for (std::int64_t c = 0; c < dk; ++c) {
    const std::int64_t at = i * row_step + c * col_step;
    dot += static_cast<double>(round_logits_input(q[at], logits)) *
           static_cast<double>(round_logits_input(k[at], logits));
  }
  const Real logit = logit_scale * static_cast<Real>(dot);
  out[i] = static_cast<double>(softmax_weight(logit, row_max[i]) * row_inv[i]);
}

template <typename Real>
std::vector<double> DeviceFusedOperator<Real>::diagonal() const {
  if (m_spec.kind != ModelKind::kAttention) {
    throw Error("the device's fused operator gives the diagonal of attention only");
  }
  const std::int64_t T = m_spec.T, dk = m_spec.dk;
  const bool transposed = m_on_chip;  // Q^T, K^T (dk x T) in place of Q, K (T x dk)
  const Real* q = transposed ? m_factors_t.data() : m_factors.data();
  DeviceBuffer<double> d(static_cast<std::size_t>(T));
  attention_diagonal<Real><<<grid_for(T), kThreads, 0, m_stream>>>(
      T, dk, q, q + T * dk, transposed ? 1 : dk, transposed ? T : 1, m_logit_scale, m_spec.logits,
      m_row_max.data(), m_row_inv.data(), d.data());
  GAPBENCH_CUDA_CHECK_LAUNCH();
  return to_host(d.data(), T, m_stream);
}

template <typename Real>
void DeviceFusedOperator<Real>::tile_stats(MaxSum* stats) const {
  const std::int64_t T = m_spec.T;
  clear_stats<<<grid_for(T), kThreads, 0, m_stream>>>(T, m_logits, stats);
  GAPBENCH_CUDA_CHECK_LAUNCH();
  for (std::int64_t i0 = 0; i0 < T; i0 += m_tile_rows) {
    const std::int64_t ni = std::min(m_tile_rows, T - i0);
    const std::int64_t j_end = m_causal ? i0 + ni : T;
    for (std::int64_t j0 = 0; j0 < j_end; j0 += m_tile_cols) {
      const std::int64_t nj = std::min(m_tile_cols, j_end - j0);
      make_tile(i0, ni, j0, nj, /*raw_only=*/true);
      tile_row_stats<Real><<<static_cast<unsigned>(ni), kThreads, 0, m_stream>>>(
          m_causal, m_logits, i0, j0, nj, m_tile.data(), stats);
      GAPBENCH_CUDA_CHECK_LAUNCH();
    }
  }
}

template <typename Real>
FusedAttentionArgs<Real> DeviceFusedOperator<Real>::attention_args() const {
  FusedAttentionArgs<Real> args;
  args.qt = m_factors_t.data();
  args.kt = m_factors_t.data() + m_spec.T * m_spec.dk;
  args.T = m_spec.T;
  args.dk = static_cast<int>(m_spec.dk);
  args.logit_scale = m_logit_scale;
  args.causal = m_causal;
  args.row_max = m_row_max.data();
  args.row_inv = m_row_inv.data();
  args.tensor_cores = tensor_logits(m_spec);
  return args;
}

template <typename Real>
void DeviceFusedOperator<Real>::on_chip_product(BlockView<const Real> x, BlockView<Real> y,
                                                bool transpose) const {
  FusedAttentionArgs<Real> args = attention_args();
  args.x = x.data;
  args.ldx = x.ld;
  args.y = y.data;
  args.ldy = y.ld;
  args.b = static_cast<int>(x.cols);
  fused_attention_pass<Real>(transpose ? FusedPass::kTransposeProduct : FusedPass::kProduct, args,
                             m_stream);
  subtract_fix(x, y);
}

template <typename Real>
void DeviceFusedOperator<Real>::make_tile(std::int64_t i0, std::int64_t ni, std::int64_t j0,
                                          std::int64_t nj, bool raw_only) const {
  const bool attention = m_spec.kind == ModelKind::kAttention;
  if (attention) {
    // Tile row r (column r of the column-major nj x ni tile) = logits of row i0 + r:
    // (K_J^T stored dk x nj)^T (Q_I^T stored dk x ni), as generate_batch's logits.
    const std::int64_t dk = m_spec.dk;
    const Real* q = m_factors.data();
    const Real* k = q + m_spec.T * dk;
    const __nv_bfloat16* q16 = m_factors16.data();
    const __nv_bfloat16* k16 = q16 ? q16 + m_spec.T * dk : nullptr;
    logits_gemm<Real>(m_blas, m_spec.logits, nj, ni, dk, k + j0 * dk, k16 ? k16 + j0 * dk : nullptr,
                      dk, 0, q + i0 * dk, q16 ? q16 + i0 * dk : nullptr, dk, 0, m_tile.data(), nj,
                      0, 1);
  }
  fill_tile<Real><<<grid_for(ni * nj), kThreads, 0, m_stream>>>(
      m_spec, attention, m_logits, m_causal, m_logit_scale, m_seed, m_index, i0,
      static_cast<std::uint32_t>(ni), j0, static_cast<std::uint32_t>(nj), raw_only,
      m_row_max.data(), m_row_inv.data(), m_tile.data());
  GAPBENCH_CUDA_CHECK_LAUNCH();
}

template <typename Real>
void DeviceFusedOperator<Real>::subtract_fix(BlockView<const Real> x, BlockView<Real> y) const {
  if (m_spec.fix != Fix::kCenter || x.cols == 0) return;
  if (m_scratch.size() < static_cast<std::size_t>(x.cols)) {
    m_scratch = DeviceBuffer<double>(static_cast<std::size_t>(x.cols));
  }
  column_sums<Real><<<static_cast<unsigned>(x.cols), kThreads, 0, m_stream>>>(x.data, x.rows, x.ld,
                                                                              m_scratch.data());
  GAPBENCH_CUDA_CHECK_LAUNCH();
  subtract_means<Real>
      <<<dim3(grid_for(y.rows), static_cast<unsigned>(y.cols)), kThreads, 0, m_stream>>>(
          y.data, y.rows, y.ld, m_scratch.data(), static_cast<double>(m_spec.T));
  GAPBENCH_CUDA_CHECK_LAUNCH();
}

template <typename Real>
void DeviceFusedOperator<Real>::apply(BlockView<const Real> x, BlockView<Real> y) const {
  this->count_pass();
  if (m_on_chip) return on_chip_product(x, y, /*transpose=*/false);
  const std::int64_t T = m_spec.T, b = x.cols;
  for (std::int64_t i0 = 0; i0 < T; i0 += m_tile_rows) {
    const std::int64_t ni = std::min(m_tile_rows, T - i0);
    GAPBENCH_CUDA_CHECK(
        cudaMemset2DAsync(y.data + i0, y.ld * sizeof(Real), 0, ni * sizeof(Real), b, m_stream));
    const std::int64_t j_end = m_causal ? i0 + ni : T;  // the causal mask zeroes the rest
    for (std::int64_t j0 = 0; j0 < j_end; j0 += m_tile_cols) {
      const std::int64_t nj = std::min(m_tile_cols, j_end - j0);
      make_tile(i0, ni, j0, nj, /*raw_only=*/false);
      blas::gemm(m_blas, CUBLAS_OP_T, CUBLAS_OP_N, ni, b, nj, Real(1), m_tile.data(), nj,
                 x.data + j0, x.ld, Real(1), y.data + i0, y.ld);
    }
  }
  subtract_fix(x, y);
}

template <typename Real>
void DeviceFusedOperator<Real>::apply_transpose(BlockView<const Real> x, BlockView<Real> y) const {
  this->count_pass();
  if (m_on_chip) return on_chip_product(x, y, /*transpose=*/true);
  const std::int64_t T = m_spec.T, b = x.cols;
  for (std::int64_t j0 = 0; j0 < T; j0 += m_tile_cols) {
    const std::int64_t nj = std::min(m_tile_cols, T - j0);
    GAPBENCH_CUDA_CHECK(
        cudaMemset2DAsync(y.data + j0, y.ld * sizeof(Real), 0, nj * sizeof(Real), b, m_stream));
    // Under the causal mask only rows i >= j0 reach these columns.
    const std::int64_t i_start = m_causal ? j0 / m_tile_rows * m_tile_rows : 0;
    for (std::int64_t i0 = i_start; i0 < T; i0 += m_tile_rows) {
      const std::int64_t ni = std::min(m_tile_rows, T - i0);
      make_tile(i0, ni, j0, nj, /*raw_only=*/false);
      blas::gemm(m_blas, CUBLAS_OP_N, CUBLAS_OP_N, nj, b, ni, Real(1), m_tile.data(), nj,
                 x.data + i0, x.ld, Real(1), y.data + j0, y.ld);
    }
  }
  subtract_fix(x, y);
}

template <typename Real>
std::vector<Real> fused_product_on_device(const ModelSpec& spec, std::uint64_t seed,
                                          std::uint32_t index, const std::vector<Real>& x,
                                          std::int64_t b, bool transpose, FusedForm form,
                                          std::int64_t tile_rows, std::int64_t tile_cols,
                                          FrobeniusSums* sums) {
  Stream stream;
  CublasHandle blas(stream.get());
  const std::int64_t T = spec.T;
  const DeviceFusedOperator<Real> op(spec, seed, index, stream.get(), blas.get(), tile_rows,
                                     tile_cols, form);
  if (sums) *sums = op.sums();
  DeviceBuffer<Real> dx(x.size()), dy(x.size());
  GAPBENCH_CUDA_CHECK(
      cudaMemcpyAsync(dx.data(), x.data(), dx.bytes(), cudaMemcpyHostToDevice, stream.get()));
  const BlockView<const Real> xv{dx.data(), T, b, T};
  const BlockView<Real> yv{dy.data(), T, b, T};
  if (transpose) {
    op.apply_transpose(xv, yv);
  } else {
    op.apply(xv, yv);
  }
  return to_host(dy.data(), static_cast<std::int64_t>(x.size()), stream.get());
}

template class DeviceFusedOperator<float>;
template class DeviceFusedOperator<double>;
template std::vector<float> fused_product_on_device<float>(const ModelSpec&, std::uint64_t,
                                                           std::uint32_t, const std::vector<float>&,
                                                           std::int64_t, bool, FusedForm,
                                                           std::int64_t, std::int64_t,
                                                           FrobeniusSums*);
template std::vector<double> fused_product_on_device<double>(
    const ModelSpec&, std::uint64_t, std::uint32_t, const std::vector<double>&, std::int64_t, bool,
    FusedForm, std::int64_t, std::int64_t, FrobeniusSums*);

}  // namespace gapbench::cuda
