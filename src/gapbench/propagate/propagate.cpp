#include "gapbench/propagate/propagate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <limits>

#include "gapbench/backend.hpp"
#include "gapbench/cpu/blas.hpp"
#include "gapbench/cpu/cpu_device.hpp"
#include "gapbench/entries.hpp"
#include "gapbench/error.hpp"
#include "gapbench/names.hpp"
#include "gapbench/rng.hpp"
#include "gapbench/runtime.hpp"
#include "gapbench/solvers/lanczos.hpp"
#include "gapbench/solvers/small_dense.hpp"
#include "gapbench/sweep/plan.hpp"
#include "gapbench/sweep/results_run.hpp"
#include "gapbench/sweep/shard.hpp"
#include "gapbench/test_hook.hpp"
#include "gapbench/text.hpp"

namespace gapbench::propagate {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::uint32_t matrix_index(const PropagateOptions& o, int layer) {
  return static_cast<std::uint32_t>(static_cast<std::int64_t>(o.index) * kMaxLayers + layer);
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

using Mat = Matrix<double>;

// The factors of one A(X) layer, kept by the reverse-mode pass.
struct AttentionLayer {
  Mat wq, wk;  // d x dk
  Mat q, k;    // xs W_Q, xs W_K (T x dk; xs the rescaled input)
  double logit_scale = 0;
  double logit_std = 0;
};

// What the reverse-mode pass needs of layer l, kept by the forward pass.
struct LayerTape {
  Mat x;                  // X_{l-1} / ||X_{l-1}||_F
  double log_scale = 0;   // ln ||X_{l-1}||_F
  Mat a;                  // A_l as applied (the fix included)
  Mat w, y;               // W_l and x W_l
  AttentionLayer attention;
  Mat z;                  // with LayerNorm: its input, at x's scale
};

// The network's steps over one device's float64 stages: everything below is written once, for
// the CPU and the GPU.
// A test's change of one layer's weights: those of o.grad.wrt in `layer` become W + h v.
struct Perturbation {
  int layer = 0;
  const std::vector<double>* v = nullptr;
  double h = 0;
};

class Network {
 public:
  Network(Device& device, const PropagateOptions& o, const Perturbation* perturb = nullptr)
      : m_st(device.stages<double>()), m_o(o), m_perturb(perturb) {}

  Stages<double>& stages() { return m_st; }

  Mat input() {
    Mat x = m_st.allocate(m_o.T, m_o.d);
    const std::uint32_t idx = matrix_index(m_o, 0);
    if (m_o.input == InputKind::kGaussian) {
      m_st.fill_gaussian(x, Stream::kInputs, 1.0 / std::sqrt(static_cast<double>(m_o.d)), m_o.seed,
                         idx);
    } else {
      m_st.fill_gaussian(x, Stream::kInputs, 1.0, m_o.seed, idx);
      m_st.orthonormalize_rows(x);
    }
    return x;
  }

  Mat value_weights(int layer) {
    Mat w = m_st.allocate(m_o.d, m_o.d);
    m_st.fill_gaussian(w, Stream::kValueWeights, m_o.sigma_v, m_o.seed, matrix_index(m_o, layer));
    perturb(layer, GradientWrt::kValue, w);
    return w;
  }

  // A_l of the markov source, generated into a fresh T x T matrix.
  DenseBatch<double> markov(int layer) {
    return m_st.generate(markov_spec(m_o), m_o.seed, {matrix_index(m_o, layer)});
  }

  // A(X) for the true X = exp(log_scale) * xs: logits kappa (xs W_Q)(xs W_K)^T with kappa =
  // beta exp(2 log_scale) / sqrt(dk). kappa is capped at e^230 (~1e100): beyond it every row is
  // one-hot anyway (the softmax's derivative is 0 to working precision), and the cap keeps the
  // logits finite. Returns the factors (for the reverse-mode pass) and the logits' spread.
  AttentionLayer attention(int layer, const Mat& xs, double log_scale, Mat& a) {
    const std::int64_t T = m_o.T, dk = m_o.key_dim();
    const std::uint32_t idx = matrix_index(m_o, layer);
    AttentionLayer f{m_st.allocate(m_o.d, dk), m_st.allocate(m_o.d, dk), m_st.allocate(T, dk),
                     m_st.allocate(T, dk), 0, 0};
    const double sigma = m_o.query_key_sigma();
    m_st.fill_gaussian(f.wq, Stream::kQueryWeights, sigma, m_o.seed, idx);
    m_st.fill_gaussian(f.wk, Stream::kKeyWeights, sigma, m_o.seed, idx);
    perturb(layer, GradientWrt::kQuery, f.wq);
    perturb(layer, GradientWrt::kKey, f.wk);
    m_st.gemm(xs, f.wq, false, f.q);
    m_st.gemm(xs, f.wk, false, f.k);
    const double log_logit_scale =
        std::log(m_o.beta) + 2 * log_scale - 0.5 * std::log(static_cast<double>(dk));
    f.logit_scale = std::exp(std::min(log_logit_scale, 230.0));
    f.logit_std = f.logit_scale * row_centered_rms(f.q, f.k);
    m_st.attention_from_factors(f.q, f.k, f.logit_scale, false, m_o.fix, a.data());
    return f;
  }

  // Divides x by its Frobenius norm; returns ln of that norm (-inf for a zero matrix, left as
  // is).
  double rescale(Mat& x) {
    const double norm = m_st.frobenius_norm(x);
    if (norm > 0) m_st.scale(x, 1.0 / norm);
    return std::log(norm);
  }

  // The metrics of x (any scale); log_frob, log_grad_sq and timings unset.
  LayerResult metrics(const Mat& x) {
    LayerResult r;
    const std::int64_t m = std::min(x.rows(), x.cols());
    // Gram matrix of the smaller side: its trace is sum s_i^2, its Frobenius norm^2 sum s_i^4.
    Mat g = m_st.allocate(m, m);
    m_st.gram(x, g);
    const GramStats gs = m_st.gram_stats(g);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double s1_sq = gs.trace > 0 ? top_eigenvalue(g) : nan;
    r.stable_rank = gs.trace / s1_sq;
    r.stable_rank4 = gs.sum_sq / (s1_sq * s1_sq);
    const TokenStats t = m_st.token_stats(x, gs.trace);
    r.mean_cosine = t.mean_cosine;
    r.centered_ratio = t.centered_ratio;
    return r;
  }

