#include "gapbench/propagate/propagate.hpp"

#include <cblas.h>
#include <fmt/format.h>
#include <lapacke.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <limits>
#include <system_error>

#include "gapbench/build_info.hpp"
#include "gapbench/cpu/cpu_backend.hpp"
#include "gapbench/cpu/generate.hpp"
#include "gapbench/entries.hpp"
#include "gapbench/error.hpp"
#include "gapbench/rng.hpp"
#include "gapbench/solvers/lanczos.hpp"
#include "gapbench/sweep/plan.hpp"
#include "gapbench/sweep/results.hpp"
#include "gapbench/sweep/runner.hpp"
#include "gapbench/sweep/stop_signals.hpp"
#include "gapbench/text.hpp"

extern "C" {
void openblas_set_num_threads(int);
int openblas_get_num_threads(void);
char* openblas_get_config(void);
}

namespace gapbench::propagate {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::uint32_t matrix_index(const PropagateOptions& o, int layer) {
  return static_cast<std::uint32_t>(static_cast<std::int64_t>(o.index) * kMaxLayers + layer);
}

// A serial sum, so the norm (and everything rescaled by it) does not depend on the thread count
// as a threaded reduction would.
double frobenius(const std::vector<double>& x) {
  double sum = 0;
  for (const double v : x) sum += v * v;
  return std::sqrt(sum);
}

// Divides x by its Frobenius norm; returns ln of that norm (-inf for a zero matrix, left as is).
double rescale(std::vector<double>& x) {
  const double norm = frobenius(x);
  if (norm > 0) cblas_dscal(x.size(), 1.0 / norm, x.data(), 1);
  return std::log(norm);
}

// Each row to zero mean and unit variance (population variance, no epsilon, no affine); a row of
// zero variance becomes zero.
void layer_norm(std::vector<double>& x, std::int64_t T, std::int64_t d) {
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < T; ++i) {
    double* row = x.data() + i * d;
    double mean = 0;
    for (std::int64_t j = 0; j < d; ++j) mean += row[j];
    mean /= static_cast<double>(d);
    double var = 0;
    for (std::int64_t j = 0; j < d; ++j) var += (row[j] - mean) * (row[j] - mean);
    var /= static_cast<double>(d);
    const double inv = var > 0 ? 1.0 / std::sqrt(var) : 0.0;
    for (std::int64_t j = 0; j < d; ++j) row[j] = (row[j] - mean) * inv;
  }
}

ModelSpec markov_spec(const PropagateOptions& o) {
  ModelSpec spec;
  spec.kind = ModelKind::kMarkov;
  spec.T = o.T;
  spec.fix = o.fix;
  spec.law = o.law;
  spec.beta = o.beta;
  return spec;
}

// A(X) for the true X = exp(log_scale) * xs: logits beta exp(2 log_scale) (xs W_Q)(xs W_K)^T /
// sqrt(dk). The logit scale is capped at e^230 (~1e100): beyond it every row is one-hot anyway,
// and the cap keeps the logits finite.
void attention_matrix(const PropagateOptions& o, int layer, const std::vector<double>& xs,
                      double log_scale, std::vector<double>& a) {
  const std::int64_t dk = o.key_dim();
  const std::uint32_t idx = matrix_index(o, layer);
  const auto wq = cpu::gaussian_matrix<double>(Stream::kQueryWeights, 1.0, o.seed, idx, o.d, dk);
  const auto wk = cpu::gaussian_matrix<double>(Stream::kKeyWeights, 1.0, o.seed, idx, o.d, dk);
  std::vector<double> q(static_cast<std::size_t>(o.T * dk)), k(q.size());
  cpu::deterministic_gemm(false, o.T, dk, o.d, xs.data(), wq.data(), q.data());
  cpu::deterministic_gemm(false, o.T, dk, o.d, xs.data(), wk.data(), k.data());
  const double log_logit_scale =
      std::log(o.beta) + 2 * log_scale - 0.5 * std::log(static_cast<double>(dk));
  const double logit_scale = std::exp(std::min(log_logit_scale, 230.0));
  cpu::attention_from_factors<double>(o.T, dk, q.data(), k.data(), logit_scale, false, o.fix,
                                      a.data());
}

