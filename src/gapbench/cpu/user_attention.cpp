#include "gapbench/cpu/user_attention.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "gapbench/cpu/cpu_backend.hpp"
#include "gapbench/cpu/fused_operator.hpp"
#include "gapbench/cpu/generate.hpp"
#include "gapbench/entries.hpp"
#include "gapbench/error.hpp"
#include "gapbench/npy.hpp"
#include "gapbench/text.hpp"

namespace gapbench::cpu {

template <typename Real>
QkHeads<Real> load_qk(const std::string& files) {
  const std::vector<std::string> paths = split(files, ',');
  if (paths.size() != 2 || paths[0].empty() || paths[1].empty()) {
    throw UsageError(fmt::format("--qk: '{}' is not two files; give --qk Q.npy,K.npy", files));
  }
  std::vector<std::int64_t> q_shape, k_shape;
  QkHeads<Real> qk;
  try {
    qk.queries = read_npy_array<Real>(paths[0], q_shape);
    qk.keys = read_npy_array<Real>(paths[1], k_shape);
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("--qk: {}", e.what()));
  }
  if (q_shape != k_shape) {
    throw UsageError(
        fmt::format("--qk: {} and {} have different shapes; queries and keys must "
                    "both be T x dk (or heads x T x dk)",
                    paths[0], paths[1]));
  }
  const bool with_heads = q_shape.size() == 3;
  qk.heads = with_heads ? q_shape[0] : 1;
  qk.T = q_shape[with_heads ? 1 : 0];
  qk.dk = q_shape[with_heads ? 2 : 1];
  if (qk.heads < 1 || qk.T < 2 || qk.dk < 1) {
    throw UsageError(
        fmt::format("--qk: {} holds {} heads of {} x {}; need T >= 2 tokens and "
                    "dk >= 1",
                    paths[0], qk.heads, qk.T, qk.dk));
  }
  return qk;
}

template <typename Real>
MatrixOutcome solve_head(const QkHeads<Real>& qk, std::int64_t head, PointSpec point,
                         std::uint64_t seed) {
  using clock = std::chrono::steady_clock;
  if (head < 0 || head >= qk.heads) {
    throw UsageError(
        fmt::format("--index: head {} is outside 0 to {} (the --qk files hold {} heads)", head,
                    qk.heads - 1, qk.heads));
  }
  point.model.kind = ModelKind::kAttention;
  point.model.T = qk.T;
  point.model.d = point.model.dk = qk.dk;
  check_logits(point.model, point.precision);
  const std::int64_t T = qk.T, n = T * qk.dk;
  // This head's factors, rounded as the logits GEMM reads them (--logits).
  std::vector<Real> q_head(qk.queries.begin() + head * n, qk.queries.begin() + (head + 1) * n);
  std::vector<Real> k_head(qk.keys.begin() + head * n, qk.keys.begin() + (head + 1) * n);
  round_logits_inputs(point.model.logits, q_head);
  round_logits_inputs(point.model.logits, k_head);
  const Real* q = q_head.data();
  const Real* k = k_head.data();
  const Real scale = attention_logit_scale(static_cast<Real>(point.model.beta), qk.dk);

  MatrixOutcome o;
  o.index = static_cast<std::uint32_t>(head);
  o.op = resolve_operator(point);
  const auto t0 = clock::now();
  if (o.op == OperatorChoice::kFused) {
    const auto fused = FusedOperator<Real>::attention(
        std::move(q_head), std::move(k_head), T, qk.dk, scale, point.model.causal, point.model.fix);
    o.sums = fused.sums();
    const auto t1 = clock::now();
    o.solve = solve_fused<Real>(fused, point.solver, point.precision, seed);
    o.generate_seconds = std::chrono::duration<double>(t1 - t0).count();
    o.solve_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  } else {
    std::vector<Real> a(static_cast<std::size_t>(T * T));
    o.sums = attention_from_factors(T, qk.dk, q, k, scale, point.model.causal, point.model.fix,
                                    a.data());
    const auto t1 = clock::now();
    o.solve = solve_dense<Real>(a.data(), T, point.solver, point.precision, seed);
    o.generate_seconds = std::chrono::duration<double>(t1 - t0).count();
    o.solve_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  }
  if (!std::isfinite(o.sums.frob_sq)) {
    throw Error(
        fmt::format("head {}: the logits overflow in {}; lower --beta or use "
                    "--precision float64",
                    head, to_string(point.precision)));
  }
  return o;
}

template QkHeads<float> load_qk<float>(const std::string&);
template QkHeads<double> load_qk<double>(const std::string&);
template MatrixOutcome solve_head<float>(const QkHeads<float>&, std::int64_t, PointSpec,
                                         std::uint64_t);
template MatrixOutcome solve_head<double>(const QkHeads<double>&, std::int64_t, PointSpec,
                                          std::uint64_t);

}  // namespace gapbench::cpu
