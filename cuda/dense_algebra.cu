#include <cub/block/block_reduce.cuh>

#include <algorithm>
#include <vector>

#include "cuda_check.cuh"
#include "gapbench/backward.hpp"
#include "dense_algebra.cuh"
#include "resources.cuh"

namespace gapbench::cuda {
namespace {

constexpr int kThreads = 256;
// Blocks of the first pass of a reduction: fixed, so the order of the additions is too.
constexpr int kReduceBlocks = 1024;

unsigned grid_for(std::int64_t n) {
  return static_cast<unsigned>(std::clamp<std::int64_t>((n + kThreads - 1) / kThreads, 1, 65535));
}

template <typename Real>
__global__ void __launch_bounds__(kThreads)
    layer_norm_kernel(Real* x, std::int64_t cols) {
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage storage;
  __shared__ double shared;
  Real* row = x + static_cast<std::int64_t>(blockIdx.x) * cols;
  double local = 0;
  for (std::int64_t j = threadIdx.x; j < cols; j += kThreads) local += row[j];
  double total = Reduce(storage).Sum(local);
  if (threadIdx.x == 0) shared = total / static_cast<double>(cols);
  __syncthreads();
  const double mean = shared;
  __syncthreads();
  local = 0;
  for (std::int64_t j = threadIdx.x; j < cols; j += kThreads) {
    local += (row[j] - mean) * (row[j] - mean);
  }
  total = Reduce(storage).Sum(local);
  if (threadIdx.x == 0) shared = total / static_cast<double>(cols);
  __syncthreads();
  const double var = shared;
  const double inv = var > 0 ? 1.0 / sqrt(var) : 0.0;
  for (std::int64_t j = threadIdx.x; j < cols; j += kThreads) {
    row[j] = static_cast<Real>((row[j] - mean) * inv);
  }
}

// One block per row: the reverse mode of a row softmax (backward.hpp), probabilities a + offset.
template <typename Real>
__global__ void __launch_bounds__(kThreads)
    softmax_backward_kernel(const Real* a, Real offset, Real* g, std::int64_t cols) {
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage storage;
  __shared__ double shared;
  const Real* p = a + static_cast<std::int64_t>(blockIdx.x) * cols;
  Real* dp = g + static_cast<std::int64_t>(blockIdx.x) * cols;
  double local = 0;
  for (std::int64_t j = threadIdx.x; j < cols; j += kThreads) {
    local += static_cast<double>(dp[j]) * (p[j] + offset);
  }
  const double total = Reduce(storage).Sum(local);
  if (threadIdx.x == 0) shared = total;
  __syncthreads();
  const double r = shared;
  for (std::int64_t j = threadIdx.x; j < cols; j += kThreads) {
    dp[j] = static_cast<Real>(softmax_backward_entry(p[j] + offset, dp[j], r));
  }
}

// One block per row: the reverse mode of layer_norm_kernel at its input z (backward.hpp).
template <typename Real>
__global__ void __launch_bounds__(kThreads)
    layer_norm_backward_kernel(const Real* z, Real* g, std::int64_t cols) {
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage storage;
  __shared__ double shared[2];
  const Real* x = z + static_cast<std::int64_t>(blockIdx.x) * cols;
  Real* dy = g + static_cast<std::int64_t>(blockIdx.x) * cols;
  const double n = static_cast<double>(cols);
  double local = 0;
  for (std::int64_t j = threadIdx.x; j < cols; j += kThreads) local += x[j];
  double total = Reduce(storage).Sum(local);
  if (threadIdx.x == 0) shared[0] = total / n;
  __syncthreads();
  const double mean = shared[0];
  __syncthreads();
  local = 0;
  for (std::int64_t j = threadIdx.x; j < cols; j += kThreads) local += (x[j] - mean) * (x[j] - mean);
  total = Reduce(storage).Sum(local);
  if (threadIdx.x == 0) shared[0] = total / n;
  __syncthreads();
  const double var = shared[0];
  const double inv = var > 0 ? 1.0 / sqrt(var) : 0.0;
  __syncthreads();
  local = 0;
  for (std::int64_t j = threadIdx.x; j < cols; j += kThreads) local += dy[j];
  total = Reduce(storage).Sum(local);
  if (threadIdx.x == 0) shared[0] = total / n;
  __syncthreads();
  local = 0;
  for (std::int64_t j = threadIdx.x; j < cols; j += kThreads) local += dy[j] * (x[j] - mean) * inv;
  total = Reduce(storage).Sum(local);
  if (threadIdx.x == 0) shared[1] = total / n;
  __syncthreads();
  const double m1 = shared[0], m2 = shared[1];
  for (std::int64_t j = threadIdx.x; j < cols; j += kThreads) {
    dy[j] = static_cast<Real>(layer_norm_backward_entry(dy[j], (x[j] - mean) * inv, m1, m2, inv));
  }
}

template <typename Real>
__global__ void fill_kernel(Real* m, Real value, std::int64_t n) {
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    m[e] = value;
  }
}

// Pass 1 of a sum: block b adds entries b, b + stride, ... of `value` (grid-stride), then the
// block's total goes to partial[b].
template <typename Value>
__global__ void __launch_bounds__(kThreads)
    partial_sums_kernel(Value value, std::int64_t n, double* partial) {
  using Reduce = cub::BlockReduce<double, kThreads>;
  __shared__ typename Reduce::TempStorage storage;
  double local = 0;
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(kThreads) + threadIdx.x; e < n;
       e += static_cast<std::int64_t>(gridDim.x) * kThreads) {
    local += value(e);
  }
  const double total = Reduce(storage).Sum(local);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

template <typename Real>
struct Square {
  const Real* x;
  __device__ double operator()(std::int64_t e) const {
    const double v = x[e];
    return v * v;
  }
};

template <typename Real>
struct Product {
  const Real* a;
  const Real* b;
  __device__ double operator()(std::int64_t e) const {
    return static_cast<double>(a[e]) * static_cast<double>(b[e]);
  }
};

template <typename Real>
struct ShiftedSquare {
  const Real* x;
  double shift;
  __device__ double operator()(std::int64_t e) const {
    const double v = static_cast<double>(x[e]) - shift;
    return v * v;
  }
};

template <typename Real>
struct Diagonal {
  const Real* g;
  std::int64_t m;
  __device__ double operator()(std::int64_t e) const { return g[e * (m + 1)]; }
};

// Pass 2 on the host: the partial sums in block order.
template <typename Value>
double reduce(Value value, std::int64_t n, cudaStream_t stream) {
  DeviceBuffer<double> partial(kReduceBlocks);
  partial_sums_kernel<<<kReduceBlocks, kThreads, 0, stream>>>(value, n, partial.data());
  GAPBENCH_CUDA_CHECK_LAUNCH();
  const std::vector<double> host = to_host(partial.data(), kReduceBlocks, stream);
  double sum = 0;
  for (const double v : host) sum += v;
  return sum;
}

template <typename Real>
__global__ void add_scaled_kernel(const Real* x, Real s, Real* z, std::int64_t n) {
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    z[e] = x[e] + s * z[e];
  }
}

