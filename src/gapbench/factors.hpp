// The attention model's queries and keys as a recipe that both backends follow (PAPER.md,
// "Models"): which Philox streams are drawn, at which scale and shape, and which products form
// Q and K. cpu/generate.cpp and cuda/generate.cu read it; neither restates it.
#pragma once

#include <cmath>
#include <cstdint>

#include "gapbench/model.hpp"
#include "gapbench/rng.hpp"

namespace gapbench {

// A rows x cols row-major factor of `scale` times standard normals from `stream`
// (entry (i, j) from counter (j, i, index, stream)).
struct FactorDraw {
  Stream stream;
  double scale;
  std::int64_t rows, cols;
};

struct AttentionRecipe {
  // Isometric inputs: X with orthonormal rows and i.i.d. N(0, sigma^2) weights give exactly
  // independent Q, K with i.i.d. N(0, sigma^2) entries, so Q and K are drawn directly (q, k) and
  // no T x d matrix is needed. Gaussian inputs: Q = X W_Q and K = X W_K from the draws x, wq, wk.
  bool direct = true;
  FactorDraw q{}, k{};
  FactorDraw x{}, wq{}, wk{};
};

inline AttentionRecipe attention_recipe(const ModelSpec& spec) {
  const double sigma = spec.weight_sigma();
  AttentionRecipe r;
  r.direct = spec.input == InputKind::kIsometric;
  r.q = {Stream::kQueries, sigma, spec.T, spec.dk};
  r.k = {Stream::kKeys, sigma, spec.T, spec.dk};
  r.x = {Stream::kInputs, 1.0 / std::sqrt(static_cast<double>(spec.d)), spec.T, spec.d};
  r.wq = {Stream::kQueryWeights, sigma, spec.d, spec.dk};
  r.wk = {Stream::kKeyWeights, sigma, spec.d, spec.dk};
  return r;
}

// Elements of the factors the recipe holds at once: Q and K, and for gaussian inputs X, W_Q and
// W_K too (the generation workspace of one attention matrix); 0 for markov.
inline std::int64_t attention_factor_elements(const ModelSpec& spec) {
  if (spec.kind != ModelKind::kAttention) return 0;
  const AttentionRecipe r = attention_recipe(spec);
  const auto n = [](const FactorDraw& f) { return f.rows * f.cols; };
  return n(r.q) + n(r.k) + (r.direct ? 0 : n(r.x) + n(r.wq) + n(r.wk));
}

}  // namespace gapbench
