// The entrywise pieces of the reverse-mode passes of signal propagation (propagate/gradient.cpp),
// shared by the CPU loops and the CUDA kernels. Each acts on one row, after two row reductions.
//
// Softmax, p = softmax(s) of a row: ds_j = p_j (dp_j - r) with r = sum_j dp_j p_j.
// LayerNorm without affine or epsilon, y = (z - mean) / sd (population sd) of a row of n:
//   dz_j = (dy_j - m1 - y_j m2) / sd, with m1 = mean_j dy_j and m2 = mean_j dy_j y_j;
// a constant row (sd = 0, which the forward pass maps to 0) has dz = 0.
#pragma once

#include "gapbench/hd.hpp"

namespace gapbench {

GAPBENCH_HD double softmax_backward_entry(double p, double dp, double r) { return p * (dp - r); }

GAPBENCH_HD double layer_norm_backward_entry(double dy, double y, double m1, double m2,
                                             double inv_sd) {
  return (dy - m1 - y * m2) * inv_sd;
}

}  // namespace gapbench
