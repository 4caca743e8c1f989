#include <mma.h>

#include <algorithm>
#include <string>
#include <type_traits>

#include "block_width.cuh"
#include "cuda_check.cuh"
#include "fused_attention.cuh"
#include "gapbench/entries.hpp"
#include "vector16.cuh"

namespace gapbench::cuda {
namespace {

constexpr int kTile = 64;  // outputs per block, streamed entries per step
constexpr int kSide = 16;  // threads per side of the block: kSide x kSide
constexpr int kPatch = 4;  // each thread: kPatch outputs x kPatch streamed entries
constexpr int kThreads = kSide * kSide;
static_assert(kSide * kPatch == kTile, "the threads' patches cover the tile");

// Tensor cores (TF32 m16n16k8): dk padded to whole k-steps of 8 with zeros; the logits tile
// lands in shared memory with rows of kTileLd: off 64 against bank conflicts, and every row on
// 32 bytes, as the PTX ISA asks of a float32 accumulator fragment's rows (68 would meet the
// C++ guide's multiple of 16 bytes only).
constexpr int kTensorK = 8;
constexpr int kTileLd = kTile + 8;
static_assert(kTileLd * sizeof(float) % 32 == 0, "WMMA accumulator rows start on 32 bytes");

int padded_dk(int dk, bool tensor) {
  return tensor ? (dk + kTensorK - 1) / kTensorK * kTensorK : dk;
}

// Shared memory of one block: the owners' and the streamed factors (dk x kTile each, dk padded
// for tensor cores), the streamed rows of X (NV x kTile: column v of X's step at v kTile), the
// streamed rows' maxima (kTile) and, for tensor cores, the tile of logits (kTile x kTileLd).
// Every part starts on a multiple of 64 Reals (256 bytes in float32), as WMMA's loads want.
template <typename Real>
std::size_t shared_bytes(int dk, int nv, bool tensor) {
  const std::size_t factors = 2 * static_cast<std::size_t>(padded_dk(dk, tensor)) * kTile;
  const std::size_t tile = tensor ? static_cast<std::size_t>(kTile) * kTileLd : 0;
  return (factors + kTile * static_cast<std::size_t>(nv) + kTile + tile) * sizeof(Real);
}

// The block's 64 x 64 logits (unscaled) on tensor cores into `tile`: own^T streamed, with own
// and streamed dkp x kTile (entry (d, c) at d kTile + c). Warp w computes the 16 x 32 strip at
// rows 16 (w / 2), columns 32 (w % 2). The inputs already carry TF32 (or coarser BF16) rounding
// (--logits), so the conversion below changes no value, and products are exact in float32.
__device__ __forceinline__ void tensor_logits(const float* own, const float* streamed, int dkp,
                                              float* tile) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  using namespace nvcuda;
  const int warp = threadIdx.x / 32;
  const int row = (warp / 2) * 16, col = (warp % 2) * 32;
  wmma::fragment<wmma::accumulator, 16, 16, kTensorK, float> acc[2];
  wmma::fill_fragment(acc[0], 0.0f);
  wmma::fill_fragment(acc[1], 0.0f);
  for (int k = 0; k < dkp; k += kTensorK) {
    // A (16 x 8) = own^T: entry (r, d) at own[d kTile + r], column-major with ld kTile.
    wmma::fragment<wmma::matrix_a, 16, 16, kTensorK, wmma::precision::tf32, wmma::col_major> a;
    wmma::load_matrix_sync(a, own + k * kTile + row, kTile);
#pragma unroll
    for (int t = 0; t < a.num_elements; ++t) a.x[t] = wmma::__float_to_tf32(a.x[t]);
#pragma unroll
    for (int f = 0; f < 2; ++f) {
      // B (8 x 16) = streamed: entry (d, c) at streamed[d kTile + c], row-major with ld kTile.
      wmma::fragment<wmma::matrix_b, 16, 16, kTensorK, wmma::precision::tf32, wmma::row_major> b;
      wmma::load_matrix_sync(b, streamed + k * kTile + col + 16 * f, kTile);
#pragma unroll
      for (int t = 0; t < b.num_elements; ++t) b.x[t] = wmma::__float_to_tf32(b.x[t]);
      wmma::mma_sync(acc[f], a, b, acc[f]);
    }
  }
#pragma unroll
  for (int f = 0; f < 2; ++f) {
    wmma::store_matrix_sync(tile + row * kTileLd + col + 16 * f, acc[f], kTileLd,
                            wmma::mem_row_major);
  }
#else
  __trap();  // tensor_cores is refused below architecture 80 (fused_attention_fits)
#endif
}

// kPatch consecutive Reals from 16-byte-aligned shared memory.
template <typename Real>
__device__ __forceinline__ void load_patch(const Real* p, Real* out) {
  using Vec = Vector16<Real>;
#pragma unroll
  for (int q = 0; q < kPatch / Vec::width; ++q) {
    Vec::unpack(reinterpret_cast<const typename Vec::type*>(p)[q], out + q * Vec::width);
  }
}

// Sum over the kSide threads of a row of the block (lanes l, l ^ 8, l ^ 4, ... of a half-warp).
template <typename T>
__device__ __forceinline__ T side_sum(T v) {
#pragma unroll
  for (int offset = kSide / 2; offset > 0; offset /= 2)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ MaxSum side_combine(MaxSum v) {
#pragma unroll
  for (int offset = kSide / 2; offset > 0; offset /= 2) {
    const MaxSum o{__shfl_xor_sync(0xffffffffu, v.max, offset),
                   __shfl_xor_sync(0xffffffffu, v.sum, offset),
                   __shfl_xor_sync(0xffffffffu, v.sum_sq, offset)};
    v = combine(v, o);
  }
  return v;
}

__device__ __forceinline__ std::int64_t lesser(std::int64_t a, std::int64_t b) {
  return a < b ? a : b;
}

// Block blockIdx.x owns outputs [64 blockIdx.x, 64 blockIdx.x + 64): rows i (kStats, kProduct)
// or columns j (kTransposeProduct). Thread (ty, tx) holds outputs 4 ty .. 4 ty + 3 against
// streamed entries 4 tx .. 4 tx + 3 of each step; the 16 threads sharing ty (one half-warp)
// add their partial results at the end.
template <typename Real, FusedPass P, int NV, bool kTensor>
__global__ void __launch_bounds__(kThreads) fused_attention_kernel(FusedAttentionArgs<Real> p) {
  constexpr bool kTransposed = P == FusedPass::kTransposeProduct;
  constexpr bool kStats = P == FusedPass::kStats;
  static_assert(!kTensor || std::is_same_v<Real, float>, "tensor cores take float32 factors");
  extern __shared__ __align__(128) unsigned char shared_bytes_raw[];
  // The factors' rows past dk (tensor cores' padding to whole k-steps) hold zeros.
  const int dkp = kTensor ? (p.dk + kTensorK - 1) / kTensorK * kTensorK : p.dk;
  Real* own = reinterpret_cast<Real*>(shared_bytes_raw);  // dkp x kTile
  Real* streamed = own + dkp * kTile;                     // dkp x kTile
  Real* xs = streamed + dkp * kTile;                      // NV x kTile
  Real* maxima = xs + kTile * NV;                         // kTile
  Real* tile = maxima + kTile;                            // kTile x kTileLd (tensor cores)

  const int tx = threadIdx.x % kSide, ty = threadIdx.x / kSide;
  const std::int64_t T = p.T;
  const std::int64_t o0 = static_cast<std::int64_t>(blockIdx.x) * kTile;
  const Real* own_src = kTransposed ? p.kt : p.qt;
  const Real* streamed_src = kTransposed ? p.qt : p.kt;

  // The owners' factors, zero past T (those outputs are computed and dropped).
  for (int e = threadIdx.x; e < dkp * kTile; e += kThreads) {
    const int d = e / kTile, c = e % kTile;
    own[e] = o0 + c < T && d < p.dk ? own_src[d * T + o0 + c] : Real(0);
  }
  Real own_max[kPatch];  // kProduct: the rows' maxima
#pragma unroll
  for (int r = 0; r < kPatch; ++r) {
    own_max[r] = kStats || kTransposed ? Real(0) : p.row_max[lesser(o0 + ty * kPatch + r, T - 1)];
  }

  // The streamed range: the causal mask keeps j <= i, so rows reach columns up to their last
  // row, and columns are reached from their first row on.
  std::int64_t s_begin = 0, s_end = T;
  if (p.causal) {
    if (kTransposed) {
      s_begin = o0;
    } else {
      s_end = lesser(T, o0 + kTile);
    }
  }

  Real acc[kPatch][NV];
  MaxSum run[kPatch];
#pragma unroll
  for (int r = 0; r < kPatch; ++r) {
    run[r] = empty_row(true);
#pragma unroll
    for (int v = 0; v < NV; ++v) acc[r][v] = 0;
  }

  for (std::int64_t s0 = s_begin; s0 < s_end; s0 += kTile) {
    __syncthreads();  // the previous step is done with the streamed tiles
    for (int e = threadIdx.x; e < dkp * kTile; e += kThreads) {
      const int d = e / kTile, c = e % kTile;
      streamed[e] = s0 + c < T && d < p.dk ? streamed_src[d * T + s0 + c] : Real(0);
    }
    if constexpr (!kStats) {
      for (int e = threadIdx.x; e < kTile * NV; e += kThreads) {
        const int c = e % kTile, v = e / kTile;  // consecutive threads read consecutive rows
        const std::int64_t s = s0 + c;
        Real value = 0;
        if (s < T) {
          value = p.x[s + v * p.ldx];
          if (kTransposed) value *= p.row_inv[s];  // A^T X = sum_i w_ij (inv_i X_i)
        }
        xs[v * kTile + c] = value;
      }
      if (kTransposed) {
        for (int c = threadIdx.x; c < kTile; c += kThreads) {
          maxima[c] = s0 + c < T ? p.row_max[s0 + c] : Real(0);
        }
      }
    }
    __syncthreads();

    // The 4 x 4 patch of logits: own[d][4 ty ..] against streamed[d][4 tx ..].
    Real logit[kPatch][kPatch];
    if constexpr (kTensor) {
      tensor_logits(own, streamed, dkp, tile);
      __syncthreads();  // the tile is whole (the next step's barrier keeps it until read)
#pragma unroll
      for (int r = 0; r < kPatch; ++r)
        load_patch(tile + (ty * kPatch + r) * kTileLd + tx * kPatch, logit[r]);
    } else {
#pragma unroll
      for (int r = 0; r < kPatch; ++r) {
#pragma unroll
        for (int c = 0; c < kPatch; ++c) logit[r][c] = 0;
      }
      for (int d = 0; d < p.dk; ++d) {
        Real a[kPatch], k[kPatch];
        load_patch(own + d * kTile + ty * kPatch, a);
        load_patch(streamed + d * kTile + tx * kPatch, k);
#pragma unroll
        for (int r = 0; r < kPatch; ++r) {
#pragma unroll
          for (int c = 0; c < kPatch; ++c) logit[r][c] += a[r] * k[c];
        }
      }
    }

    // Scaled logits, and which entries of the patch the mask and T keep.
    Real x[kPatch][kPatch];
    bool valid[kPatch][kPatch];
#pragma unroll
    for (int r = 0; r < kPatch; ++r) {
      const std::int64_t o = o0 + ty * kPatch + r;
#pragma unroll
      for (int c = 0; c < kPatch; ++c) {
        const std::int64_t s = s0 + tx * kPatch + c;
        const std::int64_t i = kTransposed ? s : o, j = kTransposed ? o : s;
        valid[r][c] = s < T && o < T && attends(i, j, p.causal);
        x[r][c] = logit[r][c] * p.logit_scale;
      }
    }

    if constexpr (kStats) {
      // The online softmax per row, in the patch's steps: a new maximum rescales the float64
      // sums (rarely, past the first steps), and each weight is one exp in Real against it.
#pragma unroll
      for (int r = 0; r < kPatch; ++r) {
        Real patch_max = -INFINITY;
#pragma unroll
        for (int c = 0; c < kPatch; ++c) {
          if (valid[r][c] && x[r][c] > patch_max) patch_max = x[r][c];
        }
        if (patch_max == -INFINITY) continue;  // no valid entry in this row of the patch
        raise_max(run[r], static_cast<double>(patch_max));
        const Real m = static_cast<Real>(run[r].max);
#pragma unroll
        for (int c = 0; c < kPatch; ++c) {
          if (valid[r][c]) add_weight(run[r], softmax_weight(x[r][c], m));
        }
      }
    } else {
      Real w[kPatch][kPatch];
      Real col_max[kPatch];  // A^T X: the streamed rows' maxima
      if (kTransposed) load_patch(maxima + tx * kPatch, col_max);
#pragma unroll
      for (int r = 0; r < kPatch; ++r) {
#pragma unroll
        for (int c = 0; c < kPatch; ++c) {
          w[r][c] = valid[r][c] ? softmax_weight(x[r][c], kTransposed ? col_max[c] : own_max[r])
                                : Real(0);
        }
      }
      // X's rows for this thread's columns, one vector per column of X (conflict-free: the
      // threads of a half-warp read consecutive 16-byte pieces).
#pragma unroll
      for (int v = 0; v < NV; ++v) {
        Real xv[kPatch];
        load_patch(xs + v * kTile + tx * kPatch, xv);
#pragma unroll
        for (int r = 0; r < kPatch; ++r) {
#pragma unroll
          for (int c = 0; c < kPatch; ++c) acc[r][v] += w[r][c] * xv[c];
        }
      }
    }
  }

#pragma unroll
  for (int r = 0; r < kPatch; ++r) {
    const std::int64_t o = o0 + ty * kPatch + r;
    if constexpr (kStats) {
      const MaxSum total = side_combine(run[r]);
      if (tx == 0 && o < T) p.stats[o] = total;
    } else {
      const Real inv = kTransposed || o >= T ? Real(1) : p.row_inv[o];
#pragma unroll
      for (int v = 0; v < NV; ++v) {
        const Real total = side_sum(acc[r][v]);
        if (tx == 0 && o < T) p.y[o + v * p.ldy] = total * inv;
      }
    }
  }
}

template <typename Real, FusedPass P, int NV>
void launch(const FusedAttentionArgs<Real>& args, cudaStream_t stream) {
  auto kernel = fused_attention_kernel<Real, P, NV, false>;
  if constexpr (std::is_same_v<Real, float>) {
    if (args.tensor_cores) kernel = fused_attention_kernel<Real, P, NV, true>;
  }
  const std::size_t bytes = shared_bytes<Real>(args.dk, NV, args.tensor_cores);
  GAPBENCH_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(bytes)));
  const auto blocks = static_cast<unsigned>((args.T + kTile - 1) / kTile);
  kernel<<<blocks, kThreads, bytes, stream>>>(args);
  GAPBENCH_CUDA_CHECK_LAUNCH();
}

}  // namespace

