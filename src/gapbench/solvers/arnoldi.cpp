#include "gapbench/solvers/arnoldi.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "gapbench/error.hpp"
#include "gapbench/runtime.hpp"
#include "gapbench/solvers/block_orth.hpp"
#include "gapbench/solvers/eigen_values.hpp"
#include "gapbench/solvers/small_dense.hpp"

namespace gapbench {

ArnoldiPlan plan_arnoldi(const SolverOptions& options, Precision precision, std::int64_t dim) {
  ArnoldiPlan plan;
  plan.k = options.k;
  if (plan.k < 1 || plan.k > kMaxK) {
    throw UsageError(fmt::format("--k: arnoldi computes 1 to {} values, not {}", kMaxK, plan.k));
  }
  // The smallest workable basis holds k + 1 values (a pair taken whole) and two blocks more
  // (the kept vectors stay clear of the residual block they are copied next to), plus the
  // residual block: T >= k + 1 + 3b.
  if (dim < plan.k + 4) {
    throw UsageError(fmt::format(
        "--k: arnoldi needs T >= k + 4 (here k = {}, T = {}); use --solver exact for k this "
        "close to T",
        plan.k, dim));
  }
  const std::int64_t largest_block = (dim - plan.k - 1) / 3;
  if (options.block > largest_block) {
    throw UsageError(fmt::format(
        "--block: arnoldi needs T >= k + 1 + 3 x block (here k = {}, T = {}); use --block {} or "
        "less",
        plan.k, dim, largest_block));
  }
  plan.block = options.block > 0
                   ? options.block
                   : static_cast<int>(std::min<std::int64_t>(kArnoldiDefaultBlock, largest_block));
  const int b = plan.block;
  plan.tol = options.tol > 0 ? options.tol : default_tol(precision);
  // Default basis: 100 up to T = 1365, growing with T to 300 at T = 4096 and above (at least 4k),
  // keep half of it. On markov exponential (k = 4, seeds 0-4; docs/solvers.md) a basis of 100
  // took 1.6x fewer products than 60 and 1.9x fewer than 40 at T = 4096, and 20 returned a wrong
  // |lambda_2| on 4 of 5 seeds; the bulk's edge grows more crowded with T, and at T = 4096 a
  // basis of 300 (keeping 150) took 450 passes on seeds 0-4 against 498-788 with 100 (150:
  // 447-601, 200 and 250: ~500), for about 22% more orthogonalisation per step. At T = 2048,
  // 170 against 100 saved 3% of the passes: no gain there. At a basis of 100, keeping 30%, 50%
  // or 70% differed by less than the spread over seeds.
  const auto grown = static_cast<int>(std::clamp<std::int64_t>(
      dim * kArnoldiLargeBasis / kArnoldiLargeBasisFrom, kArnoldiDefaultBasis, kArnoldiLargeBasis));
  int basis = options.basis > 0 ? options.basis : std::max(grown, 4 * plan.k);
  basis = static_cast<int>(std::min<std::int64_t>(basis, dim - b));
  if (basis < plan.k + 1 + 2 * b) {
    throw UsageError(fmt::format(
        "--basis: a basis of {} vectors cannot hold k + 1 = {} values and two blocks of {} more; "
        "raise --basis to at least {}",
        basis, plan.k + 1, b, plan.k + 1 + 2 * b));
  }
  plan.basis = basis;
  // Keep half the basis, and at least all but 100 vectors: convergence is tested at restarts
  // (and between them where forecast_test expects it), so a restart every 100 steps at most
  // bounds the steps run past convergence. At T = 4096 (basis 300, seed 0 indices 0-4, tests at
  // restarts only) keeping 200 took 400-501 passes where keeping 150 took 450-601 (225:
  // 449-525, 250: 401-498, in more restarts); with forecast tests keep 200 still took the
  // fewest in total.
  plan.keep = std::clamp(std::max(basis / 2, basis - 100), plan.k + 1, basis - 2 * b);
  // Steps needed grow with T (markov exponential, k = 4, the default basis: mean 279 products at
  // T = 1000, 597 at 4096, 1228 and 2147 on two seeds at 8192): 10,000 leaves room past 8192.
  // --max-iter counts block steps (b products each), as for lanczos.
  plan.max_iter = options.max_iter > 0 ? options.max_iter
                                       : (std::max(5 * kDefaultMaxIter, 20 * basis) + b - 1) / b;
  const int fewest = (plan.k + 2 + b - 1) / b;
  if (plan.max_iter < fewest) {
    throw UsageError(
        fmt::format("--max-iter: {} Arnoldi steps cannot give k = {} values; give at least {}",
                    plan.max_iter, plan.k, fewest));
  }
  return plan;
}

// V (basis + block), the product / restart / Ritz vector block (max(block, keep + 1, k + 1)),
// the products of the Ritz vectors (k + 1) and the orthonormaliser's scratch block.
std::int64_t workspace_elements(const ArnoldiPlan& plan, std::int64_t dim) {
  const std::int64_t columns = (plan.basis + plan.block) +
                               std::max({plan.block, plan.keep + 1, plan.k + 1}) + (plan.k + 1) +
                               plan.block;
  return columns * dim;
}

namespace {

// The Ritz values of one projected matrix, ordered, with what the residuals need.
struct RitzState {
  detail::SmallSchur schur;
  std::vector<double> vectors;   // eigenvectors of S (small_schur_eigenvectors), normalised
  std::vector<double> estimate;  // residual estimate of each of the top `count`
  int count = 0;                 // k, or k + 1 when the k-th opens a pair
};

template <typename Real>
class ArnoldiRun {
 public:
  ArnoldiRun(const LinearOperator<Real>& op, BlockOps<Real>& ops, const ArnoldiPlan& plan)
      : m_op(op),
        m_ops(ops),
        m_plan(plan),
        m_n(op.rows()),
        m_m(plan.basis),
        m_b(plan.block),
        m_v(ops.allocate(m_n, m_m + m_b)),
        m_work(ops.allocate(m_n, std::max({m_b, plan.keep + 1, plan.k + 1}))),
        m_product(ops.allocate(m_n, plan.k + 1)),
        m_scratch(ops.allocate(m_n, m_b)),
        m_orth(ops, m_scratch.view(), plan.seed) {
    if (op.rows() != op.cols()) {
      throw Error(fmt::format("arnoldi: eigenvalues need a square operator, not {} x {}", op.rows(),
                              op.cols()));
    }
    m_h.assign(static_cast<std::size_t>(m_m + m_b) * m_m, 0.0);
  }

