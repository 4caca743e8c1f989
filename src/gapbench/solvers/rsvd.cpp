#include "gapbench/solvers/rsvd.hpp"

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

RsvdPlan plan_rsvd(const SolverOptions& options, Precision precision, std::int64_t dim) {
  RsvdPlan plan;
  plan.k = options.k;
  if (plan.k < 1 || plan.k > kMaxK) {
    throw UsageError(fmt::format("--k: rsvd computes 1 to {} values, not {}", kMaxK, plan.k));
  }
  if (plan.k > dim) {
    throw UsageError(fmt::format("--k: k = {} exceeds T = {}; lower --k", plan.k, dim));
  }
  if (options.oversample < 0) {
    throw UsageError(
        fmt::format("--oversample: p = {} is negative; give p >= 1, or 0 for the default max(k, 8)",
                    options.oversample));
  }
  if (options.oversample > 0) {
    plan.oversample = options.oversample;
    if (plan.k + plan.oversample > dim) {
      throw UsageError(
          fmt::format("--oversample: k + p = {} exceeds T = {}; lower --oversample or --k",
                      plan.k + plan.oversample, dim));
    }
  } else {
    // The default must work for any T the other solvers accept: for small T it shrinks to the
    // whole space, where one iteration is exact.
    plan.oversample =
        static_cast<int>(std::min<std::int64_t>(default_oversample(plan.k), dim - plan.k));
  }
  plan.tol = options.tol > 0 ? options.tol : default_tol(precision);
  plan.max_iter = options.max_iter > 0 ? options.max_iter : kDefaultMaxIter;
  return plan;
}

// V, A^T U (cols x l), U, A V (rows x l), residuals (k) and scratch (l) of RsvdRun below.
std::int64_t workspace_elements(const RsvdPlan& plan, std::int64_t rows, std::int64_t cols) {
  const std::int64_t l = plan.k + plan.oversample;
  return 2 * l * cols + 2 * l * rows + (plan.k + l) * std::max(rows, cols);
}

namespace {

template <typename Real>
class RsvdRun {
 public:
  RsvdRun(const LinearOperator<Real>& op, BlockOps<Real>& ops, const RsvdPlan& plan)
      : m_op(op),
        m_ops(ops),
        m_plan(plan),
        m_l(plan.k + plan.oversample),
        m_v(ops.allocate(op.cols(), m_l)),
        m_u(ops.allocate(op.rows(), m_l)),
        m_av(ops.allocate(op.rows(), m_l)),
        m_atu(ops.allocate(op.cols(), m_l)),
        m_residual(ops.allocate(longest(op), plan.k)),
        m_scratch(ops.allocate(longest(op), m_l)),
        m_orth(ops, m_scratch.view(), plan.seed) {}

  SolveResult run() {
    SolveResult result;
    const std::int64_t start_passes = m_op.passes();
    // Start: V = orth(Omega), U = orth(A V). Omega goes through m_atu, free until the first A^T U.
    m_ops.fill_random(m_atu.view(), m_plan.seed, 0);
    m_orth.orthonormalize(m_atu.view(), {}, m_v.view(), /*is_product=*/false);
    m_op.apply(as_const(m_v.view()), m_av.view());
    m_orth.orthonormalize(m_av.view(), {}, m_u.view(), /*is_product=*/true);

    const int k = m_plan.k;
    std::vector<double> residual(static_cast<std::size_t>(k));
    detail::SmallSvd svd;
    while (true) {
      throw_if_cancelled();
      ++result.iterations;
      // Z = A^T U = V R, so H = U^T A V = R^T: the Rayleigh-Ritz matrix at no extra pass.
      m_op.apply_transpose(as_const(m_u.view()), m_atu.view());
      const std::vector<double> r =
          m_orth.orthonormalize(m_atu.view(), {}, m_v.view(), /*is_product=*/true);
      svd = detail::small_svd(transpose(r, m_l), m_l);
      // Y = A V: both the residuals of these Ritz pairs and the next U.
      m_op.apply(as_const(m_v.view()), m_av.view());
      const std::vector<double> transpose_side =
          residual_norms_sq(m_atu.view(), svd.left, m_v.view(), svd.right, svd.values);
      const std::vector<double> product_side =
          residual_norms_sq(m_av.view(), svd.right, m_u.view(), svd.left, svd.values);
      for (int i = 0; i < k; ++i) residual[i] = std::sqrt(transpose_side[i] + product_side[i]);
      result.converged = test_convergence(svd, residual, result);
      if (result.converged || result.iterations >= m_plan.max_iter) break;
      m_orth.orthonormalize(m_av.view(), {}, m_u.view(), /*is_product=*/true);
    }
    result.values.assign(svd.values.begin(), svd.values.begin() + k);
    // The tested residuals come from the products with A themselves: they are the true ones.
    result.residual = result.residual_estimate;
    result.passes = m_op.passes() - start_passes;
    m_ops.synchronize();
    return result;
  }