 private:
  // Largest eigenvalue of the symmetric positive semidefinite Gram matrix: LAPACK on the host
  // below 512, Lanczos (k = 1, float64 tolerance) on the device above.
  double top_eigenvalue(const Mat& g) {
    constexpr std::int64_t kExactBelow = 512;
    const std::int64_t m = g.rows();
    if (m <= kExactBelow) return detail::small_symmetric_top_eigenvalue(m_st.download(g), m);
    SolverOptions options;
    options.kind = SolverKind::kLanczos;
    options.k = 1;
    const LanczosPlan plan = plan_lanczos(options, Precision::kFloat64, m, 1);
    // OpenBLAS on one thread (no effect on a GPU): its products round by how its threads split
    // them, and the metrics are to be the same bitwise whatever --threads is.
    const cpu::SerialBlas serial;
    const auto op = m_st.dense_operator(g.data(), m, m);
    const SolveResult r = lanczos_top_k<double>(*op, m_st.block_ops(), plan);
    if (!r.converged) throw Error("propagate: Lanczos did not converge on the Gram matrix");
    return r.values.at(0);
  }

  // sqrt(mean_i var_j (Q K^T)_ij): row i of Q K^T minus its mean is q_i . (k_j - kbar), so the
  // sum of squares is <Q, Q Kc^T Kc> with Kc = K - 1 kbar^T (no cancellation), O(T dk^2).
  double row_centered_rms(const Mat& q, const Mat& k) {
    const std::int64_t T = q.rows(), dk = q.cols();
    Mat ones = m_st.allocate(T, 1), kbar = m_st.allocate(1, dk), kc = m_st.allocate(T, dk);
    m_st.fill(ones, 1.0);
    m_st.product(1.0 / static_cast<double>(T), ones, true, k, false, 0.0, kbar);
    m_st.fill(kc, 0.0);
    m_st.add_scaled(k, 1.0, kc);                               // kc = k
    m_st.product(-1.0, ones, false, kbar, false, 1.0, kc);     // kc = k - 1 kbar^T
    Mat m = m_st.allocate(dk, dk), qm = m_st.allocate(T, dk);
    m_st.product(1.0, kc, true, kc, false, 0.0, m);
    m_st.product(1.0, q, false, m, false, 0.0, qm);
    return std::sqrt(std::max(0.0, m_st.dot(q, qm)) / (static_cast<double>(T) * T));
  }

  void perturb(int layer, GradientWrt which, Mat& w) {
    if (!m_perturb || m_perturb->layer != layer || m_o.grad.wrt != which) return;
    Mat moved = m_st.upload(m_perturb->v->data(), w.rows(), w.cols());
    m_st.add_scaled(w, m_perturb->h, moved);  // w + h v
    w = std::move(moved);
  }