// Largest eigenvalue of a symmetric positive semidefinite m x m matrix (full storage): LAPACK
// below 512, Lanczos (k = 1, float64 tolerance) above.
double top_eigenvalue(const std::vector<double>& g, std::int64_t m) {
  constexpr std::int64_t kExactBelow = 512;
  if (m <= kExactBelow) {
    std::vector<double> copy = g, w(static_cast<std::size_t>(m));
    GAPBENCH_LAPACK_CHECK(LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', m, copy.data(), m, w.data()));
    return w.back();
  }
  SolverOptions options;
  options.kind = SolverKind::kLanczos;
  options.k = 1;
  LanczosPlan plan = plan_lanczos(options, Precision::kFloat64, m, 1);
  cpu::DenseOperator<double> op(g.data(), m, m);
  cpu::HostBlockOps<double> ops;
  const SolveResult r = lanczos_top_k<double>(op, ops, plan);
  if (!r.converged) throw Error("propagate: Lanczos did not converge on the Gram matrix");
  return r.values.at(0);
}

}  // namespace

std::string to_string(Variant v) {
  switch (v) {
    case Variant::kPlain:
      return "plain";
    case Variant::kSkip:
      return "skip";
    case Variant::kScaledSkip:
    default:
      return "scaled-skip";
  }
}

std::string to_string(AttentionSource v) {
  return v == AttentionSource::kMarkov ? "markov" : "attention";
}

Variant parse_variant(const std::string& s, const std::string& flag) {
  if (s == "plain") return Variant::kPlain;
  if (s == "skip") return Variant::kSkip;
  if (s == "scaled-skip") return Variant::kScaledSkip;
  throw UsageError(fmt::format("{}: unknown variant '{}' (plain, skip, scaled-skip)", flag, s));
}

AttentionSource parse_source(const std::string& s, const std::string& flag) {
  if (s == "markov") return AttentionSource::kMarkov;
  if (s == "attention") return AttentionSource::kAttention;
  throw UsageError(fmt::format("{}: unknown attention source '{}' (markov, attention)", flag, s));
}

void validate(const PropagateOptions& o) {
  if (o.T < 2) throw UsageError(fmt::format("--T: T = {} must be at least 2", o.T));
  if (o.d < 1) throw UsageError(fmt::format("--d: d = {} must be at least 1", o.d));
  if (o.L < 1 || o.L >= kMaxLayers) {
    throw UsageError(fmt::format("--L: L = {} must be between 1 and {}", o.L, kMaxLayers - 1));
  }
  if (o.input == InputKind::kIsometric && o.d < o.T) {
    throw UsageError(fmt::format(
        "--gamma: isometric inputs need d >= T (gamma = T/d <= 1), but T = {} and d = {}; lower "
        "--gamma or use --input gaussian",
        o.T, o.d));
  }
  if (!(std::isfinite(o.sigma_v) && o.sigma_v > 0)) {
    throw UsageError(fmt::format("--sigma-v: sigma_v = {} must be finite and > 0", o.sigma_v));
  }
  if (o.dk < 0) throw UsageError(fmt::format("--dk: dk = {} must be >= 1 (0: d)", o.dk));
  if (o.source == AttentionSource::kAttention || o.law == EntryLaw::kLognormal) {
    if (!(std::isfinite(o.beta) && o.beta > 0 && o.beta <= kMaxBeta)) {
      throw UsageError(
          fmt::format("--beta: beta = {} must be finite, > 0 and at most {}", o.beta, kMaxBeta));
    }
  }
  if (o.gradient && !o.linear()) {
    throw UsageError(
        "--gradient: the exact gradient formula holds for the linear model only (--variant plain, "
        "no --layernorm, --attention markov)");
  }
  if (static_cast<std::int64_t>(o.index) * kMaxLayers + o.L > 0xffffffffLL) {
    throw UsageError(fmt::format("--index: {} is above the largest run index {}", o.index,
                                 (0xffffffffLL - o.L) / kMaxLayers));
  }
  cpu::check_dense_fits(o.T, Precision::kFloat64);
}

