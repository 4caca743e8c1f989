#include "gapbench/cpu/fused_operator.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "gapbench/cpu/blas.hpp"
#include "gapbench/cpu/generate.hpp"
#include "gapbench/entries.hpp"
#include "gapbench/row_stats.hpp"

namespace gapbench::cpu {
namespace {

// Tiles of A: 128 rows by 512 columns (512 KiB in float64), so that a tile, its slice of K and
// a block of vectors stay in the L2 cache of one core.
constexpr std::int64_t kTileRows = 128;
constexpr std::int64_t kTileCols = 512;

std::int64_t blocks(std::int64_t n, std::int64_t size) { return (n + size - 1) / size; }

}  // namespace

template <typename Real>
FusedOperator<Real> FusedOperator<Real>::attention(std::vector<Real> queries,
                                                   std::vector<Real> keys, std::int64_t T,
                                                   std::int64_t dk, Real logit_scale, bool causal,
                                                   Fix fix) {
  FusedOperator op;
  op.m_source = Source::kAttention;
  op.m_T = T;
  op.m_dk = dk;
  op.m_queries = std::move(queries);
  op.m_keys = std::move(keys);
  op.m_logit_scale = logit_scale;
  op.m_causal = causal;
  op.m_fix = fix;
  op.m_logits = true;
  op.compute_row_statistics();
  return op;
}

template <typename Real>
FusedOperator<Real> FusedOperator<Real>::from_model(const ModelSpec& spec, std::uint64_t seed,
                                                    std::uint32_t index) {
  validate(spec);
  if (spec.kind == ModelKind::kAttention) {
    AttentionFactors<Real> f = attention_factors<Real>(spec, seed, index);
    return attention(std::move(f.queries), std::move(f.keys), spec.T, spec.dk,
                     attention_logit_scale(static_cast<Real>(spec.beta), spec.dk), spec.causal,
                     spec.fix);
  }
  FusedOperator op;
  op.m_source = Source::kMarkov;
  op.m_T = spec.T;
  op.m_spec = spec;
  op.m_seed = seed;
  op.m_index = index;
  op.m_fix = spec.fix;
  op.m_logits = markov_uses_logits(spec.law);
  op.compute_row_statistics();
  return op;
}

template <typename Real>
std::int64_t FusedOperator<Real>::bytes() const {
  return static_cast<std::int64_t>(
      (m_queries.size() + m_keys.size() + m_row_max.size() + m_row_inv.size()) * sizeof(Real));
}

template <typename Real>
void FusedOperator<Real>::raw_tile(std::int64_t i0, std::int64_t ni, std::int64_t j0,
                                   std::int64_t nj, Real* tile) const {
  if (m_source == Source::kAttention) {
    blas::gemm(CblasRowMajor, CblasNoTrans, CblasTrans, ni, nj, m_dk, Real(1),
               m_queries.data() + i0 * m_dk, m_dk, m_keys.data() + j0 * m_dk, m_dk, Real(0), tile,
               nj);
    for (std::int64_t r = 0; r < ni; ++r) {
      Real* row = tile + r * nj;
      const std::int64_t valid = attended_in(i0 + r, j0, nj, m_causal);
      for (std::int64_t c = 0; c < valid; ++c) row[c] *= m_logit_scale;
    }
    return;
  }
  const Real beta = static_cast<Real>(m_spec.beta);
  for (std::int64_t r = 0; r < ni; ++r) {
    Real* row = tile + r * nj;
    const auto i = static_cast<std::uint32_t>(i0 + r);
    for (std::int64_t c = 0; c < nj; ++c) {
      row[c] = markov_raw_entry<Real>(m_spec.law, beta, m_seed, m_index, i,
                                      static_cast<std::uint32_t>(j0 + c));
    }
  }
}

template <typename Real>
void FusedOperator<Real>::normalised_tile(std::int64_t i0, std::int64_t ni, std::int64_t j0,
                                          std::int64_t nj, Real* tile) const {
  raw_tile(i0, ni, j0, nj, tile);
  for (std::int64_t r = 0; r < ni; ++r) {
    Real* row = tile + r * nj;
    const std::int64_t i = i0 + r;
    const std::int64_t valid = attended_in(i, j0, nj, m_causal);
    const Real row_max = m_row_max[i], inv = m_row_inv[i];
    if (m_logits) {
      for (std::int64_t c = 0; c < valid; ++c) row[c] = softmax_weight(row[c], row_max) * inv;
    } else {
      for (std::int64_t c = 0; c < valid; ++c) row[c] *= inv;
    }
    std::fill(row + valid, row + nj, Real(0));
  }
}

template <typename Real>
std::vector<double> FusedOperator<Real>::diagonal() const {
  std::vector<double> d(static_cast<std::size_t>(m_T));
  const SerialBlas serial;
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < m_T; ++i) {
    Real entry = 0;
    normalised_tile(i, 1, i, 1, &entry);
    d[static_cast<std::size_t>(i)] = entry;
  }
  return d;
}

