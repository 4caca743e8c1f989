// --fix deflate: the matrix analysed is A - s1 u1 v1^T, A with its top singular triple removed (the
// alternative fix of the paper's discussion). It is applied to the operator, above any device:
// the top triple is found first by power iteration on the operator (to a residual well below
// s2/s1), then the deflated operator adds a rank-one correction to every product, so it runs on
// the dense and the fused operator alike. Deflation leaves the singular values s2, s3, ... of A
// as they were (they become s1, s2, ...); the eigenvalues move.
#pragma once

#include <cstdint>

#include "gapbench/operator.hpp"
#include "gapbench/solvers/solver_types.hpp"

namespace gapbench {

template <typename Real>
struct SingularTriple {
  double value = 0;   // s1
  Block<Real> left;   // u1: rows x 1, unit norm
  Block<Real> right;  // v1: cols x 1, unit norm
  int iterations = 0;
  std::int64_t passes = 0;  // products with A or A^T
  double residual = 0;      // ||A^T u1 - s1 v1|| / s1 at the end
  bool converged = false;
};

// The residual tolerance of the triple: far below any s2/s1 gapbench meets (>= 1e-3), and within
// what the precision's products can resolve.
double deflation_tol(Precision precision);

// The top singular triple of `op` by power iteration (A^T A), from fill_random(seed, salt
// kDeflationSalt), until ||A^T u - s v|| <= tol * s or `max_iter` iterations.
template <typename Real>
SingularTriple<Real> top_singular_triple(const LinearOperator<Real>& op, BlockOps<Real>& ops,
                                         double tol, std::uint64_t seed, int max_iter);
inline constexpr std::uint32_t kDeflationSalt = 0x7fff0000u;

// A - s1 u1 v1^T as an operator: each product is the base operator's plus a rank-one correction
// through BlockOps (v1^T X, then Y -= s1 u1 (v1^T X)). The base operator and `triple` must outlive
// it. Counts its own passes (one per product, as the base's).
template <typename Real>
class DeflatedOperator final : public LinearOperator<Real> {
 public:
  DeflatedOperator(const LinearOperator<Real>& base, BlockOps<Real>& ops,
                   const SingularTriple<Real>& triple)
      : m_base(base), m_ops(ops), m_triple(triple) {}
  std::int64_t rows() const override { return m_base.rows(); }
  std::int64_t cols() const override { return m_base.cols(); }
  void apply(BlockView<const Real> x, BlockView<Real> y) const override;
  void apply_transpose(BlockView<const Real> x, BlockView<Real> y) const override;

 private:
  // Y -= s1 to (from^T X).
  void subtract_rank_one(BlockView<Real> from, BlockView<Real> to, BlockView<const Real> x,
                         BlockView<Real> y) const;

  const LinearOperator<Real>& m_base;
  BlockOps<Real>& m_ops;
  const SingularTriple<Real>& m_triple;
};

}  // namespace gapbench
