#include "gapbench/metrics.hpp"

#include <cmath>
#include <limits>

namespace gapbench {

Metrics compute_metrics(const ModelSpec& spec, const std::vector<double>& values,
                        const FrobeniusSums& sums) {
  Metrics m;
  const double nan = std::numeric_limits<double>::quiet_NaN();
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

}  // namespace gapbench
