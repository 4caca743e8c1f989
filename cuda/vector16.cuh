// 16-byte loads and stores of float (float4) and double (double2): memory-bound kernels move
// whole vectors where their rows start on 16 bytes, for four (two) times the bytes in flight per
// instruction of a scalar access. Vector16<Real>::type is the vector, width its Real count.
#pragma once

#include <cuda_runtime.h>

namespace gapbench::cuda {

template <typename Real>
struct Vector16;

template <>
struct Vector16<float> {
  using type = float4;
  static constexpr int width = 4;
  __device__ static void unpack(float4 v, float* out) {
    out[0] = v.x;
    out[1] = v.y;
    out[2] = v.z;
    out[3] = v.w;
  }
  __device__ static float4 pack(const float* in) { return make_float4(in[0], in[1], in[2], in[3]); }
};

template <>
struct Vector16<double> {
  using type = double2;
  static constexpr int width = 2;
  __device__ static void unpack(double2 v, double* out) {
    out[0] = v.x;
    out[1] = v.y;
  }
  __device__ static double2 pack(const double* in) { return make_double2(in[0], in[1]); }
};

}  // namespace gapbench::cuda