  Stages<double>& m_st;
  const PropagateOptions& m_o;
  const Perturbation* m_perturb;
};

// A CPU device that leaves the thread count as it is set, for the calls without a device.
Device& host_device() {
  static const std::unique_ptr<Device> device = cpu::make_cpu_device(cpu::kKeepThreads);
  return *device;
}

}  // namespace

namespace {
constexpr NameTable<Variant, 3> kVariantNames{{{"plain", Variant::kPlain},
                                               {"skip", Variant::kSkip},
                                               {"scaled-skip", Variant::kScaledSkip}}};
constexpr NameTable<AttentionSource, 2> kSourceNames{
    {{"markov", AttentionSource::kMarkov}, {"attention", AttentionSource::kAttention}}};
constexpr NameTable<GradientWrt, 3> kWrtNames{{{"value", GradientWrt::kValue},
                                               {"query", GradientWrt::kQuery},
                                               {"key", GradientWrt::kKey}}};
constexpr NameTable<GradientMethod, 3> kMethodNames{{{"auto", GradientMethod::kAuto},
                                                     {"exact", GradientMethod::kExact},
                                                     {"probes", GradientMethod::kProbes}}};
}  // namespace

std::string to_string(Variant v) { return name_of(kVariantNames, v); }
std::string to_string(AttentionSource v) { return name_of(kSourceNames, v); }
std::string to_string(GradientWrt v) { return name_of(kWrtNames, v); }
std::string to_string(GradientMethod v) { return name_of(kMethodNames, v); }
Variant parse_variant(const std::string& s, const std::string& flag) {
  return parse_name(kVariantNames, s, flag, "variant");
}
AttentionSource parse_source(const std::string& s, const std::string& flag) {
  return parse_name(kSourceNames, s, flag, "attention source");
}
GradientWrt parse_gradient_wrt(const std::string& s, const std::string& flag) {
  return parse_name(kWrtNames, s, flag, "weights");
}
GradientMethod parse_gradient_method(const std::string& s, const std::string& flag) {
  return parse_name(kMethodNames, s, flag, "method");
}

void validate(const PropagateOptions& o) {
  if (o.T < 2 || o.T > kMaxWidth) {
    throw UsageError(fmt::format("--T: T = {} must be between 2 and 2^28 = {}", o.T, kMaxWidth));
  }
  if (o.d < 1 || o.d > kMaxWidth) {
    throw UsageError(fmt::format("--d: d = {} must be between 1 and 2^28 = {}", o.d, kMaxWidth));
  }
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
  if (o.fix == Fix::kDeflate) {
    throw UsageError(
        "--fix deflate: propagate applies none or center (deflation is a measurement of one "
        "matrix: gapbench sweep or run)");
  }
  if (o.source == AttentionSource::kAttention || law_takes_beta(o.law)) {
    if (!(std::isfinite(o.beta) && o.beta > 0 && o.beta <= kMaxBeta)) {
      throw UsageError(
          fmt::format("--beta: beta = {} must be finite, > 0 and at most {}", o.beta, kMaxBeta));
    }
  }
  if (o.grad.wrt != GradientWrt::kValue && o.source != AttentionSource::kAttention) {
    throw UsageError(fmt::format(
        "--gradient-wrt: {} weights exist only in A(X) layers; add --attention attention or use "
        "--gradient-wrt value",
        to_string(o.grad.wrt)));
  }
  if (o.gradient && o.grad.method == GradientMethod::kExact &&
      !(o.linear() && o.grad.wrt == GradientWrt::kValue)) {
    throw UsageError(
        "--gradient-method: the closed form holds for W_V of the linear model only (--variant "
        "plain, no --layernorm, --attention markov); use --gradient-method probes or auto");
  }
  if (o.grad.probes < 1 || o.grad.probes > kMaxProbes) {
    throw UsageError(
        fmt::format("--probes: {} must be between 1 and {}", o.grad.probes, kMaxProbes));
  }
  if (o.grad.probes_max < o.grad.probes || o.grad.probes_max > kMaxProbes) {
    throw UsageError(fmt::format("--probes-max: {} must be between --probes ({}) and {}",
                                 o.grad.probes_max, o.grad.probes, kMaxProbes));
  }
  if (!(std::isfinite(o.grad.probe_rse) && o.grad.probe_rse > 0 && o.grad.probe_rse < 1)) {
    throw UsageError(fmt::format(
        "--probe-rse: {} must be a relative standard error between 0 and 1 (e.g. 0.05)",
        o.grad.probe_rse));
  }
  if (static_cast<std::int64_t>(o.index) * kMaxLayers + o.L > 0xffffffffLL) {
    throw UsageError(fmt::format("--index: {} is above the largest run index {}", o.index,
                                 (0xffffffffLL - o.L) / kMaxLayers));
  }
}

std::int64_t network_bytes(const PropagateOptions& o) {
  const auto T = static_cast<std::uint64_t>(o.T), d = static_cast<std::uint64_t>(o.d),
             dk = static_cast<std::uint64_t>(o.key_dim()), m = std::min(T, d);
  const auto mul = [](std::uint64_t a, std::uint64_t b) { return saturating_mul(a, b); };
  const auto add = [](std::uint64_t a, std::uint64_t b) { return saturating_add(a, b); };
  // A (T x T), X and its two products (T x d each), a weight (d x d), the Gram matrix, and for
  // A(X) its factors and weights; the gradient pass adds R and its product (d x d each). In
  // saturating arithmetic: --d 2000000000 must read as too large, not wrap to a small number.
  std::uint64_t elements = add(add(mul(T, T), mul(3, mul(T, d))), add(mul(d, d), mul(m, m)));
  if (o.source == AttentionSource::kAttention) {
    elements = add(elements, add(mul(2, mul(T, dk)), mul(2, mul(d, dk))));
  }
  if (o.exact_gradient()) elements = add(elements, mul(2, mul(d, d)));
  if (o.gradient && !o.exact_gradient()) {
    // The tape, per layer: x, y (and LayerNorm's input), A, W (and A(X)'s factors and weights);
    // the backward pass: four T x d cotangents, a weight's, and for A(X) G_S and two T x dk.
    std::uint64_t layer = add(add(mul(o.layernorm ? 3 : 2, mul(T, d)), mul(T, T)), mul(d, d));
    if (o.source == AttentionSource::kAttention) {
      layer = add(layer, add(mul(2, mul(T, dk)), mul(2, mul(d, dk))));
      elements = add(elements, add(mul(T, T), mul(2, mul(T, dk))));
    }
    elements = add(elements, mul(static_cast<std::uint64_t>(o.L), layer));
    elements = add(elements, add(mul(4, mul(T, d)), mul(d, std::max(d, dk))));
  }
  const std::uint64_t bytes = mul(elements, sizeof(double));
  return static_cast<std::int64_t>(
      std::min<std::uint64_t>(bytes, std::numeric_limits<std::int64_t>::max()));
}

void check_fits(Device& device, const PropagateOptions& o) {
  // The flag of the largest dimension: the one to lower.
  const char* flag = o.key_dim() > std::max(o.T, o.d) ? "--dk" : o.d > o.T ? "--d" : "--T";
  const std::int64_t need = network_bytes(o);
  check_memory_fits(need == std::numeric_limits<std::int64_t>::max()
                        ? std::numeric_limits<std::uint64_t>::max()
                        : static_cast<std::uint64_t>(need),
                    static_cast<std::uint64_t>(device.memory_budget()), device.memory_name(), flag,
                    fmt::format("a network at T = {}, d = {}, dk = {}", o.T, o.d, o.key_dim()),
                    "lower --T (or --gamma, --d, --dk)");
}

std::vector<double> input_matrix(const PropagateOptions& o) {
  Network net(host_device(), o);
  return net.stages().download(net.input());
}

std::vector<double> markov_matrix(const PropagateOptions& o, int layer) {
  Network net(host_device(), o);
  return net.stages().download(net.markov(layer).matrices);
}

std::vector<double> value_weights(const PropagateOptions& o, int layer) {
  Network net(host_device(), o);
  return net.stages().download(net.value_weights(layer));
}

LayerResult matrix_metrics(const double* x, std::int64_t T, std::int64_t d) {
  PropagateOptions o;
  Network net(host_device(), o);
  return net.metrics(net.stages().upload(x, T, d));
}

namespace {

// rho of a layer's attention branch, z = x + rho A x W: 1/sqrt(d) for scaled-skip, else 1.
double branch_scale(const PropagateOptions& o) {
  return o.variant == Variant::kScaledSkip ? 1.0 / std::sqrt(static_cast<double>(o.d)) : 1.0;
}

// The matrices of a layer, reused from layer to layer when nothing is kept for a backward pass.
struct Scratch {
  Mat attention, y, z;
};

// Layer l of the forward pass from xs = X_{l-1} / ||X_{l-1}||_F (ln norm log_scale): leaves
// X_l / ||X_l||_F in scratch.z and returns ln ||X_l||_F. With `tape`, what the reverse-mode pass
// needs of the layer is moved there (all but x, which the caller keeps or moves) and the next
// layer gets fresh matrices.
double forward_layer(Network& net, const PropagateOptions& o, int l, const Mat& xs,
                     double log_scale, Scratch& s, LayerTape* tape, double& logit_std) {
  Stages<double>& st = net.stages();
  const std::int64_t T = o.T, d = o.d;
  const bool attention_source = o.source == AttentionSource::kAttention;
  // (A moved-from Matrix keeps its shape but has no storage.)
  if (attention_source && !s.attention.data()) s.attention = st.allocate(T, T);
  if (!s.y.data()) s.y = st.allocate(T, d);
  if (!s.z.data()) s.z = st.allocate(T, d);
  DenseBatch<double> markov;
  const Mat* a = &s.attention;
  AttentionLayer factors;
  if (!attention_source) {
    markov = net.markov(l);
    a = &markov.matrices;
  } else {
    factors = net.attention(l, xs, log_scale, s.attention);
    logit_std = factors.logit_std;
  }
  Mat w = net.value_weights(l);
  // z = x + rho A x W (skips) or A x W (plain).
  const double rho = branch_scale(o);
  st.gemm(xs, w, false, s.y);     // X W
  st.gemm(*a, s.y, false, s.z);   // A (X W)
  if (o.variant != Variant::kPlain) st.add_scaled(xs, rho, s.z);
  if (tape && o.layernorm) {
    tape->z = st.allocate(T, d);
    st.fill(tape->z, 0.0);
    st.add_scaled(s.z, 1.0, tape->z);  // LayerNorm's input, kept
  }
  double out_scale = log_scale;
  if (o.layernorm) {
    // LayerNorm is scale-invariant: X_l = LN(z) whatever the scale carried so far.
    st.layer_norm_rows(s.z);
    out_scale = net.rescale(s.z);
  } else {
    out_scale += net.rescale(s.z);
  }
  if (tape) {
    tape->log_scale = log_scale;
    tape->a = attention_source ? std::move(s.attention) : std::move(markov.matrices);
    tape->w = std::move(w);
    tape->y = std::move(s.y);
    tape->attention = std::move(factors);
  }
  return out_scale;
}

// The forward pass of `o` on `device`: per-layer results and X_L / ||X_L||_F in result.x; with
// `tape`, what the reverse-mode pass needs is kept layer by layer. Returns ln ||X_L||_F.
double forward(Network& net, const PropagateOptions& o, PropagateResult& result,
               std::vector<LayerTape>* tape) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Stages<double>& st = net.stages();
  result.layers.reserve(static_cast<std::size_t>(o.L) + 1);

