// The running statistics of a softmax row on the device (the online softmax): the maximum m of
// the logits seen so far, sum_j exp(x_j - m) and sum_j exp(2 (x_j - m)), in float64, rescaled
// whenever the maximum grows; for positive weights (markov exponential and uniform entries) m
// stays 0 and the sums are of the weights. Shared by the generation kernels (generate.cu) and
// the fused operator's row-statistics pass (fused_device.cu).
#pragma once

#include <cub/block/block_reduce.cuh>

namespace gapbench::cuda {

struct MaxSum {
  double max;
  double sum;
  double sum_sq;
};

__device__ __forceinline__ MaxSum combine(MaxSum a, MaxSum b) {
  const double m = fmax(a.max, b.max);
  if (m == -INFINITY) return {m, 0.0, 0.0};
  const double fa = exp(a.max - m), fb = exp(b.max - m);
  return {m, a.sum * fa + b.sum * fb, a.sum_sq * fa * fa + b.sum_sq * fb * fb};
}

struct CombineMaxSum {
  __device__ __forceinline__ MaxSum operator()(MaxSum a, MaxSum b) const { return combine(a, b); }
};

// The empty row: no logit yet (max -inf), or no weight yet (max 0).
__device__ __forceinline__ MaxSum empty_row(bool logits) {
  return {logits ? -INFINITY : 0.0, 0.0, 0.0};
}

__device__ __forceinline__ void add_logit(MaxSum& acc, double x) {
  if (x > acc.max) {
    const double f = exp(acc.max - x);
    acc.sum = acc.sum * f + 1.0;
    acc.sum_sq = acc.sum_sq * f * f + 1.0;
    acc.max = x;
  } else {
    const double e = exp(x - acc.max);
    acc.sum += e;
    acc.sum_sq += e * e;
  }
}

__device__ __forceinline__ void add_weight(MaxSum& acc, double w) {
  acc.sum += w;
  acc.sum_sq += w * w;
}

// The block-wide statistics of a row, broadcast to every thread.
template <int kThreads>
__device__ MaxSum block_normaliser(MaxSum local) {
  using Reduce = cub::BlockReduce<MaxSum, kThreads>;
  __shared__ typename Reduce::TempStorage storage;
  __shared__ MaxSum total;
  const MaxSum r = Reduce(storage).Reduce(local, CombineMaxSum());
  if (threadIdx.x == 0) total = r;
  __syncthreads();
  return total;
}

}  // namespace gapbench::cuda
