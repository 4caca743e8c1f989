// The names of the backend and operator choices (the CLI's --backend and --operator).
#include "gapbench/backend.hpp"

#include <fmt/format.h>

#include <cmath>

#include "gapbench/error.hpp"
#include "gapbench/names.hpp"

namespace gapbench {

namespace {
constexpr NameTable<BackendChoice, 3> kBackendNames{
    {{"auto", BackendChoice::kAuto}, {"cpu", BackendChoice::kCpu}, {"cuda", BackendChoice::kCuda}}};
constexpr NameTable<OperatorChoice, 3> kOperatorNames{{{"dense", OperatorChoice::kDense},
                                                       {"fused", OperatorChoice::kFused},
                                                       {"auto", OperatorChoice::kAuto}}};
}  // namespace

BackendChoice parse_backend(const std::string& s, const std::string& flag) {
  return parse_name(kBackendNames, s, flag, "backend");
}
std::string to_string(BackendChoice v) { return name_of(kBackendNames, v); }

OperatorChoice parse_operator(const std::string& s, const std::string& flag) {
  return parse_name(kOperatorNames, s, flag, "operator");
}
std::string to_string(OperatorChoice v) { return name_of(kOperatorNames, v); }

void check_sums_finite(const PointSpec& point, const MatrixOutcome& o) {
  if (!std::isfinite(o.sums.frob_sq)) {
    throw Error(fmt::format(
        "matrix {} of {} has entries that are not finite in {}: the logits overflow; lower "
        "--beta or use --precision float64",
        o.index, describe(point.model), to_string(point.precision)));
  }
}

}  // namespace gapbench