  auto start = Clock::now();
  Mat xs = net.input();
  double log_scale = net.rescale(xs);
  double generate_seconds = seconds_since(start);
  const auto record = [&](int layer, double layer_seconds, double logit_std) {
    const auto t = Clock::now();
    LayerResult r = net.metrics(xs);
    r.layer = layer;
    r.log_frob = log_scale;
    r.logit_std = logit_std;
    r.log_grad_sq = nan;
    r.log_grad_se = nan;
    r.layer_seconds = layer_seconds;
    r.metric_seconds = seconds_since(t);
    result.layers.push_back(r);
  };
  record(0, generate_seconds, nan);

  Scratch scratch;
  for (int l = 1; l <= o.L; ++l) {
    start = Clock::now();
    LayerTape t;
    double logit_std = nan;
    log_scale = forward_layer(net, o, l, xs, log_scale, scratch, tape ? &t : nullptr, logit_std);
    if (tape) {
      t.x = std::move(xs);
      tape->push_back(std::move(t));
      xs = std::move(scratch.z);
    } else {
      std::swap(xs, scratch.z);
    }
    record(l, seconds_since(start), logit_std);
  }
  result.x = st.download(xs);
  return log_scale;
}

// ||dX_L/dW_l||_F^2 = ||R_l||_F^2 ||P_l||_F^2 with P_l = (A_L...A_1) X_0 (W_1...W_{l-1}) and
// R_l = W_{l+1}...W_L (PAPER.md): the linear model's closed form. Every product is rescaled, its
// log norm accumulated.
void exact_gradient(Network& net, const PropagateOptions& o, PropagateResult& result) {
  Stages<double>& st = net.stages();
  const std::int64_t T = o.T, d = o.d;
  Mat p = net.input();
  double log_p = net.rescale(p);
  Mat next = st.allocate(T, d);
  for (int l = 1; l <= o.L; ++l) {
    const DenseBatch<double> a = net.markov(l);
    st.gemm(a.matrices, p, false, next);
    std::swap(p, next);
    log_p += net.rescale(p);
  }
  std::vector<double> log_p_sq(static_cast<std::size_t>(o.L) + 1), log_r_sq(log_p_sq.size());
  for (int l = 1; l <= o.L; ++l) {
    log_p_sq[l] = 2 * log_p;
    if (l == o.L) break;
    const Mat w = net.value_weights(l);
    st.gemm(p, w, false, next);
    std::swap(p, next);
    log_p += net.rescale(p);
  }
  Mat r = st.allocate(d, d), r_next = st.allocate(d, d);
  st.set_identity(r);
  double log_r = net.rescale(r);
  for (int l = o.L; l >= 1; --l) {
    log_r_sq[l] = 2 * log_r;
    if (l == 1) break;
    const Mat w = net.value_weights(l);
    st.gemm(w, r, false, r_next);
    std::swap(r, r_next);
    log_r += net.rescale(r);
  }
  for (int l = 1; l <= o.L; ++l) {
    result.layers[l].log_grad_sq = log_p_sq[l] + log_r_sq[l];
    result.layers[l].log_grad_se = 0;
    result.layers[l].grad_probes = 0;
  }
}

// The reverse-mode pass. The cotangent of the true X_l is kept as exp(c) G with ||G||_F = 1,
// as the forward pass keeps X. Layer l, input x = X_{l-1} / e^s, z = x + rho A (x W) at x's
// scale:
//   LayerNorm   G_z = LN'(z)^T G, c -= s (LN's Jacobian at e^s z is e^-s times that at z)
//   value       G_Y = rho A^T G_z,  dW_V = e^(s + c) x^T G_Y
//   input       G_x = G_Y W^T (+ G_z with a skip)
//   A(X)        G_S = softmax'(rho G_z Y^T) (the logits' cotangent, at e^(c + s)),
//               G_x += kappa (G_S K W_Q^T + G_S^T Q W_K^T),
//               dW_Q = e^(c + s) kappa x^T G_S K, dW_K = e^(c + s) kappa x^T G_S^T Q
// (kappa the layer's logit scale; Q, K, Y of the rescaled x). The cotangent of layer `stop`'s
// weights: ln of its squared norm for every layer in `log_sq` (index l), or, with `cotangent`,
// that layer's matrix at its true scale.
class Backward {
 public:
  Backward(Network& net, const PropagateOptions& o)
      : m_net(net),
        m_st(net.stages()),
        m_o(o),
        m_g(m_st.allocate(o.T, o.d)),
        m_gx(m_st.allocate(o.T, o.d)),
        m_gy(m_st.allocate(o.T, o.d)),
        m_gw(o.grad.wrt == GradientWrt::kValue ? m_st.allocate(o.d, o.d)
                                                    : m_st.allocate(o.d, o.key_dim())) {
    if (o.source == AttentionSource::kAttention) {
      m_gs = m_st.allocate(o.T, o.T);
      m_m = m_st.allocate(o.T, o.key_dim());
      m_m2 = m_st.allocate(o.T, o.key_dim());
    }
  }

