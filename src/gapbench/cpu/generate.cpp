#include "gapbench/cpu/generate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "gapbench/cpu/blas.hpp"
#include "gapbench/entries.hpp"
#include "gapbench/factors.hpp"
#include "gapbench/row_stats.hpp"

namespace gapbench::cpu {
namespace {

// Normalises one row of raw values in place: softmax of logits, or division by the sum of
// positive weights. Only the first `valid` entries take part; the rest become 0 (causal mask).
template <typename Real>
void normalise_row(Real* row, std::int64_t T, std::int64_t valid, bool logits) {
  if (logits) {
    Real row_max = -std::numeric_limits<Real>::infinity();
    for (std::int64_t j = 0; j < valid; ++j) row_max = std::max(row_max, row[j]);
    for (std::int64_t j = 0; j < valid; ++j) row[j] = softmax_weight(row[j], row_max);
  }
  double sum = 0;
  for (std::int64_t j = 0; j < valid; ++j) sum += row[j];
  const Real inv = static_cast<Real>(1.0 / sum);
  for (std::int64_t j = 0; j < valid; ++j) row[j] *= inv;
  std::fill(row + valid, row + T, Real(0));
}

// Applies the fix to one normalised row and returns its sums of squares.
template <typename Real>
RowSquares finish_row(Real* row, std::int64_t T, Fix fix) {
  const Real shift = fix_shift<Real>(fix, T);
  const double inv_t = 1.0 / static_cast<double>(T);
  RowSquares sums{0.0, 0.0};
  for (std::int64_t j = 0; j < T; ++j) {
    add_entry(sums, row[j], inv_t);
    row[j] -= shift;
  }
  return sums;
}

template <typename Real>
FrobeniusSums generate_markov(const ModelSpec& spec, std::uint64_t seed, std::uint32_t index,
                              Real* a) {
  const std::int64_t T = spec.T;
  const bool logits = markov_uses_logits(spec.law);
  const Real beta = static_cast<Real>(spec.beta);
  std::vector<RowSquares> row_stats(static_cast<std::size_t>(T));
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < T; ++i) {
    Real* row = a + i * T;
    for (std::int64_t j = 0; j < T; ++j) {
      row[j] = markov_raw_entry<Real>(spec.law, beta, seed, index, static_cast<std::uint32_t>(i),
                                      static_cast<std::uint32_t>(j));
    }
    normalise_row(row, T, T, logits);
    row_stats[i] = finish_row(row, T, spec.fix);
  }
  return sum_rows(row_stats, spec.fix);
}

template <typename Real>
FrobeniusSums generate_attention(const ModelSpec& spec, std::uint64_t seed, std::uint32_t index,
                                 Real* a) {
  const AttentionFactors<Real> f = attention_factors<Real>(spec, seed, index);
  return attention_from_factors(spec.T, spec.dk, f.queries.data(), f.keys.data(),
                                attention_logit_scale(static_cast<Real>(spec.beta), spec.dk),
                                spec.causal, spec.fix, a);
}

}  // namespace

// OpenBLAS rounds differently depending on how its threads split the output, so the product is
// cut into fixed panels of rows, each computed by one single-threaded OpenBLAS call, with OpenMP
// over the panels.
template <typename Real>
void deterministic_product(Real alpha, bool transpose_a, bool transpose_b, std::int64_t m,
                           std::int64_t n, std::int64_t k, const Real* a, const Real* b, Real beta,
                           Real* c) {
  constexpr std::int64_t kPanelRows = 64;
  const SerialBlas serial;
  const std::int64_t panels = (m + kPanelRows - 1) / kPanelRows;
#pragma omp parallel for schedule(dynamic)
  for (std::int64_t p = 0; p < panels; ++p) {
    const std::int64_t first = p * kPanelRows;
    const std::int64_t rows = std::min(kPanelRows, m - first);
    // Rows first.. of op(A): rows of A (ld k), or columns of A^T's storage (ld m).
    const Real* panel = transpose_a ? a + first : a + first * k;
    blas::gemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans,
               transpose_b ? CblasTrans : CblasNoTrans, rows, n, k, alpha, panel,
               transpose_a ? m : k, b, transpose_b ? k : n, beta, c + first * n, n);
  }
}

template <typename Real>
FrobeniusSums attention_from_factors(std::int64_t T, std::int64_t dk, const Real* queries,
                                     const Real* keys, Real logit_scale, bool causal, Fix fix,
                                     Real* a) {
  // Logits without their scale: a = Q K^T, row-major.
  deterministic_gemm(/*transpose_b=*/true, T, T, dk, queries, keys, a);
  std::vector<RowSquares> row_stats(static_cast<std::size_t>(T));
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < T; ++i) {
    Real* row = a + i * T;
    const std::int64_t valid = attended_in(i, 0, T, causal);
    for (std::int64_t j = 0; j < valid; ++j) row[j] *= logit_scale;
    normalise_row(row, T, valid, /*logits=*/true);
    row_stats[i] = finish_row(row, T, fix);
  }
  return sum_rows(row_stats, fix);
}