std::vector<double> input_matrix(const PropagateOptions& o) {
  const std::uint32_t idx = matrix_index(o, 0);
  if (o.input == InputKind::kGaussian) {
    return cpu::gaussian_matrix<double>(Stream::kInputs, 1.0 / std::sqrt(static_cast<double>(o.d)),
                                        o.seed, idx, o.T, o.d);
  }
  // Row-major T x d is column-major d x T = G^T: its QR gives orthonormal columns, i.e. rows of
  // X_0 (d >= T). LAPACK runs on one OpenBLAS thread so that X_0 is bitwise the same for any
  // thread count (threaded BLAS-3 inside the QR rounds differently).
  std::vector<double> x = cpu::gaussian_matrix<double>(Stream::kInputs, 1.0, o.seed, idx, o.T, o.d);
  std::vector<double> tau(static_cast<std::size_t>(o.T));
  const int blas_threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
  const lapack_int qr_info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, o.d, o.T, x.data(), o.d, tau.data());
  const lapack_int q_info =
      qr_info != 0 ? 0 : LAPACKE_dorgqr(LAPACK_COL_MAJOR, o.d, o.T, o.T, x.data(), o.d, tau.data());
  openblas_set_num_threads(blas_threads);
  GAPBENCH_LAPACK_CHECK(qr_info);
  GAPBENCH_LAPACK_CHECK(q_info);
  return x;
}

std::vector<double> markov_matrix(const PropagateOptions& o, int layer) {
  return cpu::generate_dense<double>(markov_spec(o), o.seed, matrix_index(o, layer));
}

std::vector<double> value_weights(const PropagateOptions& o, int layer) {
  return cpu::gaussian_matrix<double>(Stream::kValueWeights, o.sigma_v, o.seed,
                                      matrix_index(o, layer), o.d, o.d);
}

LayerResult matrix_metrics(const double* x, std::int64_t T, std::int64_t d) {
  LayerResult r;
  const std::int64_t m = std::min(T, d);
  std::vector<double> g(static_cast<std::size_t>(m * m));
  // Gram matrix of the smaller side: its trace is sum s_i^2, its Frobenius norm^2 sum s_i^4.
  if (T <= d) {
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, T, d, 1.0, x, d, 0.0, g.data(), m);
  } else {
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, T, 1.0, x, d, 0.0, g.data(), m);
  }
  double trace = 0, gram_sq = 0;
  for (std::int64_t i = 0; i < m; ++i) {
    trace += g[i * m + i];
    gram_sq += g[i * m + i] * g[i * m + i];
    for (std::int64_t j = i + 1; j < m; ++j) {
      g[j * m + i] = g[i * m + j];
      gram_sq += 2 * g[i * m + j] * g[i * m + j];
    }
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double s1_sq = trace > 0 ? top_eigenvalue(g, m) : nan;
  r.stable_rank = trace / s1_sq;
  r.stable_rank4 = gram_sq / (s1_sq * s1_sq);

  // Cosines: || sum_i x_i/|x_i| ||^2 = T + sum_{i != j} cos(x_i, x_j) (zero rows count as 0).
  std::vector<double> unit_sum(static_cast<std::size_t>(d), 0.0), mean(unit_sum.size(), 0.0);
  std::int64_t nonzero = 0;
  for (std::int64_t i = 0; i < T; ++i) {
    const double* row = x + i * d;
    const double norm = cblas_dnrm2(d, row, 1);
    if (norm > 0) {
      cblas_daxpy(d, 1.0 / norm, row, 1, unit_sum.data(), 1);
      ++nonzero;
    }
    cblas_daxpy(d, 1.0 / static_cast<double>(T), row, 1, mean.data(), 1);
  }
  const double s = cblas_dnrm2(d, unit_sum.data(), 1);
  r.mean_cosine = (s * s - static_cast<double>(nonzero)) / (static_cast<double>(T) * (T - 1));
  // Computed directly rather than as ||X||^2 - T |mean|^2, which cancels when tokens collapse.
  double centered_sq = 0;
  for (std::int64_t i = 0; i < T; ++i) {
    for (std::int64_t j = 0; j < d; ++j) {
      const double v = x[i * d + j] - mean[j];
      centered_sq += v * v;
    }
  }
  r.centered_ratio = std::sqrt(centered_sq / trace);
  return r;
}

