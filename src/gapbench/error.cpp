#include "gapbench/error.hpp"

#include <fmt/format.h>

namespace gapbench::detail {

void throw_backend_error(const char* file, int line, const char* call, const std::string& what) {
  throw BackendError(fmt::format("{}:{}: {} failed: {}", file, line, call, what));
}

}  // namespace gapbench::detail