  SolveResult run() {
    SolveResult result;
    const std::int64_t start_passes = m_op.passes();
    BlockView<Real> start = m_v.columns(0, m_b);
    BlockView<Real> raw = m_work.columns(0, m_b);
    m_ops.fill_random(start, m_plan.seed, 0);
    m_ops.copy(as_const(start), raw);
    m_orth.orthonormalize(raw, {}, start, /*is_product=*/false);
    int j = 0;  // vectors v_0 .. v_{j-1} satisfy the relation; v_j .. v_{j+b-1} expand next
    RitzState ritz;
    result.converged = false;
    while (true) {
      int next_test = forecast_test(j);
      while (j + m_b <= m_m && result.iterations < m_plan.max_iter) {
        throw_if_cancelled();
        expand(j);
        j += m_b;
        ++result.iterations;
        if (j >= next_test && j + m_b <= m_m) {
          // Only the top k + 1 need their order here: a failed test is not a restart.
          ritz = ritz_values(j, m_plan.k + 1);
          result.converged = test_convergence(ritz, result);
          if (result.converged) break;
          next_test = forecast_test(j);
        }
      }
      if (!result.converged) {
        // A restart keeps at most keep + 1 leading Schur vectors (restart_size): only those
        // positions need the order.
        ritz = ritz_values(j, m_plan.keep + 1);
        result.converged = test_convergence(ritz, result);
      }
      if (result.converged || result.iterations >= m_plan.max_iter) break;
      restart(j, ritz);
      j = restart_size(ritz, j);
      ++result.restarts;
    }
    const std::vector<double> re(ritz.schur.re.begin(), ritz.schur.re.begin() + ritz.count);
    const std::vector<double> im(ritz.schur.im.begin(), ritz.schur.im.begin() + ritz.count);
    keep_top_eigenvalues(re, im, m_plan.k, /*all_values=*/false, result);
    // The Arnoldi relation can drift from the truth in finite precision: the residuals are
    // recomputed from the final vectors, and a true residual over 10x its bound clears
    // `converged`.
    const double true_worst = true_residual(j, ritz);
    result.residual = true_worst / scale_or_tiny();
    const double floor = 10 * eps() * m_scale * std::sqrt(static_cast<double>(m_n));
    result.converged = result.converged && true_worst <= 10 * std::max(m_plan.tol * m_scale, floor);
    result.passes = m_op.passes() - start_passes;
    return result;
  }