  Mat& cotangent() { return m_g; }

  // The pass from m_g (the cotangent of the true X_L, any scale) down to layer `last`; with
  // `through`, on to the cotangent of layer `last`'s input.
  void run(const std::vector<LayerTape>& tape, int last, std::vector<double>& log_sq,
           std::vector<double>* cotangent, bool through = false) {
    const double rho = branch_scale(m_o);
    const bool attention = m_o.source == AttentionSource::kAttention;
    const double offset = m_o.fix == Fix::kCenter ? 1.0 / static_cast<double>(m_o.T) : 0.0;
    double c = rescale(m_g);
    for (int l = m_o.L; l >= last; --l) {
      const LayerTape& t = tape[static_cast<std::size_t>(l) - 1];
      if (m_o.layernorm) {
        m_st.layer_norm_backward_rows(t.z, m_g);
        c -= t.log_scale;
      }
      m_st.product(rho, t.a, true, m_g, false, 0.0, m_gy);  // G_Y = rho A^T G_z
      if (attention) {
        m_st.product(rho, m_g, false, t.y, true, 0.0, m_gs);  // G_A = rho G_z Y^T
        m_st.softmax_backward_rows(t.a, offset, m_gs);        // G_S
        m_st.product(1.0, m_gs, false, t.attention.k, false, 0.0, m_m);  // G_S K
        m_st.product(1.0, m_gs, true, t.attention.q, false, 0.0, m_m2);  // G_S^T Q
      }
      // The weights' cotangent, at scale e^(c + s) (times kappa for W_Q, W_K).
      const Mat* right = &m_gy;
      double log_factor = c + t.log_scale;
      if (m_o.grad.wrt != GradientWrt::kValue) {
        right = m_o.grad.wrt == GradientWrt::kQuery ? &m_m : &m_m2;
        log_factor += std::log(t.attention.logit_scale);
      }
      m_st.product(1.0, t.x, true, *right, false, 0.0, m_gw);
      if (cotangent && l == last) {
        *cotangent = m_st.download(m_gw);
        for (double& v : *cotangent) v *= std::exp(log_factor);
        return;
      }
      const double norm = m_st.frobenius_norm(m_gw);
      log_sq[static_cast<std::size_t>(l)] = 2 * (log_factor + std::log(norm));
      if (l == last && !through) break;
      // The input's cotangent, at scale e^c.
      m_st.product(1.0, m_gy, false, t.w, true, 0.0, m_gx);  // G_Y W^T
      if (m_o.variant != Variant::kPlain) m_st.add_scaled(m_g, 1.0, m_gx);
      if (attention) {
        const double kappa = t.attention.logit_scale;
        m_st.product(kappa, m_m, false, t.attention.wq, true, 1.0, m_gx);
        m_st.product(kappa, m_m2, false, t.attention.wk, true, 1.0, m_gx);
      }
      std::swap(m_g, m_gx);
      c += rescale(m_g);
    }
  }

 private:
  double rescale(Mat& g) { return m_net.rescale(g); }

  Network& m_net;
  Stages<double>& m_st;
  const PropagateOptions& m_o;
  Mat m_g, m_gx, m_gy, m_gw, m_gs, m_m, m_m2;
};

// The mean of exp(x_i) over the samples x and its relative standard error, in logs (the
// samples span many orders of magnitude); NaN for fewer than 2 samples.
struct LogMean {
  double log_mean = 0;
  double rse = 0;
};
LogMean log_mean(const std::vector<double>& x) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double top = *std::max_element(x.begin(), x.end());
  if (!std::isfinite(top)) return {top, 0.0};  // every probe 0 (or an overflow)
  const auto n = static_cast<double>(x.size());
  double mean = 0;
  for (const double v : x) mean += std::exp(v - top);
  mean /= n;
  double var = 0;
  for (const double v : x) var += (std::exp(v - top) - mean) * (std::exp(v - top) - mean);
  const double rse = x.size() < 2 ? nan : std::sqrt(var / (n - 1) / n) / mean;
  return {top + std::log(mean), rse};
}