// One pass over the tiles: per row the maximum m, the sum l of exp(x - m) (or of the weights)
// and the sum of their squares, rescaled whenever a later tile raises the maximum (the online
// softmax), all in float64.
template <typename Real>
void FusedOperator<Real>::compute_row_statistics() {
  const std::int64_t T = m_T;
  m_row_max.assign(static_cast<std::size_t>(T), Real(0));
  m_row_inv.assign(static_cast<std::size_t>(T), Real(0));
  std::vector<RowSquares> row_squares(static_cast<std::size_t>(T));
  const SerialBlas serial;
#pragma omp parallel
  {
    std::vector<Real> tile(static_cast<std::size_t>(kTileRows * kTileCols));
    std::vector<MaxSum> stats(kTileRows);
#pragma omp for schedule(dynamic)
    for (std::int64_t ib = 0; ib < blocks(T, kTileRows); ++ib) {
      const std::int64_t i0 = ib * kTileRows, ni = std::min(kTileRows, T - i0);
      std::fill(stats.begin(), stats.end(), empty_row(m_logits));
      const std::int64_t j_end = m_causal ? i0 + ni : T;
      for (std::int64_t j0 = 0; j0 < j_end; j0 += kTileCols) {
        const std::int64_t nj = std::min(kTileCols, j_end - j0);
        raw_tile(i0, ni, j0, nj, tile.data());
        for (std::int64_t r = 0; r < ni; ++r) {
          const Real* row = tile.data() + r * nj;
          const std::int64_t valid = attended_in(i0 + r, j0, nj, m_causal);
          if (valid == 0) continue;
          MaxSum& acc = stats[r];
          if (!m_logits) {
            for (std::int64_t c = 0; c < valid; ++c) add_weight(acc, row[c]);
            continue;
          }
          raise_max(acc, *std::max_element(row, row + valid));
          for (std::int64_t c = 0; c < valid; ++c) {
            add_weight(acc, std::exp(static_cast<double>(row[c]) - acc.max));
          }
        }
      }
      for (std::int64_t r = 0; r < ni; ++r) {
        m_row_max[i0 + r] = static_cast<Real>(stats[r].max);
        m_row_inv[i0 + r] = static_cast<Real>(1.0 / stats[r].sum);
        row_squares[i0 + r] = row_squares_from_sum_sq(normalised_sum_sq(stats[r]), T);
      }
    }
  }
  m_sums = sum_rows(row_squares, m_fix);
}

// Y -= (1/T) 1 (1^T X): the fix's rank-one term, for A X and A^T X alike.
template <typename Real>
void FusedOperator<Real>::subtract_fix(BlockView<const Real> x, BlockView<Real> y) const {
  if (m_fix != Fix::kCenter) return;
  for (std::int64_t c = 0; c < x.cols; ++c) {
    double sum = 0;
    for (std::int64_t i = 0; i < x.rows; ++i) sum += x.data[c * x.ld + i];
    const Real shift = static_cast<Real>(sum / static_cast<double>(m_T));
    for (std::int64_t i = 0; i < y.rows; ++i) y.data[c * y.ld + i] -= shift;
  }
}

template <typename Real>
void FusedOperator<Real>::apply(BlockView<const Real> x, BlockView<Real> y) const {
  this->count_pass();
  const std::int64_t T = m_T, b = x.cols;
  const SerialBlas serial;
#pragma omp parallel
  {
    std::vector<Real> tile(static_cast<std::size_t>(kTileRows * kTileCols));
#pragma omp for schedule(dynamic)
    for (std::int64_t ib = 0; ib < blocks(T, kTileRows); ++ib) {
      const std::int64_t i0 = ib * kTileRows, ni = std::min(kTileRows, T - i0);
      for (std::int64_t c = 0; c < b; ++c) std::fill_n(y.data + c * y.ld + i0, ni, Real(0));
      const std::int64_t j_end = m_causal ? i0 + ni : T;  // the causal mask zeroes the rest
      for (std::int64_t j0 = 0; j0 < j_end; j0 += kTileCols) {
        const std::int64_t nj = std::min(kTileCols, j_end - j0);
        normalised_tile(i0, ni, j0, nj, tile.data());
        if (b == 1) {
          blas::gemv(CblasRowMajor, CblasNoTrans, ni, nj, Real(1), tile.data(), nj, x.data + j0,
                     Real(1), y.data + i0);
        } else {
          // Row-major tile (ni x nj) is the column-major nj x ni: transpose it back.
          blas::gemm(CblasColMajor, CblasTrans, CblasNoTrans, ni, b, nj, Real(1), tile.data(), nj,
                     x.data + j0, x.ld, Real(1), y.data + i0, y.ld);
        }
      }
    }
  }
  subtract_fix(x, y);
}

template <typename Real>
void FusedOperator<Real>::apply_transpose(BlockView<const Real> x, BlockView<Real> y) const {
  this->count_pass();
  const std::int64_t T = m_T, b = x.cols;
  const SerialBlas serial;
#pragma omp parallel
  {
    std::vector<Real> tile(static_cast<std::size_t>(kTileRows * kTileCols));
#pragma omp for schedule(dynamic)
    for (std::int64_t jb = 0; jb < blocks(T, kTileCols); ++jb) {
      const std::int64_t j0 = jb * kTileCols, nj = std::min(kTileCols, T - j0);
      for (std::int64_t c = 0; c < b; ++c) std::fill_n(y.data + c * y.ld + j0, nj, Real(0));
      // Under the causal mask only rows i >= j0 reach these columns.
      const std::int64_t i_start = m_causal ? j0 / kTileRows * kTileRows : 0;
      for (std::int64_t i0 = i_start; i0 < T; i0 += kTileRows) {
        const std::int64_t ni = std::min(kTileRows, T - i0);
        normalised_tile(i0, ni, j0, nj, tile.data());
        if (b == 1) {
          blas::gemv(CblasRowMajor, CblasTrans, ni, nj, Real(1), tile.data(), nj, x.data + i0,
                     Real(1), y.data + j0);
        } else {
          blas::gemm(CblasColMajor, CblasNoTrans, CblasNoTrans, nj, b, ni, Real(1), tile.data(), nj,
                     x.data + i0, x.ld, Real(1), y.data + j0, y.ld);
        }
      }
    }
  }
  subtract_fix(x, y);
}

template class FusedOperator<float>;
template class FusedOperator<double>;

}  // namespace gapbench::cpu