 private:
  static double eps() { return std::numeric_limits<Real>::epsilon(); }
  // The scale as a divisor: 0 only for the zero operator, whose residuals are 0 too.
  double scale_or_tiny() const { return std::max(m_scale, std::numeric_limits<double>::min()); }

  // One block Arnoldi step: V[j+b .. j+2b) from A V[j .. j+b), orthogonalised against
  // V[0 .. j+b) twice and orthonormalised; columns j .. j+b of H hold the coefficients and R.
  void expand(int j) {
    BlockView<Real> w = m_work.columns(0, m_b);
    m_op.apply(as_const(m_v.columns(j, m_b)), w);
    const int known = j + m_b;
    const std::vector<double> c = m_orth.orthogonalize(m_v.columns(0, known), w);
    const std::vector<double> r =
        m_orth.orthonormalize(w, m_v.columns(0, known), m_v.columns(known, m_b), true);
    for (int col = 0; col < m_b; ++col) {
      for (int i = 0; i < known; ++i) {
        h(i, j + col) = c[static_cast<std::size_t>(col) * known + i];
      }
      for (int i = 0; i < m_b; ++i)
        h(known + i, j + col) = r[static_cast<std::size_t>(col) * m_b + i];
    }
  }

  // Sorted Schur form of S = H[0..j, 0..j], the eigenvectors, and the residual estimates
  // ||B x|| (B = H[j..j+b, 0..j]) of the top k (k + 1 with a pair) for unit x; raises the scale
  // to the largest singular value of H[0..j+b, 0..j].
  // Only the leading `sorted` (>= k + 1) positions are ordered.
  RitzState ritz_values(int j, int sorted) {
    RitzState out;
    std::vector<double> s(static_cast<std::size_t>(j) * j);
    for (int c = 0; c < j; ++c) {
      for (int r = 0; r < j; ++r) s[static_cast<std::size_t>(c) * j + r] = h(r, c);
    }
    out.schur = detail::small_schur_by_modulus(s, j, sorted);
    out.vectors = detail::small_schur_eigenvectors(out.schur, j);
    out.count = std::min(eigen_count(out.schur.im, m_plan.k), j);
    out.estimate.assign(static_cast<std::size_t>(out.count), 0.0);
    const auto column = [&](int c) { return out.vectors.data() + static_cast<std::size_t>(c) * j; };
    for (int i = 0; i < out.count;) {
      const bool pair = out.schur.im[static_cast<std::size_t>(i)] > 0 && i + 1 < j;
      const int width = pair ? 2 : 1;
      double norm_sq = 0, res_sq = 0;
      for (int c = i; c < i + width; ++c) {
        for (int r = 0; r < j; ++r) norm_sq += column(c)[r] * column(c)[r];
        for (int q = 0; q < m_b; ++q) {
          double dot = 0;
          for (int r = 0; r < j; ++r) dot += h(j + q, r) * column(c)[r];
          res_sq += dot * dot;
        }
      }
      const double inv = 1.0 / std::sqrt(norm_sq);
      for (int c = i; c < i + width; ++c) {
        for (int r = 0; r < j; ++r) column(c)[r] *= inv;
      }
      for (int c = i; c < i + width && c < out.count; ++c) {
        out.estimate[static_cast<std::size_t>(c)] = std::sqrt(res_sq) * inv;
      }
      i += width;
    }
    // ||H[0..j+b, 0..j]||_2 = ||A V_j||_2 <= s1.
    const double top = detail::small_top_singular_value(m_h.data(), j + m_b, j, m_m + m_b);
    m_scale = std::max({m_scale, top, std::hypot(out.schur.re[0], out.schur.im[0])});
    return out;
  }