template <typename Real>
__global__ void subtract_kernel(const Real* x, double shift, Real* out, std::int64_t n) {
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    out[e] = static_cast<Real>(static_cast<double>(x[e]) - shift);
  }
}

template <typename Real>
__global__ void identity_kernel(Real* m, std::int64_t rows, std::int64_t cols) {
  const std::int64_t n = rows * cols;
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    m[e] = e / cols == e % cols ? Real(1) : Real(0);
  }
}

template <typename Real>
__global__ void mirror_kernel(Real* g, std::int64_t m) {
  const std::int64_t n = m * m;
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t i = e / m, j = e % m;
    if (i > j) g[e] = g[j * m + i];
  }
}

}  // namespace

template <typename Real>
void layer_norm_rows(Real* x, std::int64_t rows, std::int64_t cols, cudaStream_t stream) {
  if (rows == 0) return;
  if (rows > 2147483647LL) throw Error("layer_norm_rows: more than 2^31 - 1 rows");
  layer_norm_kernel<Real><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, cols);
  GAPBENCH_CUDA_CHECK_LAUNCH();
}

template <typename Real>
void softmax_backward_rows(const Real* a, Real offset, Real* g, std::int64_t rows,
                           std::int64_t cols, cudaStream_t stream) {
  if (rows == 0) return;
  if (rows > 2147483647LL) throw Error("softmax_backward_rows: more than 2^31 - 1 rows");
  softmax_backward_kernel<Real><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(a, offset, g,
                                                                                     cols);
  GAPBENCH_CUDA_CHECK_LAUNCH();
}