PropagateResult propagate(const PropagateOptions& o) {
  validate(o);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::int64_t T = o.T, d = o.d;
  PropagateResult result;
  result.layers.reserve(static_cast<std::size_t>(o.L) + 1);

  auto start = Clock::now();
  std::vector<double> xs = input_matrix(o);
  double log_scale = rescale(xs);
  double generate_seconds = seconds_since(start);
  const auto record = [&](int layer, double layer_seconds) {
    const auto t = Clock::now();
    LayerResult r = matrix_metrics(xs.data(), T, d);
    r.layer = layer;
    r.log_frob = log_scale;
    r.log_grad_sq = nan;
    r.layer_seconds = layer_seconds;
    r.metric_seconds = seconds_since(t);
    result.layers.push_back(r);
  };
  record(0, generate_seconds);

  std::vector<double> a(static_cast<std::size_t>(T * T)), y(xs.size()), z(xs.size());
  const double skip_scale =
      o.variant == Variant::kScaledSkip ? 1.0 / std::sqrt(static_cast<double>(d)) : 1.0;
  for (int l = 1; l <= o.L; ++l) {
    start = Clock::now();
    if (o.source == AttentionSource::kMarkov) {
      cpu::generate_dense<double>(markov_spec(o), o.seed, matrix_index(o, l), a.data());
    } else {
      attention_matrix(o, l, xs, log_scale, a);
    }
    const std::vector<double> w = value_weights(o, l);
    cpu::deterministic_gemm(false, T, d, d, xs.data(), w.data(), y.data());  // X W
    cpu::deterministic_gemm(false, T, d, T, a.data(), y.data(), z.data());   // A (X W)
    if (o.variant != Variant::kPlain) {
      for (std::size_t i = 0; i < z.size(); ++i) z[i] = xs[i] + skip_scale * z[i];
    }
    if (o.layernorm) {
      // LayerNorm is scale-invariant: X_l = LN(z) whatever the scale carried so far.
      layer_norm(z, T, d);
      log_scale = rescale(z);
    } else {
      log_scale += rescale(z);
    }
    xs.swap(z);
    record(l, seconds_since(start));
  }

  if (o.gradient) {
    // ||dX_L/dW_l||_F^2 = ||R_l||_F^2 ||P_l||_F^2 with P_l = (A_L...A_1) X_0 (W_1...W_{l-1}) and
    // R_l = W_{l+1}...W_L (PAPER.md). Every product is rescaled, its log norm accumulated.
    std::vector<double> p = input_matrix(o);
    double log_p = rescale(p);
    std::vector<double> next(p.size());
    for (int l = 1; l <= o.L; ++l) {
      cpu::generate_dense<double>(markov_spec(o), o.seed, matrix_index(o, l), a.data());
      cpu::deterministic_gemm(false, T, d, T, a.data(), p.data(), next.data());
      p.swap(next);
      log_p += rescale(p);
    }
    std::vector<double> log_p_sq(static_cast<std::size_t>(o.L) + 1), log_r_sq(log_p_sq.size());
    for (int l = 1; l <= o.L; ++l) {
      log_p_sq[l] = 2 * log_p;
      if (l == o.L) break;
      const std::vector<double> w = value_weights(o, l);
      cpu::deterministic_gemm(false, T, d, d, p.data(), w.data(), next.data());
      p.swap(next);
      log_p += rescale(p);
    }
    std::vector<double> r(static_cast<std::size_t>(d * d), 0.0), r_next(r.size());
    for (std::int64_t i = 0; i < d; ++i) r[i * d + i] = 1.0;
    double log_r = rescale(r);
    for (int l = o.L; l >= 1; --l) {
      log_r_sq[l] = 2 * log_r;
      if (l == 1) break;
      const std::vector<double> w = value_weights(o, l);
      cpu::deterministic_gemm(false, d, d, d, w.data(), r.data(), r_next.data());
      r.swap(r_next);
      log_r += rescale(r);
    }
    for (int l = 1; l <= o.L; ++l) result.layers[l].log_grad_sq = log_p_sq[l] + log_r_sq[l];
  }
  result.x = std::move(xs);
  return result;
}