  // Records a failed test (products so far, worst estimate over tol x scale) for forecast_test.
  bool test_convergence(const RitzState& ritz, SolveResult& result) {
    bool converged = true;
    double worst = 0;
    for (const double e : ritz.estimate) {
      worst = std::max(worst, e);
      converged = converged && e <= m_plan.tol * m_scale;
    }
    result.residual_estimate = worst / scale_or_tiny();
    if (!converged) {
      m_failed.push_back({m_op.passes() * m_b, worst / std::max(m_plan.tol * m_scale, 1e-300)});
    }
    return converged;
  }

  // The j (a multiple of b past j_now) at which to test before the basis is full, or m_m for
  // none. The worst residual decays about geometrically in the products (at T = 4096, markov,
  // the peers' matrices: by about 2.2x per 20), so the last failed test and one at least 20
  // products before it give the rate and the products still needed; the test comes 15% (and 2
  // products) after the forecast, at least 8 products after the last test, and is skipped when
  // it would save fewer than 8 (the restart's test is as near). A test that converges costs
  // nothing extra (it replaces the restart's); one that fails costs a Schur form of j x j. On
  // the peers' matrices at T = 4096 this stopped at 400-483 products where the restarts' tests
  // alone took 400-500 (docs/solvers.md).
  int forecast_test(int j_now) const {
    if (!m_plan.forecast || m_failed.size() < 2) return m_m;
    const auto& [last_products, last] = m_failed.back();
    auto earlier = m_failed.rbegin() + 1;
    while (earlier + 1 != m_failed.rend() && last_products - earlier->first < 20) ++earlier;
    const double span = static_cast<double>(last_products - earlier->first);
    if (span <= 0 || !(earlier->second > last) || !(last > 1)) return m_m;
    const double rate = std::log(earlier->second / last) / span;  // per product
    const double ahead = std::max(8.0, std::ceil(1.15 * std::log(last) / rate + 2));
    if (!(ahead < m_m)) return m_m;
    const int steps = (static_cast<int>(ahead) + m_b - 1) / m_b;
    const int at = j_now + steps * m_b;
    return at + 8 <= m_m ? at : m_m;
  }

  // Schur vectors kept: `keep`, one more where keep would split a 2 x 2 block (one fewer if
  // that left no room to expand).
  int restart_size(const RitzState& ritz, int j) const {
    int p = m_plan.keep;
    const auto splits = [&](int at) {
      return at > 0 && at < j && ritz.schur.t[static_cast<std::size_t>(at - 1) * j + at] != 0.0;
    };
    if (splits(p)) p = p + 1 < j ? p + 1 : p - 1;
    return p;
  }

  // Krylov-Schur restart: V_p = V_j Q[:, 0..p], V[p..p+b) = V[j..j+b), S = T[0..p, 0..p],
  // B = (B Q)[:, 0..p]. p + b <= j (plan_arnoldi keeps keep <= basis - 2b), so the copied
  // residual block does not overlap its source.
  void restart(int j, const RitzState& ritz) {
    const int p = restart_size(ritz, j);
    const std::vector<double>& q = ritz.schur.q;
    BlockView<Real> tmp = m_work.columns(0, p);
    m_ops.update(as_const(m_v.columns(0, j)), q.data(), 1.0, 0.0, tmp);
    m_ops.copy(as_const(m_v.columns(j, m_b)), m_v.columns(p, m_b));
    m_ops.copy(as_const(tmp), m_v.columns(0, p));
    std::vector<double> bq(static_cast<std::size_t>(m_b) * p, 0.0);  // b x p, column-major
    for (int c = 0; c < p; ++c) {
      const double* q_column = q.data() + static_cast<std::size_t>(c) * j;
      for (int s = 0; s < m_b; ++s) {
        double sum = 0;
        for (int r = 0; r < j; ++r) sum += h(j + s, r) * q_column[r];
        bq[static_cast<std::size_t>(c) * m_b + s] = sum;
      }
    }
    std::fill(m_h.begin(), m_h.end(), 0.0);
    for (int c = 0; c < p; ++c) {
      for (int r = 0; r <= std::min(c + 1, p - 1); ++r) {
        h(r, c) = ritz.schur.t[static_cast<std::size_t>(c) * j + r];
      }
      for (int s = 0; s < m_b; ++s) h(p + s, c) = bq[static_cast<std::size_t>(c) * m_b + s];
    }
  }

