#include "gapbench/solvers/lanczos.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "gapbench/error.hpp"
#include "gapbench/runtime.hpp"
#include "gapbench/solvers/block_orth.hpp"
#include "gapbench/solvers/small_dense.hpp"

namespace gapbench {

LanczosPlan plan_lanczos(const SolverOptions& options, Precision precision, std::int64_t dim,
                         int preferred_block) {
  LanczosPlan plan;
  plan.k = options.k;
  if (plan.k < 1 || plan.k > kMaxK) {
    throw UsageError(fmt::format("--k: lanczos computes 1 to {} values, not {}", kMaxK, plan.k));
  }
  plan.tol = options.tol > 0 ? options.tol : default_tol(precision);

  plan.block = options.block > 0 ? options.block : std::max(1, preferred_block);
  // The smallest workable basis holds the k kept pairs and two blocks; shrink the block for
  // small matrices, where the Krylov space fills the whole space quickly anyway.
  while (plan.block > 1 && plan.k + 3 * plan.block > dim) --plan.block;
  const int b = plan.block;
  if (plan.k + 2 * b > dim) {
    throw UsageError(fmt::format(
        "--k: lanczos needs T >= k + 2 (here k = {}, T = {}); use --solver exact for k this "
        "close to T",
        plan.k, dim));
  }
  int basis = options.basis > 0 ? options.basis : std::max({3 * plan.k + 3 * b, 10 * b, 40});
  basis = (basis + b - 1) / b * b;                        // whole blocks
  const auto fits = static_cast<int>((dim - b) / b * b);  // basis + V_next within the space
  basis = std::min(basis, fits);
  if (basis < plan.k + b) {
    throw UsageError(
        fmt::format("--basis: a basis of {} vectors cannot hold k = {} and a block "
                    "of {}; raise --basis",
                    basis, plan.k, b));
  }
  plan.basis = basis;
  // Keep about half the basis, and a whole number of blocks short of it so that blocks stay
  // aligned with the end of the basis.
  const int keep = std::clamp(std::max(plan.k + b, basis / 2), plan.k, basis - b);
  plan.keep = basis - (basis - keep) / b * b;
  // The Ritz values are read once the basis holds k + b vectors: fewer steps cannot give k.
  const int min_iter = (plan.k + b + b - 1) / b;
  plan.max_iter = options.max_iter > 0 ? options.max_iter : kDefaultMaxIter;
  if (plan.max_iter < min_iter) {
    throw UsageError(
        fmt::format("--max-iter: {} block steps cannot hold k = {} values with "
                    "blocks of {}; give at least {}",
                    plan.max_iter, plan.k, b, min_iter));
  }
  // Convergence is tested about 16 times per basis fill (each test is an SVD of the projected
  // matrix), and at every restart.
  plan.check_every = std::max(1, basis / b / 16);
  return plan;
}

// V (basis + b), U (basis) and the three work blocks of LanczosRun below.
std::int64_t workspace_elements(const LanczosPlan& plan, std::int64_t rows, std::int64_t cols) {
  const std::int64_t b = plan.block, longest = std::max(rows, cols);
  return (plan.basis + b) * cols + plan.basis * rows +
         (2 * std::max<std::int64_t>(b, plan.keep) + std::max(b, std::int64_t{plan.k})) * longest;
}

namespace {

template <typename Real>
class LanczosRun {
 public:
  LanczosRun(const LinearOperator<Real>& op, BlockOps<Real>& ops, const LanczosPlan& plan)
      : m_op(op),
        m_ops(ops),
        m_plan(plan),
        m_b(plan.block),
        m_m(plan.basis),
        m_v(ops.allocate(op.cols(), m_m + m_b)),
        m_u(ops.allocate(op.rows(), m_m)),
        m_work(ops.allocate(longest(op), std::max<std::int64_t>(m_b, plan.keep))),
        m_work2(ops.allocate(longest(op), std::max<std::int64_t>(m_b, plan.keep))),
        m_work3(ops.allocate(longest(op), std::max(m_b, plan.k))),
        m_orth(ops, m_work2.view(), plan.seed) {
    m_h.assign(static_cast<std::size_t>(m_m) * m_m, 0.0);
  }