namespace {

std::string csv_double(double v) { return std::isnan(v) ? "" : fmt::format("{:.17g}", v); }

template <typename T, typename F>
nlohmann::json names(const std::vector<T>& values, F name) {
  nlohmann::json out = nlohmann::json::array();
  for (const T& v : values) out.push_back(name(v));
  return out;
}

void print_network(std::ostream& out, int point, const PropagateOptions& o,
                   const PropagateResult& r) {
  out << fmt::format(
      "propagate point={} T={} d={} gamma={:.4g} L={} input={} variant={} layernorm={} "
      "attention={} fix={} seed={} index={}\n",
      point, o.T, o.d, static_cast<double>(o.T) / o.d, o.L, to_string(o.input),
      to_string(o.variant), o.layernorm ? "on" : "off", to_string(o.source), to_string(o.fix),
      o.seed, o.index);
  out << fmt::format("{:>5} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>10}\n", "layer", "ln|X|_F",
                     "srank", "srank4", "cosine", "|X-mean|/|X|", "ln|dX/dW|^2", "seconds");
  for (const LayerResult& l : r.layers) {
    out << fmt::format(
        "{:>5} {:>12.6g} {:>12.6g} {:>12.6g} {:>12.6g} {:>12.6g} {:>12} {:>10.4f}\n", l.layer,
        l.log_frob, l.stable_rank, l.stable_rank4, l.mean_cosine, l.centered_ratio,
        std::isnan(l.log_grad_sq) ? std::string("-") : fmt::format("{:.6g}", l.log_grad_sq),
        l.layer_seconds);
  }
}

}  // namespace

std::vector<PlannedNetwork> expand_plan(const PropagatePlan& plan) {
  constexpr std::int64_t kMaxIndex = 0xffffffffLL;
  if (plan.seeds < 1) {
    throw UsageError(fmt::format("--seeds: {} must be at least 1", plan.seeds));
  }
  if (plan.first_index < 0 || plan.first_index > kMaxIndex) {
    throw UsageError(fmt::format("--index: {} is outside 0 to 2^32 - 1", plan.first_index));
  }
  const std::int64_t last_index = plan.first_index + plan.seeds - 1;
  if (plan.seeds > kMaxIndex || last_index > kMaxIndex) {
    throw UsageError(fmt::format("--seeds: runs {} to {} go beyond the largest index 2^32 - 1",
                                 plan.first_index, plan.first_index + plan.seeds - 1));
  }
  for (const double g : plan.gammas) {
    if (!(std::isfinite(g) && g > 0)) {
      throw UsageError(fmt::format("--gamma: gamma = {} must be finite and > 0", g));
    }
  }
  for (const std::int64_t L : plan.Ls) {
    if (L < 1 || L >= kMaxLayers) {
      throw UsageError(fmt::format("--L: L = {} must be between 1 and {}", L, kMaxLayers - 1));
    }
  }
  constexpr std::size_t kMaxPoints = 1000000;
  const std::size_t widths = plan.ds.empty() ? plan.gammas.size() : plan.ds.size();
  long double count = 1;
  for (const std::size_t n : {plan.Ts.size(), widths, plan.Ls.size(), plan.inputs.size(),
                              plan.variants.size(), plan.sources.size(), plan.fixes.size()}) {
    count *= static_cast<long double>(n);
  }
  if (count < 1 || count > kMaxPoints) {
    throw UsageError(fmt::format("--T: the plan has {:.0Lf} points; give 1 to {} (fewer values)",
                                 count, kMaxPoints));
  }
  std::vector<PlannedNetwork> points;
  for (const std::int64_t T : plan.Ts) {
    for (std::size_t w = 0; w < widths; ++w) {
      for (const std::int64_t L : plan.Ls) {
        for (const InputKind input : plan.inputs) {
          for (const Variant variant : plan.variants) {
            for (const AttentionSource source : plan.sources) {
              for (const Fix fix : plan.fixes) {
                PropagateOptions o;
                o.T = T;
                o.d = plan.ds.empty()
                          ? std::max<std::int64_t>(
                                1, std::llround(static_cast<double>(T) / plan.gammas[w]))
                          : plan.ds[w];
                o.L = static_cast<int>(L);
                o.input = input;
                o.variant = variant;
                o.layernorm = plan.layernorm;
                o.source = source;
                o.fix = fix;
                o.law = plan.law;
                o.beta = plan.beta;
                o.dk = plan.dk;
                o.sigma_v = plan.sigma_v;
                o.seed = plan.seed;
                o.gradient = plan.gradient;
                o.index = static_cast<std::uint32_t>(last_index);
                validate(o);  // the last run has the largest matrix indices
                o.index = static_cast<std::uint32_t>(plan.first_index);
                points.push_back({static_cast<int>(points.size()), o});
              }
            }
          }
        }
      }
    }
  }
  return points;
}

