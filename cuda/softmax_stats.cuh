// The block-wide reduction of a softmax row's running statistics on the device. The statistics
// themselves (MaxSum: the online softmax's maximum and float64 sums, and how they add and
// combine) are the shared GAPBENCH_HD math of src/gapbench/row_stats.hpp, used by the CPU loops
// as well; this header adds only what needs CUB. Used by the generation kernels (generate.cu)
// and the fused operator's row-statistics pass (fused_device.cu).
#pragma once

#include <cub/block/block_reduce.cuh>

#include "gapbench/row_stats.hpp"

namespace gapbench::cuda {

struct CombineMaxSum {
  __device__ __forceinline__ MaxSum operator()(MaxSum a, MaxSum b) const { return combine(a, b); }
};

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
