// Move-only owners of cuBLAS and cuSOLVER handles (STYLE.md 4) and their checked calls (STYLE.md
// 3): a failing call throws CudaError "file:line: call failed: STATUS_NAME", naming the call.
#pragma once

#include <cublas_v2.h>
#include <cusolverDn.h>

#include <string>
#include <utility>

#include "cuda_check.cuh"

namespace gapbench::detail {

// cuSOLVER has no status-to-string function.
inline const char* cusolver_status_name(cusolverStatus_t s) {
  switch (s) {
    case CUSOLVER_STATUS_SUCCESS:
      return "CUSOLVER_STATUS_SUCCESS";
    case CUSOLVER_STATUS_NOT_INITIALIZED:
      return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED:
      return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE:
      return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH:
      return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_EXECUTION_FAILED:
      return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR:
      return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_NOT_SUPPORTED:
      return "CUSOLVER_STATUS_NOT_SUPPORTED";
    default:
      return "CUSOLVER_STATUS_(other)";
  }
}

[[noreturn]] inline void throw_library_error(const char* file, int line, const char* call,
                                             const std::string& status) {
  throw CudaError(std::string(file) + ":" + std::to_string(line) + ": " + call +
                  " failed: " + status);
}

}  // namespace gapbench::detail

#define GAPBENCH_CUBLAS_CHECK(call)                                                   \
  do {                                                                                \
    const cublasStatus_t gapbench_status_ = (call);                                   \
    if (gapbench_status_ != CUBLAS_STATUS_SUCCESS) {                                  \
      ::gapbench::detail::throw_library_error(__FILE__, __LINE__, #call,              \
                                              cublasGetStatusName(gapbench_status_)); \
    }                                                                                 \
  } while (0)

#define GAPBENCH_CUSOLVER_CHECK(call)                                                             \
  do {                                                                                            \
    const cusolverStatus_t gapbench_status_ = (call);                                             \
    if (gapbench_status_ != CUSOLVER_STATUS_SUCCESS) {                                            \
      ::gapbench::detail::throw_library_error(                                                    \
          __FILE__, __LINE__, #call, ::gapbench::detail::cusolver_status_name(gapbench_status_)); \
    }                                                                                             \
  } while (0)

namespace gapbench::cuda {

// A cuBLAS handle bound to one stream, in the default (IEEE float32, no TF32) math mode.
class CublasHandle {
 public:
  explicit CublasHandle(cudaStream_t stream) {
    GAPBENCH_CUBLAS_CHECK(cublasCreate(&m_handle));
    GAPBENCH_CUBLAS_CHECK(cublasSetStream(m_handle, stream));
    GAPBENCH_CUBLAS_CHECK(cublasSetMathMode(m_handle, CUBLAS_DEFAULT_MATH));
  }
  ~CublasHandle() {
    if (m_handle) cublasDestroy(m_handle);
  }
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  CublasHandle(CublasHandle&& o) noexcept : m_handle(std::exchange(o.m_handle, nullptr)) {}
  CublasHandle& operator=(CublasHandle&& o) noexcept {
    std::swap(m_handle, o.m_handle);
    return *this;
  }
  cublasHandle_t get() const { return m_handle; }

 private:
  cublasHandle_t m_handle = nullptr;
};

// A cuSOLVER dense handle bound to one stream, with the parameter object of its 64-bit API.
class CusolverHandle {
 public:
  explicit CusolverHandle(cudaStream_t stream) {
    GAPBENCH_CUSOLVER_CHECK(cusolverDnCreate(&m_handle));
    GAPBENCH_CUSOLVER_CHECK(cusolverDnSetStream(m_handle, stream));
    GAPBENCH_CUSOLVER_CHECK(cusolverDnCreateParams(&m_params));
  }
  ~CusolverHandle() {
    if (m_params) cusolverDnDestroyParams(m_params);
    if (m_handle) cusolverDnDestroy(m_handle);
  }
  CusolverHandle(const CusolverHandle&) = delete;
  CusolverHandle& operator=(const CusolverHandle&) = delete;
  CusolverHandle(CusolverHandle&& o) noexcept
      : m_handle(std::exchange(o.m_handle, nullptr)),
        m_params(std::exchange(o.m_params, nullptr)) {}
  CusolverHandle& operator=(CusolverHandle&& o) noexcept {
    std::swap(m_handle, o.m_handle);
    std::swap(m_params, o.m_params);
    return *this;
  }
  cusolverDnHandle_t get() const { return m_handle; }
  cusolverDnParams_t params() const { return m_params; }

 private:
  cusolverDnHandle_t m_handle = nullptr;
  cusolverDnParams_t m_params = nullptr;
};

}  // namespace gapbench::cuda