  SolveResult run() {
    SolveResult result;
    const std::int64_t start_passes = m_op.passes();
    // Start block: random, orthonormal.
    BlockView<Real> start = m_v.columns(0, m_b);
    BlockView<Real> raw = m_work.columns(0, m_b);
    raw.rows = m_op.cols();
    m_ops.fill_random(start, m_plan.seed, 0);
    m_ops.copy(as_const(start), raw);
    m_orth.orthonormalize(raw, {}, start, /*is_product=*/false);
    int ku = 0;
    std::vector<double> residual(static_cast<std::size_t>(m_plan.k), 0.0);
    detail::SmallSvd svd;
    while (true) {
      bool converged = false;
      while (ku < m_m && result.iterations < m_plan.max_iter) {
        throw_if_cancelled();
        expand(ku);
        ku += m_b;
        ++result.iterations;
        if (ku < m_m && ku >= m_plan.k + m_b && result.iterations % m_plan.check_every == 0) {
          svd = ritz(ku, residual);
          converged = test_convergence(svd, residual, result);
          if (converged) break;
        }
      }
      if (!converged) {
        svd = ritz(ku, residual);
        converged = test_convergence(svd, residual, result);
      }
      result.converged = converged;
      if (converged || result.iterations >= m_plan.max_iter) break;
      restart(ku, svd);
      ku = m_plan.keep;
      ++result.restarts;
    }
    result.values.assign(svd.values.begin(), svd.values.begin() + m_plan.k);
    // The Lanczos relation can drift from the truth in finite precision: the residuals are
    // recomputed from the final vectors, and a value whose true residual is over 10x its bound
    // clears `converged`.
    const std::vector<double> true_norms = true_residuals(ku, svd);
    result.residual = 0;
    for (int i = 0; i < m_plan.k; ++i) {
      result.residual = std::max(result.residual, true_norms[i] / std::max(svd.values[i], tiny()));
      const double bound =
          std::max(m_plan.tol * svd.values[i], precision_floor(svd, /*through_products=*/true));
      result.converged = result.converged && true_norms[i] <= 10 * bound;
    }
    result.passes = m_op.passes() - start_passes;
    return result;
  }

 private:
  static std::int64_t longest(const LinearOperator<Real>& op) {
    return std::max(op.rows(), op.cols());
  }

  double tiny() const { return std::numeric_limits<double>::min(); }

  // residual_i <= max(tol * s_i, the working-precision floor) for the top k; records the worst
  // residual relative to s_i. Values at the floor (s_i ~ eps s_1: zero to working precision)
  // converge on the floor, since no residual relative to them can be reached.
  bool test_convergence(const detail::SmallSvd& svd, const std::vector<double>& residual,
                        SolveResult& result) const {
    bool converged = true;
    result.residual_estimate = 0;
    const double floor = precision_floor(svd, /*through_products=*/false);
    for (int i = 0; i < m_plan.k; ++i) {
      result.residual_estimate =
          std::max(result.residual_estimate, residual[i] / std::max(svd.values[i], tiny()));
      converged = converged && residual[i] <= std::max(m_plan.tol * svd.values[i], floor);
    }
    return converged;
  }

  // The smallest residual rounding lets us trust: 10 eps s_1 for the recurrence, and sqrt(n)
  // times more for residuals recomputed through products, each entry of which sums n rounded
  // terms.
  double precision_floor(const detail::SmallSvd& svd, bool through_products) const {
    const double n = static_cast<double>(std::max(m_op.rows(), m_op.cols()));
    return 10 * eps() * svd.values[0] * (through_products ? std::sqrt(n) : 1.0);
  }

  static double eps() { return std::numeric_limits<Real>::epsilon(); }

  // One block step: U block ku from A V block ku, then V block ku+1 from A^T U block ku.
  void expand(int ku) {
    const int b = m_b;
    BlockView<Real> w = m_work3.view();
    BlockView<Real> wu{w.data, m_op.rows(), b, w.ld};
    m_op.apply(as_const(m_v.columns(ku, b)), wu);
    std::vector<double> c = m_orth.orthogonalize(m_u.columns(0, ku), wu);
    std::vector<double> r = m_orth.orthonormalize(wu, m_u.columns(0, ku), m_u.columns(ku, b), true);
    for (int j = 0; j < b; ++j) {
      for (int i = 0; i < ku; ++i) h(i, ku + j) = c[static_cast<std::size_t>(j) * ku + i];
      for (int i = 0; i < b; ++i) h(ku + i, ku + j) = r[static_cast<std::size_t>(j) * b + i];
    }
    BlockView<Real> wv{w.data, m_op.cols(), b, w.ld};
    m_op.apply_transpose(as_const(m_u.columns(ku, b)), wv);
    m_orth.orthogonalize(m_v.columns(0, ku + b), wv);
    m_s = m_orth.orthonormalize(wv, m_v.columns(0, ku + b), m_v.columns(ku + b, b), true);
  }

  // SVD of H (ku x ku) and the residual estimates of the top k Ritz pairs.
  detail::SmallSvd ritz(int ku, std::vector<double>& residual) {
    std::vector<double> hk(static_cast<std::size_t>(ku) * ku);
    for (int j = 0; j < ku; ++j) {
      for (int i = 0; i < ku; ++i) hk[static_cast<std::size_t>(j) * ku + i] = h(i, j);
    }
    detail::SmallSvd svd = detail::small_svd(hk, ku);
    const int b = m_b;
    for (int i = 0; i < m_plan.k; ++i) {
      // || S * P[ku-b:ku, i] ||
      double sq = 0;
      for (int r = 0; r < b; ++r) {
        double s = 0;
        for (int l = 0; l < b; ++l) {
          s += m_s[static_cast<std::size_t>(l) * b + r] *
               svd.left[static_cast<std::size_t>(i) * ku + (ku - b + l)];
        }
        sq += s * s;
      }
      residual[i] = std::sqrt(sq);
    }
    return svd;
  }