template <typename Real>
void layer_norm_backward_rows(const Real* z, Real* g, std::int64_t rows, std::int64_t cols,
                              cudaStream_t stream) {
  if (rows == 0) return;
  if (rows > 2147483647LL) throw Error("layer_norm_backward_rows: more than 2^31 - 1 rows");
  layer_norm_backward_kernel<Real><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(z, g,
                                                                                        cols);
  GAPBENCH_CUDA_CHECK_LAUNCH();
}

template <typename Real>
void fill(Real* m, Real value, std::int64_t n, cudaStream_t stream) {
  fill_kernel<Real><<<grid_for(n), kThreads, 0, stream>>>(m, value, n);
  GAPBENCH_CUDA_CHECK_LAUNCH();
}

template <typename Real>
double dot(const Real* a, const Real* b, std::int64_t n, cudaStream_t stream) {
  return reduce(Product<Real>{a, b}, n, stream);
}

template <typename Real>
double sum_of_squares(const Real* x, std::int64_t n, cudaStream_t stream) {
  return reduce(Square<Real>{x}, n, stream);
}

template <typename Real>
double shifted_sum_of_squares(const Real* x, double shift, std::int64_t n, cudaStream_t stream) {
  return reduce(ShiftedSquare<Real>{x, shift}, n, stream);
}

template <typename Real>
void subtract(const Real* x, double shift, Real* out, std::int64_t n, cudaStream_t stream) {
  subtract_kernel<Real><<<grid_for(n), kThreads, 0, stream>>>(x, shift, out, n);
  GAPBENCH_CUDA_CHECK_LAUNCH();
}

template <typename Real>
double trace(const Real* g, std::int64_t m, cudaStream_t stream) {
  return reduce(Diagonal<Real>{g, m}, m, stream);
}

template <typename Real>
void add_scaled(const Real* x, Real s, Real* z, std::int64_t n, cudaStream_t stream) {
  add_scaled_kernel<Real><<<grid_for(n), kThreads, 0, stream>>>(x, s, z, n);
  GAPBENCH_CUDA_CHECK_LAUNCH();
}

template <typename Real>
void set_identity(Real* m, std::int64_t rows, std::int64_t cols, cudaStream_t stream) {
  identity_kernel<Real><<<grid_for(rows * cols), kThreads, 0, stream>>>(m, rows, cols);
  GAPBENCH_CUDA_CHECK_LAUNCH();
}

template <typename Real>
void mirror_upper(Real* g, std::int64_t m, cudaStream_t stream) {
  mirror_kernel<Real><<<grid_for(m * m), kThreads, 0, stream>>>(g, m);
  GAPBENCH_CUDA_CHECK_LAUNCH();
}

#define GAPBENCH_INSTANTIATE(Real)                                                      \
  template void layer_norm_rows<Real>(Real*, std::int64_t, std::int64_t, cudaStream_t); \
  template double sum_of_squares<Real>(const Real*, std::int64_t, cudaStream_t);        \
  template double shifted_sum_of_squares<Real>(const Real*, double, std::int64_t,       \
                                               cudaStream_t);                           \
  template void subtract<Real>(const Real*, double, Real*, std::int64_t, cudaStream_t); \
  template double trace<Real>(const Real*, std::int64_t, cudaStream_t);                 \
  template void add_scaled<Real>(const Real*, Real, Real*, std::int64_t, cudaStream_t); \
  template void set_identity<Real>(Real*, std::int64_t, std::int64_t, cudaStream_t);   \
  template void mirror_upper<Real>(Real*, std::int64_t, cudaStream_t);                     \
  template void softmax_backward_rows<Real>(const Real*, Real, Real*, std::int64_t,       \
                                            std::int64_t, cudaStream_t);                  \
  template void layer_norm_backward_rows<Real>(const Real*, Real*, std::int64_t,          \
                                               std::int64_t, cudaStream_t);               \
  template void fill<Real>(Real*, Real, std::int64_t, cudaStream_t);                      \
  template double dot<Real>(const Real*, const Real*, std::int64_t, cudaStream_t);
GAPBENCH_INSTANTIATE(float)
GAPBENCH_INSTANTIATE(double)
#undef GAPBENCH_INSTANTIATE

}  // namespace gapbench::cuda