// ||dX_L/dW_l||_F^2 = E ||J_l^T g||^2 over standard normal g (T x d), one backward pass per
// probe for every layer at once; probes until every layer's relative standard error is at most
// o.grad.probe_rse (at least o.grad.probes of them, at most o.grad.probes_max).
void probe_gradient(Network& net, const PropagateOptions& o, const std::vector<LayerTape>& tape,
                    PropagateResult& result) {
  Stages<double>& st = net.stages();
  Backward back(net, o);
  std::vector<std::vector<double>> samples(static_cast<std::size_t>(o.L) + 1);
  std::vector<double> log_sq(samples.size());
  for (int p = 0; p < o.grad.probes_max; ++p) {
    st.fill_gaussian(back.cotangent(), probe_stream(static_cast<std::uint32_t>(p)), 1.0, o.seed,
                     o.index);
    back.run(tape, 1, log_sq, nullptr);
    bool done = p + 1 >= o.grad.probes;
    for (int l = 1; l <= o.L; ++l) {
      samples[l].push_back(log_sq[l]);
      const LogMean m = log_mean(samples[l]);
      LayerResult& r = result.layers[l];
      r.log_grad_sq = m.log_mean;
      r.log_grad_se = m.rse;
      r.grad_probes = p + 1;
      if (!(m.rse <= o.grad.probe_rse)) done = false;
    }
    if (done) break;
  }
}

}  // namespace

PropagateResult propagate(const PropagateOptions& o) { return propagate(host_device(), o); }

PropagateResult propagate(Device& device, const PropagateOptions& o) {
  validate(o);
  check_fits(device, o);
  Network net(device, o);
  PropagateResult result;
  const bool probes = o.gradient && !o.exact_gradient();
  std::vector<LayerTape> tape;
  forward(net, o, result, probes ? &tape : nullptr);
  if (o.exact_gradient()) exact_gradient(net, o, result);
  if (probes) probe_gradient(net, o, tape, result);
  return result;
}

std::vector<double> weight_cotangent(const PropagateOptions& o, int layer,
                                     const std::vector<double>& g) {
  validate(o);
  Network net(host_device(), o);
  PropagateResult result;
  std::vector<LayerTape> tape;
  forward(net, o, result, &tape);
  Backward back(net, o);
  back.cotangent() = net.stages().upload(g.data(), o.T, o.d);
  std::vector<double> log_sq(static_cast<std::size_t>(o.L) + 1), out;
  back.run(tape, layer, log_sq, &out);
  return out;
}

struct LayerPasses::State {
  State(Device& device, const PropagateOptions& options)
      : o(one_layer(options)), net(device, o), back(net, o) {}
  static PropagateOptions one_layer(PropagateOptions o) {
    o.L = 1;
    o.gradient = true;
    o.grad.method = GradientMethod::kProbes;
    validate(o);
    return o;
  }
  PropagateOptions o;
  Network net;
  Backward back;
  Mat x0;
  Scratch scratch;
  double log_scale = 0;
  std::vector<LayerTape> tape;
  std::vector<double> log_sq{0.0, 0.0};
};

LayerPasses::LayerPasses(Device& device, const PropagateOptions& o)
    : m_state(std::make_unique<State>(device, o)) {
  check_fits(device, m_state->o);
  m_state->x0 = m_state->net.input();
  m_state->log_scale = m_state->net.rescale(m_state->x0);
  forward();
}
LayerPasses::~LayerPasses() = default;

void LayerPasses::forward() {
  State& s = *m_state;
  if (!s.tape.empty()) s.x0 = std::move(s.tape[0].x);
  s.tape.clear();
  LayerTape t;
  double logit_std = 0;
  forward_layer(s.net, s.o, 1, s.x0, s.log_scale, s.scratch, &t, logit_std);
  t.x = std::move(s.x0);
  s.tape.push_back(std::move(t));
}

void LayerPasses::backward() {
  State& s = *m_state;
  s.net.stages().fill_gaussian(s.back.cotangent(), probe_stream(0), 1.0, s.o.seed, s.o.index);
  s.back.run(s.tape, 1, s.log_sq, nullptr, /*through=*/true);
}

double perturbed_output(const PropagateOptions& o, int layer, const std::vector<double>& v,
                        double h, const std::vector<double>& g) {
  validate(o);
  const Perturbation perturb{layer, &v, h};
  Network net(host_device(), o, &perturb);
  PropagateResult result;
  const double log_scale = forward(net, o, result, nullptr);
  double dot = 0;
  for (std::size_t e = 0; e < g.size(); ++e) dot += g[e] * result.x[e];
  return std::exp(log_scale) * dot;
}