 private:
  static std::int64_t longest(const LinearOperator<Real>& op) {
    return std::max(op.rows(), op.cols());
  }

  static double eps() { return std::numeric_limits<Real>::epsilon(); }
  static double tiny() { return std::numeric_limits<double>::min(); }

  static std::vector<double> transpose(const std::vector<double>& m, int n) {
    std::vector<double> t(m.size());
    for (int j = 0; j < n; ++j) {
      for (int i = 0; i < n; ++i) {
        t[static_cast<std::size_t>(i) * n + j] = m[static_cast<std::size_t>(j) * n + i];
      }
    }
    return t;
  }

  // ||W a_i - s_i B b_i||^2 for the top k, where W is a product block (A V or A^T U), B the basis
  // on the other side, and a_i, b_i columns of the l x l singular vectors of H. Formed as vectors
  // (W A_k - B B_k S_k, two updates) rather than from ||W a_i||^2 - s_i^2, which would cancel
  // below ~sqrt(eps) relative and could not certify tol = 1e-8.
  std::vector<double> residual_norms_sq(BlockView<Real> w, const std::vector<double>& a,
                                        BlockView<Real> basis, const std::vector<double>& b,
                                        const std::vector<double>& s) {
    const int k = m_plan.k, l = m_l;
    BlockView<Real> out = m_residual.columns(0, k);
    out.rows = w.rows;
    // The leading k columns of the l x l column-major a, b.
    std::vector<double> minus_bs(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(l) * k);
    for (int i = 0; i < k; ++i) {
      for (int r = 0; r < l; ++r) minus_bs[static_cast<std::size_t>(i) * l + r] *= -s[i];
    }
    m_ops.update(as_const(w), a.data(), 1.0, 0.0, out);
    m_ops.update(as_const(basis), minus_bs.data(), 1.0, 1.0, out);
    std::vector<double> gram(static_cast<std::size_t>(k) * k);
    m_ops.project(as_const(out), as_const(out), gram.data());
    std::vector<double> norms(static_cast<std::size_t>(k));
    for (int i = 0; i < k; ++i) norms[i] = gram[static_cast<std::size_t>(i) * k + i];
    return norms;
  }

  // residual_i <= max(tol * s_i, floor) for the top k; records the worst residual relative to
  // s_i. The floor, 10 eps s_1, is for values at rounding level (s_i ~ eps s_1: zero to working
  // precision), which converge on it since no residual relative to them can be reached. It was
  // 10 eps sqrt(n) s_1, a worst-case bound on the products' rounding: in float32 at T = 32768
  // that is 2.2e-4, above tol * s_i for the whole markov bulk (s_i ~ 0.01 s_1), so bulk values
  // were called converged at residuals of 2% of their size (errors of 1e-2 against float64 on an
  // H200, 2026-12-04). The products' actual rounding is far below it: lanczos and rsvd reach
  // tol * s_i on the bulk.
  bool test_convergence(const detail::SmallSvd& svd, const std::vector<double>& residual,
                        SolveResult& result) const {
    const double floor = 10 * eps() * svd.values[0];
    bool converged = true;
    result.residual_estimate = 0;
    for (int i = 0; i < m_plan.k; ++i) {
      result.residual_estimate =
          std::max(result.residual_estimate, residual[i] / std::max(svd.values[i], tiny()));
      converged = converged && residual[i] <= std::max(m_plan.tol * svd.values[i], floor);
    }
    return converged;
  }

  const LinearOperator<Real>& m_op;
  BlockOps<Real>& m_ops;
  const RsvdPlan m_plan;
  const int m_l;
  Block<Real> m_v, m_u;  // cols x l and rows x l, orthonormal
  Block<Real> m_av;      // rows x l: A V
  Block<Real> m_atu;     // cols x l: A^T U (the start block before the first product)
  Block<Real> m_residual, m_scratch;
  // Orthonormalises with m_scratch (never live across one of its calls).
  detail::BlockOrthonormalizer<Real> m_orth;
};

}  // namespace

template <typename Real>
SolveResult rsvd_top_k(const LinearOperator<Real>& op, BlockOps<Real>& ops, const RsvdPlan& plan) {
  RsvdRun<Real> run(op, ops, plan);
  return run.run();
}

template SolveResult rsvd_top_k<float>(const LinearOperator<float>&, BlockOps<float>&,
                                       const RsvdPlan&);
template SolveResult rsvd_top_k<double>(const LinearOperator<double>&, BlockOps<double>&,
                                        const RsvdPlan&);

}  // namespace gapbench