nlohmann::json plan_to_json(const PropagatePlan& p) {
  const auto input_name = [](InputKind v) { return gapbench::to_string(v); };
  const auto fix_name = [](Fix v) { return gapbench::to_string(v); };
  const auto variant_name = [](Variant v) { return to_string(v); };
  const auto source_name = [](AttentionSource v) { return to_string(v); };
  return {{"T", p.Ts},
          {"gamma", p.ds.empty() ? nlohmann::json(p.gammas) : nlohmann::json()},
          {"d", p.ds.empty() ? nlohmann::json() : nlohmann::json(p.ds)},
          {"L", p.Ls},
          {"input", names(p.inputs, input_name)},
          {"variant", names(p.variants, variant_name)},
          {"attention", names(p.sources, source_name)},
          {"fix", names(p.fixes, fix_name)},
          {"layernorm", p.layernorm},
          {"law", gapbench::to_string(p.law)},
          {"beta", p.beta},
          {"dk", p.dk},
          {"sigma_v", p.sigma_v},
          {"seed", p.seed},
          {"index", p.first_index},
          {"seeds", p.seeds},
          {"gradient", p.gradient},
          {"max_layers", kMaxLayers}};
}

std::vector<std::string> row_columns() {
  return {"point",
          "run",
          "T",
          "d",
          "gamma",
          "L",
          "input",
          "variant",
          "layernorm",
          "attention",
          "fix",
          "law",
          "beta",
          "dk",
          "sigma_v",
          "seed",
          "index",
          "layer",
          "log_frob",
          "stable_rank",
          "stable_rank4",
          "mean_cosine",
          "centered_ratio",
          "log_grad_sq",
          "layer_seconds",
          "metric_seconds"};
}

std::string format_rows(int point, const PropagateOptions& o, const PropagateResult& r) {
  std::string out;
  for (const LayerResult& l : r.layers) {
    out += fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", point,
        o.index, o.T, o.d, csv_double(static_cast<double>(o.T) / o.d), o.L, to_string(o.input),
        to_string(o.variant), o.layernorm ? 1 : 0, to_string(o.source), to_string(o.fix),
        to_string(o.law), csv_double(o.beta), o.key_dim(), csv_double(o.sigma_v), o.seed, o.index,
        l.layer, csv_double(l.log_frob), csv_double(l.stable_rank), csv_double(l.stable_rank4),
        csv_double(l.mean_cosine), csv_double(l.centered_ratio), csv_double(l.log_grad_sq),
        csv_double(l.layer_seconds), csv_double(l.metric_seconds));
  }
  return out;
}