namespace {

// NaN and Inf are written as an empty field, never as text (a resume rejects such text).
std::string csv_double(double v) { return std::isfinite(v) ? fmt::format("{:.17g}", v) : ""; }

template <typename T, typename F>
nlohmann::json names(const std::vector<T>& values, F name) {
  nlohmann::json out = nlohmann::json::array();
  for (const T& v : values) out.push_back(name(v));
  return out;
}

void print_network(std::ostream& out, int point, const PropagateOptions& o,
                   const PropagateResult& r) {
  const bool attention = o.source == AttentionSource::kAttention;
  out << fmt::format(
      "propagate point={} T={} d={} gamma={:.4g} L={} input={} variant={} layernorm={} "
      "attention={}{} fix={} seed={} index={}{}\n",
      point, o.T, o.d, static_cast<double>(o.T) / o.d, o.L, to_string(o.input),
      to_string(o.variant), o.layernorm ? "on" : "off", to_string(o.source),
      attention ? " init=" + gapbench::to_string(o.init) : "", to_string(o.fix), o.seed, o.index,
      !o.gradient ? ""
      : o.exact_gradient()
          ? " gradient=exact"
          : fmt::format(" gradient=probes wrt={}", to_string(o.grad.wrt)));
  const auto number = [](double v) {
    return std::isnan(v) ? std::string("-") : fmt::format("{:.6g}", v);
  };
  out << fmt::format("{:>5} {:>12} {:>12} {:>12} {:>12} {:>12} {:>10} {:>12} {:>9} {:>6} {:>10}\n",
                     "layer", "ln|X|_F", "srank", "srank4", "cosine", "|X-mean|/|X|", "logit_sd",
                     "ln|dX/dW|^2", "se", "probes", "seconds");
  for (const LayerResult& l : r.layers) {
    out << fmt::format(
        "{:>5} {:>12.6g} {:>12.6g} {:>12.6g} {:>12.6g} {:>12.6g} {:>10} {:>12} {:>9} {:>6} "
        "{:>10.4f}\n",
        l.layer, l.log_frob, l.stable_rank, l.stable_rank4, l.mean_cosine, l.centered_ratio,
        number(l.logit_std), number(l.log_grad_sq), number(l.log_grad_se),
        o.gradient && l.layer > 0 ? std::to_string(l.grad_probes) : "-", l.layer_seconds);
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
  // d = round(T / gamma) must be at most kMaxWidth: gamma >= T / 2^28, checked before d is
  // computed (gamma = 1e-9 asked for d = 2.6e11, whose sizes overflowed).
  for (const std::int64_t T : plan.ds.empty() ? plan.Ts : std::vector<std::int64_t>{}) {
    for (const double g : plan.gammas) {
      const double least = static_cast<double>(T) / static_cast<double>(kMaxWidth);
      if (T >= 1 && g < least) {
        throw UsageError(
            fmt::format("--gamma: gamma = {} gives d = T/gamma = {:.3g} at T = {}; give gamma >= "
                        "T/2^28 = {:.3g} "
                        "(d at most 2^28)",
                        g, static_cast<double>(T) / g, T, least));
      }
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
                o.init = plan.init;
                o.gradient = plan.gradient;
                o.grad = plan.grad;
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
          {"init", gapbench::to_string(p.init)},
          {"gradient", p.gradient},
          {"gradient_wrt", to_string(p.grad.wrt)},
          {"gradient_method", to_string(p.grad.method)},
          {"probes", p.grad.probes},
          {"probes_max", p.grad.probes_max},
          {"probe_rse", p.grad.probe_rse},
          {"max_layers", kMaxLayers}};
}

PropagatePlan plan_from_json(const nlohmann::json& j, const std::string& flag) {
  const auto list = [&](const char* key, auto parse) {
    std::vector<decltype(parse(std::string()))> out;
    for (const auto& name : j.at(key).get<std::vector<std::string>>()) out.push_back(parse(name));
    return out;
  };
  try {
    if (j.at("max_layers") != kMaxLayers) {
      throw UsageError(fmt::format("{}: meta.json's plan has max_layers {}, this gapbench {}", flag,
                                   j.at("max_layers").dump(), kMaxLayers));
    }
    PropagatePlan p;
    p.Ts = j.at("T").get<std::vector<std::int64_t>>();
    p.gammas = j.at("gamma").is_null() ? std::vector<double>{1.0}
                                       : j.at("gamma").get<std::vector<double>>();
    if (!j.at("d").is_null()) p.ds = j.at("d").get<std::vector<std::int64_t>>();
    p.Ls = j.at("L").get<std::vector<std::int64_t>>();
    p.inputs = list("input", [&](const std::string& s) { return parse_input(s, flag); });
    p.variants = list("variant", [&](const std::string& s) { return parse_variant(s, flag); });
    p.sources = list("attention", [&](const std::string& s) { return parse_source(s, flag); });
    p.fixes = list("fix", [&](const std::string& s) { return parse_fix(s, flag); });
    p.layernorm = j.at("layernorm").get<bool>();
    p.law = parse_law(j.at("law").get<std::string>(), flag);
    p.beta = j.at("beta").get<double>();
    p.dk = j.at("dk").get<std::int64_t>();
    p.sigma_v = j.at("sigma_v").get<double>();
    p.seed = j.at("seed").get<std::uint64_t>();
    p.first_index = j.at("index").get<std::int64_t>();
    p.seeds = j.at("seeds").get<std::int64_t>();
    p.gradient = j.at("gradient").get<bool>();
    // Absent before gapbench.propagate/4: W_Q, W_K were N(0, 1) and only the closed form ran.
    p.init = parse_stored_init(j.value("init", std::string("normal")), flag);
    p.grad.wrt = parse_gradient_wrt(j.value("gradient_wrt", std::string("value")), flag);
    p.grad.method = parse_gradient_method(j.value("gradient_method", std::string("auto")), flag);
    p.grad.probes = j.value("probes", p.grad.probes);
    p.grad.probes_max = j.value("probes_max", p.grad.probes_max);
    p.grad.probe_rse = j.value("probe_rse", p.grad.probe_rse);
    return p;  // validated, like any plan, by expand_plan
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(fmt::format("{}: meta.json holds a malformed plan ({})", flag, e.what()));
  }
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
          "c",
          "dk",
          "init",
          "gradient",
          "gradient_wrt",
          "sigma_v",
          "seed",
          "index",
          "layer",
          "log_frob",
          "stable_rank",
          "stable_rank4",
          "mean_cosine",
          "centered_ratio",
          "logit_std",
          "log_grad_sq",
          "log_grad_se",
          "grad_probes",
          "layer_seconds",
          "metric_seconds"};
}

std::string format_rows(int point, const PropagateOptions& o, const PropagateResult& r) {
  // c = sigma/mu of the markov entries (laws.hpp), for the theory lines of the plots.
  const std::string c =
      o.source == AttentionSource::kMarkov ? csv_double(law_info(o.law).c(o.beta)) : "";
  const bool attention = o.source == AttentionSource::kAttention;
  const std::string method = !o.gradient ? "off" : o.exact_gradient() ? "exact" : "probes";
  std::string out;
  for (const LayerResult& l : r.layers) {
    out += fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},"
        "{},{},{}\n",
        point, o.index, o.T, o.d, csv_double(static_cast<double>(o.T) / o.d), o.L,
        to_string(o.input), to_string(o.variant), o.layernorm ? 1 : 0, to_string(o.source),
        to_string(o.fix), to_string(o.law), csv_double(o.beta), c, o.key_dim(),
        attention ? gapbench::to_string(o.init) : "", method,
        o.gradient ? to_string(o.grad.wrt) : "", csv_double(o.sigma_v), o.seed, o.index,
        l.layer, csv_double(l.log_frob), csv_double(l.stable_rank), csv_double(l.stable_rank4),
        csv_double(l.mean_cosine), csv_double(l.centered_ratio), csv_double(l.logit_std),
        csv_double(l.log_grad_sq), csv_double(l.log_grad_se),
        o.gradient && l.layer > 0 ? std::to_string(l.grad_probes) : "",
        csv_double(l.layer_seconds), csv_double(l.metric_seconds));
  }
  return out;
}

