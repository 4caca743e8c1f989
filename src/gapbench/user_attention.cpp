#include "gapbench/user_attention.hpp"

#include <fmt/format.h>

#include <cmath>

#include "gapbench/error.hpp"
#include "gapbench/npy.hpp"
#include "gapbench/text.hpp"

namespace gapbench {
namespace {

// Refuses the first value of `values` (heads x T x dk) that is NaN or infinite, by its place: the
// solvers would otherwise fail deep inside LAPACK (dsyev's info = -5) with no hint of the cause.
template <typename Real>
void check_finite(const std::vector<Real>& values, const std::string& path, std::int64_t T,
                  std::int64_t dk) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (std::isfinite(values[i])) continue;
    const auto at = static_cast<std::int64_t>(i);
    throw UsageError(fmt::format(
        "--qk: {}: head {}, row {}, col {} is {}; queries and keys must be finite", path,
        at / (T * dk), at / dk % T, at % dk, std::isnan(values[i]) ? "NaN" : "infinite"));
  }
}

}  // namespace

template <typename Real>
QkHeads<Real> load_qk(const std::string& files) {
  const std::vector<std::string> paths = split(files, ',');
  if (paths.size() != 2 || paths[0].empty() || paths[1].empty()) {
    throw UsageError(fmt::format("--qk: '{}' is not two files; give --qk Q.npy,K.npy", files));
  }
  std::vector<std::int64_t> q_shape, k_shape;
  QkHeads<Real> qk;
  try {
    qk.queries = read_npy_array<Real>(paths[0], q_shape);
    qk.keys = read_npy_array<Real>(paths[1], k_shape);
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("--qk: {}", e.what()));
  }
  if (q_shape != k_shape) {
    throw UsageError(
        fmt::format("--qk: {} and {} have different shapes; queries and keys must "
                    "both be T x dk (or heads x T x dk)",
                    paths[0], paths[1]));
  }
  const bool with_heads = q_shape.size() == 3;
  qk.heads = with_heads ? q_shape[0] : 1;
  qk.T = q_shape[with_heads ? 1 : 0];
  qk.dk = q_shape[with_heads ? 2 : 1];
  if (qk.heads < 1 || qk.T < 2 || qk.dk < 1) {
    throw UsageError(
        fmt::format("--qk: {} holds {} heads of {} x {}; need T >= 2 tokens and "
                    "dk >= 1",
                    paths[0], qk.heads, qk.T, qk.dk));
  }
  check_finite(qk.queries, paths[0], qk.T, qk.dk);
  check_finite(qk.keys, paths[1], qk.T, qk.dk);
  return qk;
}

template QkHeads<float> load_qk<float>(const std::string&);
template QkHeads<double> load_qk<double>(const std::string&);

}  // namespace gapbench