template <typename Real>
bool fused_attention_fits(int dk, bool tensor_cores) {
  if (dk < 1 || dk > kFusedKernelMaxDk) return false;
  if (tensor_cores && !std::is_same_v<Real, float>) return false;
  int device = 0, optin = 0, major = 0;
  GAPBENCH_CUDA_CHECK(cudaGetDevice(&device));
  GAPBENCH_CUDA_CHECK(
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  GAPBENCH_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  if (tensor_cores && major < 8) return false;  // TF32 WMMA needs architecture 80
  return shared_bytes<Real>(dk, kFusedKernelVectors, tensor_cores) <=
         static_cast<std::size_t>(optin);
}

template <typename Real>
void fused_attention_pass(FusedPass pass, const FusedAttentionArgs<Real>& args,
                          cudaStream_t stream) {
  if (args.dk < 1 || args.dk > kFusedKernelMaxDk) {
    throw BackendError("fused_attention_pass: dk must be 1 to " +
                       std::to_string(kFusedKernelMaxDk) + ", not " + std::to_string(args.dk));
  }
  if (args.T < 1) return;
  if (pass == FusedPass::kStats) return launch<Real, FusedPass::kStats, 1>(args, stream);
  // Chunks of at most kFusedKernelVectors columns of X and Y.
  for (int c0 = 0; c0 < args.b; c0 += kFusedKernelVectors) {
    FusedAttentionArgs<Real> chunk = args;
    chunk.x = args.x + c0 * args.ldx;
    chunk.y = args.y + c0 * args.ldy;
    chunk.b = std::min(kFusedKernelVectors, args.b - c0);
    with_block_width(chunk.b, [&](auto width) {
      constexpr int kWidth = decltype(width)::value;
      if (pass == FusedPass::kProduct) {
        launch<Real, FusedPass::kProduct, kWidth>(chunk, stream);
      } else {
        launch<Real, FusedPass::kTransposeProduct, kWidth>(chunk, stream);
      }
    });
  }
}

template bool fused_attention_fits<float>(int, bool);
template bool fused_attention_fits<double>(int, bool);
template void fused_attention_pass<float>(FusedPass, const FusedAttentionArgs<float>&,
                                          cudaStream_t);
template void fused_attention_pass<double>(FusedPass, const FusedAttentionArgs<double>&,
                                           cudaStream_t);

}  // namespace gapbench::cuda
