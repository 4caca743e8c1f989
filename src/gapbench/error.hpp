// Errors of gapbench: one hierarchy, one place.
//
// `Error` is the base of everything gapbench throws on purpose. `UsageError` is a mistake of the
// user (a flag, a file, a size) and carries a sentence the user can act on; the CLI maps it to
// exit code 2. Backend failures (CUDA, cuBLAS, cuSOLVER, LAPACK) are `BackendError`s naming the
// failing call with file and line; the CUDA-specific subclasses live in cuda/cuda_check.cuh.
#pragma once

#include <stdexcept>
#include <string>

namespace gapbench {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A mistake in the user's input: flag values, paths, sizes. Exit code 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

// A size past the memory plan (more than the free host or device memory): still the user's to
// fix (exit code 2, the same one line), and the Python package's MemoryError.
class MemoryPlanError : public UsageError {
 public:
  using UsageError::UsageError;
};

// A long computation stopped on request (request_cancel, runtime.hpp): the Python package's
// KeyboardInterrupt.
class Cancelled : public Error {
 public:
  using Error::Error;
};

// A library call (LAPACK, CUDA, cuBLAS, cuSOLVER) that failed: "file:line: call failed: text".
class BackendError : public Error {
 public:
  using Error::Error;
};

namespace detail {
[[noreturn]] void throw_backend_error(const char* file, int line, const char* call,
                                      const std::string& what);
}  // namespace detail

}  // namespace gapbench

// Throws gapbench::BackendError if a LAPACKE call returns non-zero `info`. Evaluates once.
#define GAPBENCH_LAPACK_CHECK(call)                                                        \
  do {                                                                                     \
    const long long gapbench_info_ = static_cast<long long>(call);                         \
    if (gapbench_info_ != 0) {                                                             \
      ::gapbench::detail::throw_backend_error(__FILE__, __LINE__, #call,                   \
                                              "info = " + std::to_string(gapbench_info_)); \
    }                                                                                      \
  } while (0)