template <typename Real>
std::vector<Real> gaussian_matrix(Stream stream, Real scale, std::uint64_t seed,
                                  std::uint32_t index, std::int64_t rows, std::int64_t cols) {
  std::vector<Real> m(static_cast<std::size_t>(rows * cols));
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < rows; ++i) {
    for (std::int64_t j = 0; j < cols; ++j) {
      m[i * cols + j] = gaussian_factor_entry<Real>(
          stream, scale, seed, index, static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(j));
    }
  }
  return m;
}

template std::vector<float> gaussian_matrix<float>(Stream, float, std::uint64_t, std::uint32_t,
                                                   std::int64_t, std::int64_t);
template std::vector<double> gaussian_matrix<double>(Stream, double, std::uint64_t, std::uint32_t,
                                                     std::int64_t, std::int64_t);

template <typename Real>
void round_logits_inputs(LogitsPrecision logits, std::vector<Real>& factor) {
  if (logits == LogitsPrecision::kFull) return;
  for (Real& v : factor) v = round_logits_input(v, logits);
}

template void round_logits_inputs<float>(LogitsPrecision, std::vector<float>&);
template void round_logits_inputs<double>(LogitsPrecision, std::vector<double>&);

template <typename Real>
AttentionFactors<Real> attention_factors(const ModelSpec& spec, std::uint64_t seed,
                                         std::uint32_t index) {
  const AttentionRecipe r = attention_recipe(spec);
  const auto draw = [&](const FactorDraw& f) {
    return gaussian_matrix<Real>(f.stream, static_cast<Real>(f.scale), seed, index, f.rows, f.cols);
  };
  AttentionFactors<Real> f;
  if (r.direct) {
    f = {draw(r.q), draw(r.k)};
  } else {
    const auto x = draw(r.x);
    const auto wq = draw(r.wq);
    const auto wk = draw(r.wk);
    f.queries.resize(static_cast<std::size_t>(spec.T * spec.dk));
    f.keys.resize(f.queries.size());
    deterministic_gemm(false, spec.T, spec.dk, spec.d, x.data(), wq.data(), f.queries.data());
    deterministic_gemm(false, spec.T, spec.dk, spec.d, x.data(), wk.data(), f.keys.data());
  }
  round_logits_inputs(spec.logits, f.queries);
  round_logits_inputs(spec.logits, f.keys);
  return f;
}

template <typename Real>
FrobeniusSums generate_dense(const ModelSpec& spec, std::uint64_t seed, std::uint32_t index,
                             Real* a) {
  validate(spec);
  return spec.kind == ModelKind::kMarkov ? generate_markov(spec, seed, index, a)
                                         : generate_attention(spec, seed, index, a);
}

template <typename Real>
std::vector<Real> generate_dense(const ModelSpec& spec, std::uint64_t seed, std::uint32_t index) {
  std::vector<Real> a(static_cast<std::size_t>(spec.T * spec.T));
  generate_dense(spec, seed, index, a.data());
  return a;
}

template <typename Real>
Real generate_entry(const ModelSpec& spec, std::uint64_t seed, std::uint32_t index,
                    std::int64_t row, std::int64_t column) {
  validate(spec);
  const std::int64_t T = spec.T;
  std::vector<Real> raw(static_cast<std::size_t>(T));
  std::int64_t valid = T;
  bool logits = true;
  if (spec.kind == ModelKind::kMarkov) {
    logits = markov_uses_logits(spec.law);
    for (std::int64_t j = 0; j < T; ++j) {
      raw[j] =
          markov_raw_entry<Real>(spec.law, static_cast<Real>(spec.beta), seed, index,
                                 static_cast<std::uint32_t>(row), static_cast<std::uint32_t>(j));
    }
  } else {
    const AttentionFactors<Real> f = attention_factors<Real>(spec, seed, index);
    const Real scale = attention_logit_scale(static_cast<Real>(spec.beta), spec.dk);
    valid = attended_in(row, 0, T, spec.causal);
    for (std::int64_t j = 0; j < valid; ++j) {
      Real dot = 0;
      for (std::int64_t c = 0; c < spec.dk; ++c) {
        dot += f.queries[row * spec.dk + c] * f.keys[j * spec.dk + c];
      }
      raw[j] = scale * dot;
    }
  }
  normalise_row(raw.data(), T, valid, logits);
  return raw[column] - fix_shift<Real>(spec.fix, T);
}

#define GAPBENCH_INSTANTIATE(Real)                                                                 \
  template FrobeniusSums generate_dense<Real>(const ModelSpec&, std::uint64_t, std::uint32_t,      \
                                              Real*);                                              \
  template std::vector<Real> generate_dense<Real>(const ModelSpec&, std::uint64_t, std::uint32_t); \
  template AttentionFactors<Real> attention_factors<Real>(const ModelSpec&, std::uint64_t,         \
                                                          std::uint32_t);                          \
  template Real generate_entry<Real>(const ModelSpec&, std::uint64_t, std::uint32_t, std::int64_t, \
                                     std::int64_t);                                                \
  template void deterministic_product<Real>(Real, bool, bool, std::int64_t, std::int64_t,          \
                                            std::int64_t, const Real*, const Real*, Real, Real*);  \
  template FrobeniusSums attention_from_factors<Real>(std::int64_t, std::int64_t, const Real*,     \
                                                      const Real*, Real, bool, Fix, Real*);
GAPBENCH_INSTANTIATE(float)
GAPBENCH_INSTANTIATE(double)
#undef GAPBENCH_INSTANTIATE

}  // namespace gapbench::cpu
