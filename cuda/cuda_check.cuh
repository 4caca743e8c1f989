// Checked CUDA calls (STYLE.md 3): every call is evaluated once and a failure throws
// gapbench::CudaError "file:line: call failed: NAME: text". The *_NOEXCEPT variants log to
// stderr instead and are the only ones used in destructors. Kernel launches are followed by
// GAPBENCH_CUDA_CHECK_LAUNCH().
#pragma once

#include <cuda_runtime.h>

#include <cstdio>
#include <string>

#include "gapbench/error.hpp"

namespace gapbench {

class CudaError : public BackendError {
 public:
  using BackendError::BackendError;
};

namespace detail {
[[noreturn]] inline void throw_cuda_error(const char* file, int line, const char* call,
                                          cudaError_t status) {
  throw CudaError(std::string(file) + ":" + std::to_string(line) + ": " + call +
                  " failed: " + cudaGetErrorName(status) + ": " + cudaGetErrorString(status));
}
}  // namespace detail

}  // namespace gapbench

#define GAPBENCH_CUDA_CHECK(call)                                                        \
  do {                                                                                   \
    const cudaError_t gapbench_status_ = (call);                                         \
    if (gapbench_status_ != cudaSuccess) {                                               \
      ::gapbench::detail::throw_cuda_error(__FILE__, __LINE__, #call, gapbench_status_); \
    }                                                                                    \
  } while (0)

#define GAPBENCH_CUDA_CHECK_NOEXCEPT(call)                                      \
  do {                                                                          \
    const cudaError_t gapbench_status_ = (call);                                \
    if (gapbench_status_ != cudaSuccess) {                                      \
      std::fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, \
                   cudaGetErrorName(gapbench_status_));                         \
    }                                                                           \
  } while (0)

#define GAPBENCH_CUDA_CHECK_LAUNCH() GAPBENCH_CUDA_CHECK(cudaGetLastError())