  // Keeps the best `keep` Ritz pairs and V_next; H becomes diag(values).
  void restart(int ku, const detail::SmallSvd& svd) {
    const int keep = m_plan.keep, b = m_b;
    const std::vector<double> q = leading_columns(svd.right, ku, keep);
    const std::vector<double> p = leading_columns(svd.left, ku, keep);
    BlockView<Real> tmp = m_work.columns(0, keep);
    tmp.rows = m_op.cols();
    m_ops.update(as_const(m_v.columns(0, ku)), q.data(), 1.0, 0.0, tmp);
    m_ops.copy(as_const(m_v.columns(ku, b)), m_v.columns(keep, b));
    m_ops.copy(as_const(tmp), m_v.columns(0, keep));
    tmp.rows = m_op.rows();
    m_ops.update(as_const(m_u.columns(0, ku)), p.data(), 1.0, 0.0, tmp);
    m_ops.copy(as_const(tmp), m_u.columns(0, keep));
    std::fill(m_h.begin(), m_h.end(), 0.0);
    for (int i = 0; i < keep; ++i) h(i, i) = svd.values[i];
  }

  // ||(A v_i - s_i u_i, A^T u_i - s_i v_i)|| for the top k, from the final Ritz vectors.
  std::vector<double> true_residuals(int ku, const detail::SmallSvd& svd) {
    const int k = m_plan.k;
    const std::vector<double> q = leading_columns(svd.right, ku, k);
    const std::vector<double> p = leading_columns(svd.left, ku, k);
    BlockView<Real> v = m_work.columns(0, k), u = m_work2.columns(0, k);
    v.rows = m_op.cols();
    u.rows = m_op.rows();
    m_ops.update(as_const(m_v.columns(0, ku)), q.data(), 1.0, 0.0, v);
    m_ops.update(as_const(m_u.columns(0, ku)), p.data(), 1.0, 0.0, u);
    // Both sides, all k columns in one product each: A v - u S, then A^T u - v S.
    std::vector<double> minus_s(static_cast<std::size_t>(k) * k, 0.0);
    for (int i = 0; i < k; ++i) minus_s[static_cast<std::size_t>(i) * k + i] = -svd.values[i];
    std::vector<double> norms(static_cast<std::size_t>(k), 0.0);
    std::vector<double> gram(static_cast<std::size_t>(k) * k);
    for (int side = 0; side < 2; ++side) {
      BlockView<Real> out = m_work3.columns(0, k);
      out.rows = side == 0 ? m_op.rows() : m_op.cols();
      if (side == 0) {
        m_op.apply(as_const(v), out);
      } else {
        m_op.apply_transpose(as_const(u), out);
      }
      m_ops.update(as_const(side == 0 ? u : v), minus_s.data(), 1.0, 1.0, out);
      m_ops.project(as_const(out), as_const(out), gram.data());
      for (int i = 0; i < k; ++i) norms[i] += gram[static_cast<std::size_t>(i) * k + i];
    }
    for (double& x : norms) x = std::sqrt(x);
    return norms;
  }

  static std::vector<double> leading_columns(const std::vector<double>& m, int n, int count) {
    return {m.begin(), m.begin() + static_cast<std::ptrdiff_t>(n) * count};
  }

  double& h(int i, int j) { return m_h[static_cast<std::size_t>(j) * m_m + i]; }

  const LinearOperator<Real>& m_op;
  BlockOps<Real>& m_ops;
  const LanczosPlan m_plan;
  const int m_b;
  const int m_m;
  Block<Real> m_v, m_u, m_work, m_work2, m_work3;
  // Orthonormalises with m_work2 as scratch (never live across one of its calls).
  detail::BlockOrthonormalizer<Real> m_orth;
  std::vector<double> m_h;  // m x m, column-major: U^T A V
  std::vector<double> m_s;  // b x b: A^T U_last = ... + V_next S
};

}  // namespace

template <typename Real>
SolveResult lanczos_top_k(const LinearOperator<Real>& op, BlockOps<Real>& ops,
                          const LanczosPlan& plan) {
  LanczosRun<Real> run(op, ops, plan);
  return run.run();
}

template SolveResult lanczos_top_k<float>(const LinearOperator<float>&, BlockOps<float>&,
                                          const LanczosPlan&);
template SolveResult lanczos_top_k<double>(const LinearOperator<double>&, BlockOps<double>&,
                                           const LanczosPlan&);

}  // namespace gapbench