  // max_i ||A x_i - lambda_i x_i|| over the top `count` from the final Ritz vectors x = V_j z
  // (||x|| = 1), a pair in the real form A [xr xi] = [xr xi] [[a, b], [-b, a]]: one product.
  double true_residual(int j, const RitzState& ritz) {
    const int count = ritz.count;
    // A pair that opens at count - 1 (k + 1 values only when the k-th opens one, so a pair
    // always ends inside count) needs both its columns.
    const std::vector<double> z(ritz.vectors.begin(),
                                ritz.vectors.begin() + static_cast<std::ptrdiff_t>(j) * count);
    BlockView<Real> x = m_work.columns(0, count), ax = m_product.columns(0, count);
    m_ops.update(as_const(m_v.columns(0, j)), z.data(), 1.0, 0.0, x);
    m_op.apply(as_const(x), ax);
    std::vector<double> minus_m(static_cast<std::size_t>(count) * count, 0.0);
    const auto mm = [&](int r, int c) -> double& {
      return minus_m[static_cast<std::size_t>(c) * count + r];
    };
    for (int i = 0; i < count;) {
      const double a = ritz.schur.re[static_cast<std::size_t>(i)];
      const double b = ritz.schur.im[static_cast<std::size_t>(i)];
      mm(i, i) = -a;
      if (b > 0 && i + 1 < count) {
        mm(i, i + 1) = -b;
        mm(i + 1, i) = b;
        mm(i + 1, i + 1) = -a;
        i += 2;
      } else {
        ++i;
      }
    }
    m_ops.update(as_const(x), minus_m.data(), 1.0, 1.0, ax);
    std::vector<double> gram(static_cast<std::size_t>(count) * count);
    m_ops.project(as_const(ax), as_const(ax), gram.data());
    double worst = 0;
    for (int i = 0; i < count;) {
      const bool pair = ritz.schur.im[static_cast<std::size_t>(i)] > 0 && i + 1 < count;
      double sq = gram[static_cast<std::size_t>(i) * count + i];
      if (pair) sq += gram[static_cast<std::size_t>(i + 1) * count + i + 1];
      worst = std::max(worst, std::sqrt(std::max(sq, 0.0)));
      i += pair ? 2 : 1;
    }
    return worst;
  }

  double& h(int r, int c) { return m_h[static_cast<std::size_t>(c) * (m_m + m_b) + r]; }

  const LinearOperator<Real>& m_op;
  BlockOps<Real>& m_ops;
  const ArnoldiPlan m_plan;
  const std::int64_t m_n;
  const int m_m;
  const int m_b;
  Block<Real> m_v, m_work, m_product, m_scratch;
  detail::BlockOrthonormalizer<Real> m_orth;
  std::vector<double> m_h;  // (m + b) x m, column-major: A V_m = V_{m+b} H
  double m_scale = 0;       // the largest lower bound of s1 seen
  // Failed convergence tests: products with A so far, worst estimate over tol x scale.
  std::vector<std::pair<std::int64_t, double>> m_failed;
};

}  // namespace

template <typename Real>
SolveResult arnoldi_top_k(const LinearOperator<Real>& op, BlockOps<Real>& ops,
                          const ArnoldiPlan& plan) {
  ArnoldiRun<Real> run(op, ops, plan);
  return run.run();
}

template SolveResult arnoldi_top_k<float>(const LinearOperator<float>&, BlockOps<float>&,
                                          const ArnoldiPlan&);
template SolveResult arnoldi_top_k<double>(const LinearOperator<double>&, BlockOps<double>&,
                                           const ArnoldiPlan&);

}  // namespace gapbench
