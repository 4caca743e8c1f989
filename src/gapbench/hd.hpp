// GAPBENCH_HD marks the small inline math shared by the CPU loops and the CUDA kernels
// (random numbers, logit scaling, softmax pieces), so both compilers build one definition.
#pragma once

#if defined(__CUDACC__)
#define GAPBENCH_HD __host__ __device__ __forceinline__
#else
#define GAPBENCH_HD inline
#endif
