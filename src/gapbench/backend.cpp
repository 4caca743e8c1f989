#include "gapbench/backend.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <type_traits>

#include "gapbench/entries.hpp"
#include "gapbench/error.hpp"
#include "gapbench/factors.hpp"
#include "gapbench/names.hpp"
#include "gapbench/runtime.hpp"
#include "gapbench/solvers/deflate.hpp"
#include "gapbench/solvers/eigen_values.hpp"
#include "gapbench/solvers/iterative.hpp"

namespace gapbench {
namespace {

constexpr NameTable<BackendChoice, 3> kBackendNames{
    {{"auto", BackendChoice::kAuto}, {"cpu", BackendChoice::kCpu}, {"cuda", BackendChoice::kCuda}}};
constexpr NameTable<OperatorChoice, 3> kOperatorNames{{{"dense", OperatorChoice::kDense},
                                                       {"fused", OperatorChoice::kFused},
                                                       {"auto", OperatorChoice::kAuto}}};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double gib(std::int64_t bytes) { return static_cast<double>(bytes) / (1 << 30); }

std::int64_t real_bytes(Precision p) { return p == Precision::kFloat64 ? 8 : 4; }

// Calls f with the device's stages of `precision`'s Real (a tag value of that type).
template <typename F>
decltype(auto) with_real(Precision precision, F&& f) {
  if (precision == Precision::kFloat64) return f(double{});
  return f(float{});
}

// --fix deflate: the matrix analysed is A - s1 u1 v1^T, whose squared Frobenius norm is
// ||A||_F^2 - s1^2 (u1, v1 singular vectors); generation summed A's.
void deflate_sums(MatrixOutcome& o) {
  if (o.solve.deflated > 0) {
    o.sums.frob_sq = std::max(0.0, o.sums.frob_sq - o.solve.deflated * o.solve.deflated);
  }
}

// The top singular triple --fix deflate removes, found on `op` first.
template <typename Real>
SingularTriple<Real> deflation_triple(const PointSpec& point, const LinearOperator<Real>& op,
                                      BlockOps<Real>& ops, std::uint64_t seed) {
  return top_singular_triple<Real>(op, ops, deflation_tol(point.precision), seed, kDefaultMaxIter);
}

// A solve of the deflated matrix, with the passes and the convergence of finding its triple.
template <typename Real>
SolveResult with_deflation(SolveResult r, const SingularTriple<Real>& triple) {
  r.passes += triple.passes;
  r.converged = r.converged && triple.converged;
  r.deflated = triple.value;
  return r;
}

}  // namespace

BackendChoice parse_backend(const std::string& s, const std::string& flag) {
  return parse_name(kBackendNames, s, flag, "backend");
}
std::string to_string(BackendChoice v) { return name_of(kBackendNames, v); }

OperatorChoice parse_operator(const std::string& s, const std::string& flag) {
  return parse_name(kOperatorNames, s, flag, "operator");
}
std::string to_string(OperatorChoice v) { return name_of(kOperatorNames, v); }

void check_sums_finite(const std::string& what, Precision precision, const FrobeniusSums& sums) {
  if (!std::isfinite(sums.frob_sq)) {
    throw Error(fmt::format(
        "{} has entries that are not finite in {}: the logits or the sum of squares overflow; "
        "lower --beta or the inputs' scale{}",
        what, to_string(precision),
        precision == Precision::kFloat32 ? ", or use --precision float64" : ""));
  }
}

Backend::Backend(std::unique_ptr<Device> device) : m_device(std::move(device)) {}

// ---- the memory plan: one rule over the device's budget ---------------------------------------

std::int64_t Backend::dense_batch_bytes(const PointSpec& point, int batch,
                                        std::int64_t budget) const {
  const std::int64_t T = point.model.T;
  const std::int64_t s = real_bytes(point.precision);
  return with_real(point.precision, [&](auto real) {
    using Real = decltype(real);
    const Stages<Real>& stages = m_device->stages<Real>();
    const std::int64_t matrices = batch * stages.dense_bytes(point.model);
    if (matrices > budget) return matrices;
    const SolverOptions& o = point.solver;
    if (!is_iterative(o.kind)) return matrices + stages.dense_solver_bytes(o, T, batch);
    return matrices + stages.dense_operator_bytes(T) +
           s * iterative_workspace_elements(o, point.precision, T,
                                            m_device->lanczos_block(OperatorChoice::kDense));
  });
}

int Backend::fitting_batch(const PointSpec& point, int wanted) const {
  const std::int64_t budget = m_device->memory_budget();
  std::int64_t one = 0;
  try {
    one = dense_batch_bytes(point, 1, budget);
  } catch (const UsageError&) {
    throw;
  } catch (const Error& e) {
    throw UsageError(fmt::format(
        "--T: --solver {} cannot size its workspace at T = {} ({}); use a smaller --T or another "
        "--solver",
        to_string(point.solver.kind), point.model.T, e.what()));
  }
  if (one > budget) {
    // The largest T whose matrix and solve fit, by bisection.
    PointSpec probe = point;
    std::int64_t lo = 2, hi = point.model.T;
    while (hi - lo > 1) {
      probe.model.T = lo + (hi - lo) / 2;
      bool fits = false;
      try {
        fits = dense_batch_bytes(probe, 1, budget) <= budget;
      } catch (const Error&) {
      }
      (fits ? lo : hi) = probe.model.T;
    }
    throw MemoryPlanError(fmt::format(
        "--T: a dense {} {} matrix at T = {} with --solver {} needs {:.2f} GiB but {:.2f} GiB of "
        "{} is free; the largest T that fits is about {} (past it: --operator fused with lanczos "
        "or rsvd)",
        to_string(point.precision), to_string(point.model.kind), point.model.T,
        to_string(point.solver.kind), gib(one), gib(budget), m_device->memory_name(), lo));
  }
  int batch = 1;
  while (batch < wanted) {
    try {
      if (dense_batch_bytes(point, batch + 1, budget) > budget) break;
    } catch (const Error&) {
      break;  // a workspace query fails for this batch (gesvda's int sizes): it does not fit
    }
    ++batch;
  }
  return batch;
}

std::int64_t Backend::fused_plan_bytes(const PointSpec& point) const {
  const std::int64_t T = point.model.T;
  return with_real(point.precision, [&](auto real) {
    using Real = decltype(real);
    return m_device->stages<Real>().fused_bytes(point.model) +
           real_bytes(point.precision) *
               iterative_workspace_elements(point.solver, point.precision, T,
                                            m_device->lanczos_block(OperatorChoice::kFused));
  });
}

OperatorChoice Backend::choose_operator(const PointSpec& point) const {
  // The solvers that run matrix-free: the iterative ones, and the diagonal where the device's
  // fused operator gives it.
  const bool diagonal = point.solver.kind == SolverKind::kDiagonal;
  const bool iterative =
      is_iterative(point.solver.kind) || (diagonal && m_device->fused_diagonal());
  if (point.op == OperatorChoice::kFused && !iterative) {
    throw UsageError(fmt::format(
        "--operator fused: --solver {} needs the dense matrix{}; lanczos, rsvd and arnoldi run "
        "matrix-free (use --operator dense or auto)",
        to_string(point.solver.kind),
        diagonal ? fmt::format(" on {} (its fused operator has no diagonal yet)", name()) : ""));
  }
  if (point.op == OperatorChoice::kDense || !iterative) {
    fitting_batch(point, 1);
    return OperatorChoice::kDense;
  }
  if (point.op == OperatorChoice::kAuto) {
    try {
      fitting_batch(point, 1);
      return OperatorChoice::kDense;
    } catch (const UsageError&) {
      // does not fit: fused below
    }
  }
  check_memory_fits(static_cast<std::uint64_t>(fused_plan_bytes(point)),
                    static_cast<std::uint64_t>(m_device->memory_budget()), m_device->memory_name(),
                    "--T",
                    fmt::format("the fused operator at T = {} (factors, row statistics, the "
                                "solver's vectors)",
                                point.model.T),
                    "lower --T");
  return OperatorChoice::kFused;
}

void Backend::check(const PointSpec& point) const {
  validate(point.model);
  // The factors come first in either operator: refused by the flag that sizes them (--d, --dk),
  // where the plans below would name --T.
  if (point.model.kind == ModelKind::kAttention) {
    check_memory_fits(
        saturating_mul(static_cast<std::uint64_t>(attention_factor_elements(point.model)),
                       static_cast<std::uint64_t>(real_bytes(point.precision))),
        static_cast<std::uint64_t>(m_device->memory_budget()), m_device->memory_name(),
        point.model.dk > point.model.d ? "--dk" : "--d",
        fmt::format("the attention factors (Q, K{}) at T = {}, d = {}, dk = {}",
                    point.model.input == InputKind::kIsometric ? "" : ", X, W_Q, W_K",
                    point.model.T, point.model.d, point.model.dk),
        "lower --d or --dk");
  }
  const std::int64_t T = point.model.T;
  const SolverOptions& o = point.solver;
  if (o.k < 1 || o.k >= T) {
    throw UsageError(fmt::format("--k: k = {} must be between 1 and T - 1 = {}", o.k, T - 1));
  }
  check_solver_applies(point.solver, point.model);
  if (!is_iterative(o.kind) && o.kind != SolverKind::kDiagonal) {
    m_device->check_dense_solver(o, T);
  }
  if (point.model.fix == Fix::kDeflate && m_device->batched_solver(o.kind)) {
    throw UsageError(fmt::format(
        "--fix deflate: --solver {} solves a whole batch at once and cannot take the rank-one "
        "correction; use exact, xgesvdr or an iterative solver",
        to_string(o.kind)));
  }
  check_iterative(o, point.precision, T, m_device->lanczos_block(OperatorChoice::kDense));
  choose_operator(point);
}

int Backend::preferred_batch(const PointSpec& point) const {
  if (choose_operator(point) == OperatorChoice::kFused) return 1;
  return fitting_batch(point, m_device->max_batch());
}

// ---- the measurement loop ----------------------------------------------------------------------

template <typename Real>
SolveResult Backend::solve_one(const PointSpec& point, OperatorChoice op, Real* a,
                               std::uint64_t seed) {
  Stages<Real>& stages = m_device->stages<Real>();
  const std::int64_t T = point.model.T;
  if (point.solver.kind == SolverKind::kDiagonal) {
    // a holds the matrix analysed: A_perp under fix center, whose diagonal is A's less 1/T.
    std::vector<double> d = stages.diagonal(a, T);
    if (point.model.fix == Fix::kCenter) {
      for (double& x : d) x += 1.0 / static_cast<double>(T);
    }
    return causal_eigenvalues(std::move(d), point.model.fix, point.solver.k,
                              point.solver.all_values);
  }
  if (!is_iterative(point.solver.kind) && point.model.fix != Fix::kDeflate) {
    return stages.solve_dense(point.solver, a, T);
  }
  const auto dense = stages.dense_operator(a, T, T);
  if (!is_iterative(point.solver.kind)) {
    // The dense solvers see the matrix itself: A - s1 u1 v1^T, formed in place. The row-major a
    // is the column-major A^T, so A^T -= s1 v1 u1^T, one rank-one update through BlockOps.
    BlockOps<Real>& ops = stages.block_ops();
    const SingularTriple<Real> triple = deflation_triple<Real>(point, *dense, ops, seed);
    const std::vector<Real> u = stages.download(triple.left.view().data, T);
    const std::vector<double> u_row(u.begin(), u.end());
    ops.update(as_const(triple.right.view()), u_row.data(), -triple.value, 1.0,
               BlockView<Real>{a, T, T, T});
    ops.synchronize();
    return with_deflation(stages.solve_dense(point.solver, a, T), triple);
  }
  return solve_on<Real>(point, *dense, op, seed);
}

template <typename Real>
SolveResult Backend::solve_on(const PointSpec& point, const LinearOperator<Real>& op,
                              OperatorChoice choice, std::uint64_t seed) {
  BlockOps<Real>& ops = m_device->stages<Real>().block_ops();
  const int block = m_device->lanczos_block(choice);
  if (point.model.fix != Fix::kDeflate) {
    return solve_iterative<Real>(op, ops, point.solver, point.precision, seed, block);
  }
  const SingularTriple<Real> triple = deflation_triple<Real>(point, op, ops, seed);
  const DeflatedOperator<Real> deflated(op, ops, triple);
  return with_deflation(
      solve_iterative<Real>(deflated, ops, point.solver, point.precision, seed, block), triple);
}

template <typename Real>
MatrixOutcome Backend::solve_matrix_free(const PointSpec& point, std::uint32_t index,
                                         std::uint64_t seed, MatrixFreeOperator<Real>& op,
                                         double make_seconds) {
  MatrixOutcome o;
  o.index = index;
  o.op = OperatorChoice::kFused;
  o.sums = op.sums();
  o.generate_seconds = make_seconds;
  const auto t = Clock::now();
  o.solve = point.solver.kind == SolverKind::kDiagonal
                ? causal_eigenvalues(op.diagonal(), point.model.fix, point.solver.k,
                                     point.solver.all_values)
                : solve_on<Real>(point, op, OperatorChoice::kFused, seed);
  deflate_sums(o);
  m_device->synchronize();
  o.solve_seconds = seconds_since(t);
  return o;
}

template <typename Real>
std::vector<MatrixOutcome> Backend::run_dense(const PointSpec& point, std::uint64_t seed,
                                              const std::vector<std::uint32_t>& indices) {
  Stages<Real>& stages = m_device->stages<Real>();
  const auto t0 = Clock::now();
  DenseBatch<Real> batch = stages.generate(point.model, seed, indices);
  m_device->synchronize();
  const double generate_each = seconds_since(t0) / static_cast<double>(indices.size());
  std::vector<MatrixOutcome> out(indices.size());
  for (std::size_t b = 0; b < indices.size(); ++b) {
    out[b].index = indices[b];
    out[b].sums = batch.sums[b];
    out[b].generate_seconds = generate_each;
    check_sums_finite(fmt::format("matrix {} of {}", indices[b], describe(point.model)),
                      point.precision, out[b].sums);
  }
  if (m_device->batched_solver(point.solver.kind)) {
    const auto t1 = Clock::now();
    std::vector<SolveResult> results = stages.solve_dense_batch(point.solver, batch);
    m_device->synchronize();
    const double each = seconds_since(t1) / static_cast<double>(indices.size());
    for (std::size_t b = 0; b < indices.size(); ++b) {
      out[b].solve = std::move(results.at(b));
      out[b].solve_seconds = each;
    }
    return out;
  }
  for (std::size_t b = 0; b < indices.size(); ++b) {
    const auto t1 = Clock::now();
    out[b].solve = solve_one<Real>(point, OperatorChoice::kDense, batch.matrix(b), seed);
    m_device->synchronize();
    out[b].solve_seconds = seconds_since(t1);
    deflate_sums(out[b]);
  }
  return out;
}

std::vector<MatrixOutcome> Backend::run_batch(const PointSpec& point, std::uint64_t seed,
                                              const std::vector<std::uint32_t>& indices) {
  std::vector<MatrixOutcome> out;
  if (indices.empty()) return out;
  if (choose_operator(point) == OperatorChoice::kFused) {
    with_real(point.precision, [&](auto real) {
      using Real = decltype(real);
      for (const std::uint32_t index : indices) {
        const auto t0 = Clock::now();
        const auto op = m_device->stages<Real>().fused_operator(point.model, seed, index);
        m_device->synchronize();
        const double make_seconds = seconds_since(t0);
        check_sums_finite(fmt::format("matrix {} of {}", index, describe(point.model)),
                          point.precision, op->sums());
        out.push_back(solve_matrix_free<Real>(point, index, seed, *op, make_seconds));
      }
    });
    return out;
  }
  const std::size_t fit = static_cast<std::size_t>(
      fitting_batch(point, static_cast<int>(std::min<std::size_t>(indices.size(), 1 << 20))));
  for (std::size_t first = 0; first < indices.size(); first += fit) {
    const std::vector<std::uint32_t> chunk(
        indices.begin() + static_cast<std::ptrdiff_t>(first),
        indices.begin() + static_cast<std::ptrdiff_t>(std::min(indices.size(), first + fit)));
    auto part = with_real(point.precision,
                          [&](auto real) { return run_dense<decltype(real)>(point, seed, chunk); });
    for (auto& o : part) out.push_back(std::move(o));
  }
  return out;
}

template <typename Real>
MatrixOutcome Backend::run_factors(const PointSpec& point, const Real* queries, const Real* keys,
                                   std::uint32_t index, std::uint64_t seed) {
  Stages<Real>& stages = m_device->stages<Real>();
  const ModelSpec& m = point.model;
  const auto t0 = Clock::now();
  return run_given<Real>(point,
                         {m, stages.upload(queries, m.T, m.dk), stages.upload(keys, m.T, m.dk)},
                         index, seed, t0);
}

template <typename Real>
MatrixOutcome Backend::run_resident_factors(const PointSpec& point, const Real* queries,
                                            const Real* keys, std::uint32_t index,
                                            std::uint64_t seed) {
  Stages<Real>& stages = m_device->stages<Real>();
  const ModelSpec& m = point.model;
  const auto t0 = Clock::now();
  const bool rounded = m.logits != LogitsPrecision::kFull;  // rounds its factors in place
  return run_given<Real>(
      point,
      {m, rounded ? stages.copy(queries, m.T, m.dk) : Matrix<Real>::borrow(queries, m.T, m.dk),
       rounded ? stages.copy(keys, m.T, m.dk) : Matrix<Real>::borrow(keys, m.T, m.dk)},
      index, seed, t0);
}

template <typename Real>
MatrixOutcome Backend::run_given(const PointSpec& point, GivenFactors<Real> f, std::uint32_t index,
                                 std::uint64_t seed, TimePoint t0) {
  Stages<Real>& stages = m_device->stages<Real>();
  const ModelSpec& m = point.model;
  const OperatorChoice op = choose_operator(point);
  const std::string what = fmt::format("head {}", index);
  stages.round_logits_inputs(m.logits, f.queries);
  stages.round_logits_inputs(m.logits, f.keys);
  if (op == OperatorChoice::kFused) {
    const auto fused = stages.fused_operator(std::move(f));
    m_device->synchronize();
    const double make_seconds = seconds_since(t0);
    check_sums_finite(what, point.precision, fused->sums());
    return solve_matrix_free<Real>(point, index, seed, *fused, make_seconds);
  }
  MatrixOutcome o;
  o.index = index;
  o.op = OperatorChoice::kDense;
  Matrix<Real> a = stages.allocate(m.T, m.T);
  o.sums = stages.attention_from_factors(f.queries, f.keys,
                                         attention_logit_scale(static_cast<Real>(m.beta), m.dk),
                                         m.causal, m.fix, a.data());
  m_device->synchronize();
  o.generate_seconds = seconds_since(t0);
  solve_formed<Real>(point, a.data(), seed, what, o);
  return o;
}

template <typename Real>
void Backend::solve_formed(const PointSpec& point, Real* a, std::uint64_t seed,
                           const std::string& what, MatrixOutcome& o) {
  check_sums_finite(what, point.precision, o.sums);
  const auto t = Clock::now();
  o.solve = solve_one<Real>(point, OperatorChoice::kDense, a, seed);
  m_device->synchronize();
  o.solve_seconds = seconds_since(t);
  deflate_sums(o);
}

template <typename Real>
MatrixOutcome Backend::run_matrix(const PointSpec& point, const Real* a, std::uint32_t index,
                                  std::uint64_t seed) {
  const auto t0 = Clock::now();
  const std::int64_t T = point.model.T;
  const Matrix<Real> m = m_device->stages<Real>().upload(a, T, T);
  return run_given_matrix<Real>(point, m.data(), true, index, seed, t0);
}

template <typename Real>
MatrixOutcome Backend::run_resident_matrix(const PointSpec& point, const Real* a,
                                           std::uint32_t index, std::uint64_t seed) {
  return run_given_matrix<Real>(point, a, false, index, seed, Clock::now());
}

template <typename Real>
MatrixOutcome Backend::run_given_matrix(const PointSpec& point, const Real* a, bool writable,
                                        std::uint32_t index, std::uint64_t seed, TimePoint t0) {
  Stages<Real>& stages = m_device->stages<Real>();
  const std::int64_t T = point.model.T;
  const bool center = point.model.fix == Fix::kCenter;
  // exact and xgesvdr overwrite their matrix (solve_one); the others only read it.
  const bool overwrites =
      !is_iterative(point.solver.kind) && point.solver.kind != SolverKind::kDiagonal;
  const bool copied = !writable && (center || overwrites);
  const Matrix<Real> copy = copied ? stages.allocate(T, T) : Matrix<Real>();
  Real* target = copied ? copy.data() : const_cast<Real*>(a);
  MatrixOutcome o;
  o.index = index;
  o.op = OperatorChoice::kDense;
  o.sums = stages.given_matrix(a, T, center, center || copied ? target : nullptr);
  m_device->synchronize();
  o.generate_seconds = seconds_since(t0);
  solve_formed<Real>(point, target, seed, fmt::format("matrix {}", index), o);
  return o;
}

template <typename Real>
Matrix<Real> Backend::generate_resident(const ModelSpec& spec, std::uint64_t seed,
                                        std::uint32_t index) {
  validate(spec);
  Stages<Real>& stages = m_device->stages<Real>();
  const std::int64_t need = stages.dense_bytes(spec);  // the matrix; nothing is solved
  const std::int64_t budget = m_device->memory_budget();
  if (need > budget) {
    throw MemoryPlanError(fmt::format(
        "--T: a dense {} matrix at T = {} needs {:.2f} GiB but {:.2f} GiB of {} is free; lower "
        "--T",
        to_string(std::is_same_v<Real, double> ? Precision::kFloat64 : Precision::kFloat32), spec.T,
        gib(need), gib(budget), m_device->memory_name()));
  }
  DenseBatch<Real> batch = stages.generate(spec, seed, {index});
  return std::move(batch.matrices);
}

template <typename Real>
std::vector<Real> Backend::generate_to_host(const ModelSpec& spec, std::uint64_t seed,
                                            std::uint32_t index) {
  return m_device->stages<Real>().download(generate_resident<Real>(spec, seed, index));
}

#define GAPBENCH_INSTANTIATE(Real)                                                         \
  template MatrixOutcome Backend::run_resident_factors<Real>(                              \
      const PointSpec&, const Real*, const Real*, std::uint32_t, std::uint64_t);           \
  template MatrixOutcome Backend::run_resident_matrix<Real>(const PointSpec&, const Real*, \
                                                            std::uint32_t, std::uint64_t); \
  template Matrix<Real> Backend::generate_resident<Real>(const ModelSpec&, std::uint64_t,  \
                                                         std::uint32_t);
GAPBENCH_INSTANTIATE(float)
GAPBENCH_INSTANTIATE(double)
#undef GAPBENCH_INSTANTIATE
template MatrixOutcome Backend::run_factors<float>(const PointSpec&, const float*, const float*,
                                                   std::uint32_t, std::uint64_t);
template MatrixOutcome Backend::run_factors<double>(const PointSpec&, const double*, const double*,
                                                    std::uint32_t, std::uint64_t);
template MatrixOutcome Backend::run_matrix<float>(const PointSpec&, const float*, std::uint32_t,
                                                  std::uint64_t);
template MatrixOutcome Backend::run_matrix<double>(const PointSpec&, const double*, std::uint32_t,
                                                   std::uint64_t);
template std::vector<float> Backend::generate_to_host<float>(const ModelSpec&, std::uint64_t,
                                                             std::uint32_t);
template std::vector<double> Backend::generate_to_host<double>(const ModelSpec&, std::uint64_t,
                                                               std::uint32_t);

}  // namespace gapbench
