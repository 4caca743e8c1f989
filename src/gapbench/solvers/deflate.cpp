#include "gapbench/solvers/deflate.hpp"

#include <cmath>
#include <vector>

namespace gapbench {
namespace {

template <typename Real>
double norm(BlockOps<Real>& ops, BlockView<Real> x) {
  double sq = 0;
  ops.project(as_const(x), as_const(x), &sq);
  return std::sqrt(sq);
}

// dst = src / scale (dst must not alias src).
template <typename Real>
void divide(BlockOps<Real>& ops, BlockView<Real> src, double scale, BlockView<Real> dst) {
  const double c = 1.0 / scale;
  ops.update(as_const(src), &c, 1.0, 0.0, dst);
}

}  // namespace

double deflation_tol(Precision precision) {
  return precision == Precision::kFloat64 ? 1e-10 : 1e-5;
}

template <typename Real>
SingularTriple<Real> top_singular_triple(const LinearOperator<Real>& op, BlockOps<Real>& ops,
                                         double tol, std::uint64_t seed, int max_iter) {
  SingularTriple<Real> t;
  const std::int64_t rows = op.rows(), cols = op.cols();
  t.left = ops.allocate(rows, 1);
  t.right = ops.allocate(cols, 1);
  Block<Real> u_raw = ops.allocate(rows, 1), v_raw = ops.allocate(cols, 1);
  Block<Real> r = ops.allocate(cols, 1);
  const BlockView<Real> u = t.left.view(), v = t.right.view();
  ops.fill_random(v_raw.view(), seed, kDeflationSalt);
  divide(ops, v_raw.view(), norm(ops, v_raw.view()), v);
  for (t.iterations = 1; t.iterations <= max_iter; ++t.iterations) {
    op.apply(as_const(v), u_raw.view());
    const double s = norm(ops, u_raw.view());
    if (!(s > 0) || !std::isfinite(s)) break;  // A v = 0 or not finite: nothing to deflate
    divide(ops, u_raw.view(), s, u);
    op.apply_transpose(as_const(u), v_raw.view());
    t.passes += 2;
    // r = A^T u - s v: the residual of the pair (u, v) with s = ||A v||.
    ops.copy(as_const(v_raw.view()), r.view());
    const double minus_s = -s;
    ops.update(as_const(v), &minus_s, 1.0, 1.0, r.view());
    t.residual = norm(ops, r.view()) / s;
    const double sigma = norm(ops, v_raw.view());
    divide(ops, v_raw.view(), sigma, v);
    if (t.residual <= tol) {
      t.converged = true;
      break;
    }
  }
  // u and s from the final v, so that A v = s u holds to rounding.
  op.apply(as_const(v), u_raw.view());
  ++t.passes;
  t.value = norm(ops, u_raw.view());
  if (t.value > 0 && std::isfinite(t.value)) divide(ops, u_raw.view(), t.value, u);
  ops.synchronize();
  return t;
}

template <typename Real>
void DeflatedOperator<Real>::subtract_rank_one(BlockView<Real> from, BlockView<Real> to,
                                               BlockView<const Real> x, BlockView<Real> y) const {
  std::vector<double> c(static_cast<std::size_t>(x.cols));
  m_ops.project(as_const(from), x, c.data());  // from^T X
  m_ops.update(as_const(to), c.data(), -m_triple.value, 1.0, y);
}

template <typename Real>
void DeflatedOperator<Real>::apply(BlockView<const Real> x, BlockView<Real> y) const {
  this->count_pass();
  m_base.apply(x, y);
  subtract_rank_one(m_triple.right.view(), m_triple.left.view(), x, y);  // - s1 u1 (v1^T X)
}

template <typename Real>
void DeflatedOperator<Real>::apply_transpose(BlockView<const Real> x, BlockView<Real> y) const {
  this->count_pass();
  m_base.apply_transpose(x, y);
  subtract_rank_one(m_triple.left.view(), m_triple.right.view(), x, y);  // - s1 v1 (u1^T X)
}

template SingularTriple<float> top_singular_triple<float>(const LinearOperator<float>&,
                                                          BlockOps<float>&, double, std::uint64_t,
                                                          int);
template SingularTriple<double> top_singular_triple<double>(const LinearOperator<double>&,
                                                            BlockOps<double>&, double,
                                                            std::uint64_t, int);
template class DeflatedOperator<float>;
template class DeflatedOperator<double>;

}  // namespace gapbench
