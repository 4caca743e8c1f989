// The names of the backend and operator choices (the CLI's --backend and --operator).
#include "gapbench/backend.hpp"

#include <fmt/format.h>

#include <cmath>

#include "gapbench/error.hpp"

namespace gapbench {

BackendChoice parse_backend(const std::string& s, const std::string& flag) {
  if (s == "auto") return BackendChoice::kAuto;
  if (s == "cpu") return BackendChoice::kCpu;
  if (s == "cuda") return BackendChoice::kCuda;
  throw UsageError(
      fmt::format("{}: unknown backend '{}'; choose one of: auto, cpu, cuda", flag, s));
}

std::string to_string(BackendChoice v) {
  switch (v) {
    case BackendChoice::kAuto:
      return "auto";
    case BackendChoice::kCpu:
      return "cpu";
    case BackendChoice::kCuda:
      return "cuda";
  }
  return "?";
}

OperatorChoice parse_operator(const std::string& s, const std::string& flag) {
  if (s == "dense") return OperatorChoice::kDense;
  if (s == "fused") return OperatorChoice::kFused;
  if (s == "auto") return OperatorChoice::kAuto;
  throw UsageError(
      fmt::format("{}: unknown operator '{}'; choose one of: dense, fused, auto", flag, s));
}

std::string to_string(OperatorChoice v) {
  switch (v) {
    case OperatorChoice::kDense:
      return "dense";
    case OperatorChoice::kFused:
      return "fused";
    case OperatorChoice::kAuto:
      return "auto";
  }
  return "?";
}

void check_sums_finite(const PointSpec& point, const MatrixOutcome& o) {
  if (!std::isfinite(o.sums.frob_sq)) {
    throw Error(fmt::format(
        "matrix {} of {} has entries that are not finite in {}: the logits overflow; lower "
        "--beta or use --precision float64",
        o.index, describe(point.model), to_string(point.precision)));
  }
}

}  // namespace gapbench