int run_sweep(const PropagateRequest& req, std::ostream& out) {
  namespace fs = std::filesystem;
  // 1. Everything that can be refused is refused before any file is touched.
  const std::vector<PlannedNetwork> points = expand_plan(req.plan);
  const nlohmann::json plan_json = plan_to_json(req.plan);
  std::optional<nlohmann::json> stored_meta;
  if (req.resume) {
    if (req.out || req.force) {
      throw UsageError("--resume: continues the sweep in its own directory; drop --out/--force");
    }
    stored_meta = read_resume_meta(*req.resume, kPropagateSchema, "propagate");
    const nlohmann::json stored_plan = stored_meta->value("plan", nlohmann::json());
    if (stored_plan != plan_json) {
      throw UsageError(fmt::format(
          "--resume: '{}' was made by a different plan (differs in: {}); give the same flags",
          req.resume->string(), plan_differences(plan_json, stored_plan)));
    }
  }
  if (req.force && !req.out) throw UsageError("--force: replaces an --out directory; give --out");
  const int threads = cpu::set_threads(req.threads);

  // 2. The results directory, when asked for.
  RowsLayout layout{row_columns(), "point", "run", {}};
  for (const PlannedNetwork& p : points) layout.rows_per_key.push_back(p.options.L + 1);
  nlohmann::json meta;
  std::optional<ResultsDir> results;
  if (req.resume) {
    results.emplace(ResultsDir::resume(*req.resume, layout, /*with_values=*/false,
                                       static_cast<int>(points.size()),
                                       req.plan.first_index + req.plan.seeds));
    meta = *stored_meta;
    record_resume(meta, {{"command", req.command_line}, {"threads", threads}});
    results->write_meta(meta);
  } else if (req.out) {
    meta = {{"schema", kPropagateSchema},
            {"rng", {{"version", kRngLayoutVersion}, {"layout", kRngLayout}}},
            {"command", req.command_line},
            {"build", build_info()},
            {"libraries", library_versions()},
            {"host", host_name()},
            {"backend", "cpu"},
            {"blas", openblas_get_config()},
            {"threads", threads},
            {"plan", plan_json},
            {"started", utc_now_iso()},
            {"finished", nullptr},
            {"status", "running"},
            {"networks", 0},
            {"resumes", nlohmann::json::array()}};
    results.emplace(ResultsDir::create(*req.out, req.force, layout, /*with_values=*/false, meta));
  }
  if (results) std::cerr << "results: " << results->path().string() << '\n';

  // 3. The networks, T outermost, each run of a point in turn.
  const std::int64_t total = static_cast<std::int64_t>(points.size()) * req.plan.seeds;
  std::int64_t kept = 0;
  StopSignals signals;
  bool interrupted = false;
  const auto finish = [&](const std::string& status) {
    if (!results) return;
    meta["status"] = status;
    meta["networks"] = kept;
    meta["finished"] = utc_now_iso();
    results->write_meta(meta);
  };
  try {
    for (const PlannedNetwork& p : points) {
      for (std::int64_t i = 0; i < req.plan.seeds && !interrupted; ++i) {
        PropagateOptions o = p.options;
        o.index = static_cast<std::uint32_t>(req.plan.first_index + i);
        if (results && results->done(p.point, o.index)) {
          ++kept;
          continue;
        }
        interrupted = signals.stopped();
        if (interrupted) break;
        const PropagateResult r = propagate(o);
        print_network(out, p.point, o, r);
        if (results) results->append_row(format_rows(p.point, o, r));  // one write(2)
        ++kept;
        interrupted = signals.stopped();
      }
      if (interrupted) break;
    }
  } catch (const std::exception& e) {
    meta["error"] = e.what();
    finish("failed");
    throw;
  }
  finish(interrupted ? "interrupted" : "complete");
  out << std::flush;
  if (interrupted) {
    if (results) {
      std::cerr << fmt::format(
          "interrupted: {} of {} networks kept in {}; continue with: gapbench propagate --resume "
          "{} and the same flags\n",
          kept, total, results->path().string(), results->path().string());
    } else {
      std::cerr << fmt::format("interrupted after {} of {} networks\n", kept, total);
    }
    return kExitInterrupted;
  }
  if (results) {
    out << fmt::format("{} networks in {}\n", kept, (results->path() / "rows.csv").string());
  }
  return 0;
}

}  // namespace gapbench::propagate
