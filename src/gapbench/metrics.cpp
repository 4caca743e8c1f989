#include "gapbench/metrics.hpp"

#include <cmath>
#include <limits>

namespace gapbench {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

Metrics no_metrics() {
  Metrics m;
  m.s1 = m.s2 = m.gap = m.ratio = m.frob = m.frob_perp_sq = m.stable_rank = kNaN;
  m.lambda1_dist = m.abs_lambda2 = m.eigen_gap = kNaN;
  return m;
}

Metrics compute_metrics(const ModelSpec& spec, const std::vector<double>& values,
                        const FrobeniusSums& sums) {
  Metrics m = no_metrics();
  const double nan = kNaN;
  m.s1 = values.empty() ? nan : values[0];
  m.s2 = values.size() > 1 ? values[1] : nan;
  m.gap = m.s1 - m.s2;
  m.ratio = m.s2 / m.s1;
  m.frob = std::sqrt(sums.frob_sq);
  m.frob_perp_sq = sums.frob_perp_sq;
  m.stable_rank = sums.frob_sq / (m.s1 * m.s1);
  m.c = markov_c(spec);
  if (m.c) {
    const double c = *m.c, T = static_cast<double>(spec.T);
    if (spec.fix == Fix::kNone) m.s1_excess = (m.s1 - 1.0) * 2.0 * T / (c * c);
    const double edge = spec.fix == Fix::kNone ? m.s2 : m.s1;
    m.edge_ratio = std::sqrt(T) * edge / (2.0 * c);
    m.frob_perp_over_c2 = sums.frob_perp_sq / (c * c);
  }
  return m;
}

Metrics compute_eigen_metrics(const ModelSpec& spec, const std::vector<double>& re,
                              const std::vector<double>& im, const FrobeniusSums& sums) {
  Metrics m = no_metrics();
  m.frob = std::sqrt(sums.frob_sq);
  m.frob_perp_sq = sums.frob_perp_sq;
  if (!re.empty()) m.lambda1_dist = std::hypot(re[0] - 1.0, im[0]);
  if (re.size() > 1) {
    m.abs_lambda2 = std::hypot(re[1], im[1]);
    m.eigen_gap = 1.0 - m.abs_lambda2;
  }
  m.c = markov_c(spec);
  if (m.c) {
    const double c = *m.c, T = static_cast<double>(spec.T);
    m.frob_perp_over_c2 = sums.frob_perp_sq / (c * c);
    if (spec.fix == Fix::kNone) m.eigen_edge_ratio = std::sqrt(T) * m.abs_lambda2 / c;
    if (spec.fix == Fix::kCenter && !re.empty()) {
      m.eigen_edge_ratio = std::sqrt(T) * std::hypot(re[0], im[0]) / c;
    }
  }
  return m;
}

}  // namespace gapbench