namespace {

// Why a rows.csv row of network `run` of `point`, at `position` (its layer) in the network's
// group, is not one the plan writes: "plan" (a column up to `layer` differs from what the point
// writes), "field" (a metric that is not a number), "nonfinite" (NaN or Inf as text).
std::string network_row_problem(const PlannedNetwork& point, std::uint32_t run, int position,
                                const RowFields& fields) {
  PropagateOptions o = point.options;
  o.index = run;
  PropagateResult expected;
  expected.layers.resize(1);
  expected.layers[0].layer = position;
  const std::vector<std::string> want = split(format_rows(point.point, o, expected), ',');
  const std::vector<std::string> columns = row_columns();
  const std::size_t layer_column = static_cast<std::size_t>(
      std::find(columns.begin(), columns.end(), "layer") - columns.begin());
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const auto it = fields.find(columns[i]);
    const std::string& text = it == fields.end() ? want[i] : it->second;
    if (i <= layer_column) {  // point .. layer: which network and layer the row is
      if (text != want[i]) {
        return fmt::format("plan: column {} is '{}', the point's '{}'", columns[i], text, want[i]);
      }
      continue;
    }
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (!text.empty() && end != text.c_str() + text.size()) {
      return fmt::format("field: column {} holds '{}', not a number", columns[i], text);
    }
    if (!text.empty() && !std::isfinite(v)) {
      return fmt::format("nonfinite: column {} holds '{}'", columns[i], text);
    }
  }
  return "";
}

}  // namespace

RowsLayout rows_layout(const PropagatePlan& plan, const std::vector<PlannedNetwork>& points) {
  RowsLayout layout{row_columns(), "point", "run", {}};
  for (const PlannedNetwork& p : points) layout.rows_per_key.push_back(p.options.L + 1);
  layout.first_run = plan.first_index;
  layout.row_problem = [&points](int point, std::uint32_t run, int position,
                                 const RowFields& fields) {
    return network_row_problem(points.at(static_cast<std::size_t>(point)), run, position, fields);
  };
  return layout;
}

int run_sweep(const PropagateRequest& req, std::ostream& out) {
  // 1. Everything that can be refused is refused before any file is touched.
  ResultsTarget target{"propagate",        kPropagateSchema,      req.out,
                             req.resume,         req.force,             std::nullopt,
                             req.command_line,   "networks",            "gapbench propagate",
                             " and the same flags", req.shard};
  std::optional<nlohmann::json> stored = stored_meta(target);
  const std::vector<PlannedNetwork> points = expand_plan(req.plan);
  const nlohmann::json plan_json = plan_to_json(req.plan);
  if (stored) {
    const nlohmann::json stored_plan = stored->value("plan", nlohmann::json());
    refuse_other_plan(*req.resume, stored_plan == plan_json, plan_json, stored_plan);
  }
  if (req.force && !target.out) throw UsageError("--force: replaces an --out directory; give --out");
  BackendSelection sel = make_backend(req.backend, req.threads);
  Backend& backend = *sel.backend;
  for (const PlannedNetwork& p : points) check_fits(backend.device(), p.options);

  // 2. The results directory, when asked for.
  RowsLayout layout = rows_layout(req.plan, points);
  const ShardKeys shard(target.shard, [&] { return propagate_units(req.plan, points); });
  if (target.shard) {
    layout.owns = [&shard](int point, std::uint32_t run) { return shard.owns(point, run); };
    std::cerr << fmt::format("shard {} of {} ({}): {} of the plan's {} networks\n",
                             target.shard->index, target.shard->count, target.shard->source,
                             shard.size(),
                             static_cast<std::int64_t>(points.size()) * req.plan.seeds);
  }
  const BackendRecord record = backend_record(sel);
  ResultsRun run(target, std::move(stored), plan_json, layout, /*with_values=*/false,
                 static_cast<int>(points.size()), req.plan.first_index + req.plan.seeds,
                 record.meta_fields(), record.resume);
  ResultsDir* results = run.dir();
  std::cerr << sel.note << "; device: " << backend.description() << '\n';
  if (results) std::cerr << "results: " << results->path().string() << '\n';

  // 3. The networks, T outermost, each run of a point in turn.
  std::int64_t kept = 0;
  const int code = run.run(
      [&] {
        for (const PlannedNetwork& p : points) {
          for (std::int64_t i = 0; i < req.plan.seeds; ++i) {
            PropagateOptions o = p.options;
            o.index = static_cast<std::uint32_t>(req.plan.first_index + i);
            if (!shard.owns(p.point, o.index)) continue;
            if (results && results->done(p.point, o.index)) {
              ++kept;
              continue;
            }
            if (run.stopped()) return true;
            test_pause_point("compute");
            const PropagateResult r = propagate(backend.device(), o);
            print_network(out, p.point, o, r);
            if (results) results->append_row(format_rows(p.point, o, r));  // one write(2)
            ++kept;
            if (run.stopped()) return true;
          }
        }
        return false;
      },
      [&] { return kept; });
  out << std::flush;
  if (code == 0 && results) {
    out << fmt::format("{} networks in {}\n", kept, (results->path() / "rows.csv").string());
  }
  return code;
}

}  // namespace gapbench::propagate
