// Signal propagation (PAPER.md, "Signal propagation"): the paper's statements with fixed seeds
// (markov, exponential entries so c = 1, isometric X_0, gamma = 1, plain), the exact gradient
// formula against finite differences, metric identities, refused options and the CLI.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "gapbench/cpu/cpu_device.hpp"
#include "gapbench/error.hpp"
#include "gapbench/propagate/propagate.hpp"
#include "gapbench/text.hpp"
#include "test_support.hpp"

#ifndef GAPBENCH_EXE
#error "GAPBENCH_EXE (the path of the gapbench binary) must be defined by the build"
#endif

namespace gapbench::propagate {
namespace {

PropagateOptions paper_case(std::int64_t T, Fix fix, int L, std::uint64_t seed) {
  PropagateOptions o;
  o.T = T;
  o.d = T;  // gamma = 1
  o.L = L;
  o.input = InputKind::kIsometric;
  o.variant = Variant::kPlain;
  o.source = AttentionSource::kMarkov;
  o.law = EntryLaw::kExponential;
  o.fix = fix;
  o.seed = seed;
  return o;
}

double stable_rank_after_one_layer(std::int64_t T, Fix fix) {
  const PropagateResult r = propagate(paper_case(T, fix, 1, 20250101));
  return r.layers.at(1).stable_rank;
}

// With A the stable rank collapses to about 1 + c^2 = 2 after one layer whatever T; with A_perp
// it is of order T (4T/27 in the limit: 9.5 at T = 64, 152 at T = 1024).
TEST(PropagatePaper, StableRankAfterOneLayer) {
  std::map<std::int64_t, double> with_a, with_perp;
  for (const std::int64_t T : {64, 256, 1024}) {
    with_a[T] = stable_rank_after_one_layer(T, Fix::kNone);
    with_perp[T] = stable_rank_after_one_layer(T, Fix::kCenter);
    std::printf("T = %4lld  stable rank with A %.4f  with A_perp %.4f  (4T/27 = %.2f)\n",
                static_cast<long long>(T), with_a[T], with_perp[T], 4.0 * T / 27);
    EXPECT_LT(with_a[T], 3.0) << "T = " << T;
    EXPECT_GE(with_a[T], 1.0) << "T = " << T;
  }
  EXPECT_GE(with_perp[1024] / with_perp[64], 10.0);
  // 20% around the limit: one matrix, finite T.
  EXPECT_NEAR(with_perp[1024], 4.0 * 1024 / 27, 0.2 * 4.0 * 1024 / 27);
}

// Least-squares slope of y against x.
double slope(const std::vector<double>& x, const std::vector<double>& y) {
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i) mx += x[i] / x.size(), my += y[i] / y.size();
  double sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  return sxy / sxx;
}

// l = 1, L = 2: ln ||dX_2/dW_1||^2 grows like 2 ln T with A and like ln T (slope ~1.1 at these
// sizes) with A_perp (PAPER.md's means over 200 seeds: 6.07 ... 10.03 and 2.78 ... 4.98).
TEST(PropagatePaper, GradientNormSlopes) {
  const std::vector<std::int64_t> sizes = {20, 40, 80, 150};
  constexpr int kSeeds = 10;
  // Matrices of T <= 150: one thread is fastest, and spares ctest -j from oversubscription.
  cpu::set_threads(1);
  for (const Fix fix : {Fix::kNone, Fix::kCenter}) {
    std::vector<double> log_t, mean_log_grad;
    for (const std::int64_t T : sizes) {
      double sum = 0;
      for (int s = 0; s < kSeeds; ++s) {
        PropagateOptions o = paper_case(T, fix, 2, 7);
        o.index = static_cast<std::uint32_t>(s);
        o.gradient = true;
        sum += propagate(o).layers.at(1).log_grad_sq;
      }
      log_t.push_back(std::log(static_cast<double>(T)));
      mean_log_grad.push_back(sum / kSeeds);
      std::printf("%s T = %3lld  mean ln ||dX_2/dW_1||^2 = %.3f\n",
                  fix == Fix::kNone ? "A     " : "A_perp", static_cast<long long>(T),
                  mean_log_grad.back());
    }
    const double b = slope(log_t, mean_log_grad);
    std::printf("%s slope %.3f\n", fix == Fix::kNone ? "A     " : "A_perp", b);
    EXPECT_NEAR(b, fix == Fix::kNone ? 2.0 : 1.1, 0.3);
  }
}

// Row-major products for the hand-built network.
std::vector<double> matmul(const std::vector<double>& a, const std::vector<double>& b,
                           std::int64_t m, std::int64_t k, std::int64_t n) {
  std::vector<double> c(static_cast<std::size_t>(m * n), 0.0);
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t p = 0; p < k; ++p) {
      for (std::int64_t j = 0; j < n; ++j) c[i * n + j] += a[i * k + p] * b[p * n + j];
    }
  }
  return c;
}

// X_L = A_L (... (A_1 X_0 W_1) ...) W_L with the given weights, unrescaled.
std::vector<double> forward_by_hand(const PropagateOptions& o,
                                    const std::vector<std::vector<double>>& weights) {
  std::vector<double> x = input_matrix(o);
  for (int l = 1; l <= o.L; ++l) {
    x = matmul(markov_matrix(o, l), matmul(x, weights[l], o.T, o.d, o.d), o.T, o.T, o.d);
  }
  return x;
}

// X_L is linear in each W_l, so X_L(W_l + E_ij) - X_L(W_l) is the derivative along E_ij with
// no truncation error; the sum of its squared norms over i, j is ||dX_L/dW_l||_F^2. Tolerance
// 1e-10 relative: the differences are of entries of size ~1 in float64 (~1e-15 each).
class PropagateGradient : public ::testing::TestWithParam<Fix> {};

TEST_P(PropagateGradient, MatchesFiniteDifferences) {
  PropagateOptions o = paper_case(6, GetParam(), 3, 99);
  o.gradient = true;
  const PropagateResult r = propagate(o);
  std::vector<std::vector<double>> w(o.L + 1);
  for (int l = 1; l <= o.L; ++l) w[l] = value_weights(o, l);
  const std::vector<double> base = forward_by_hand(o, w);

  // The forward pass agrees with the hand-built one (rescaled by its carried log norm).
  const double scale = std::exp(r.layers.at(o.L).log_frob);
  for (std::size_t i = 0; i < base.size(); ++i) {
    EXPECT_NEAR(scale * r.x[i], base[i], 1e-12 * scale) << "entry " << i;
  }
  for (int l = 1; l <= o.L; ++l) {
    double sum_sq = 0;
    for (std::int64_t i = 0; i < o.d * o.d; ++i) {
      auto perturbed = w;
      perturbed[l][i] += 1.0;
      const std::vector<double> moved = forward_by_hand(o, perturbed);
      for (std::size_t k = 0; k < moved.size(); ++k) {
        sum_sq += (moved[k] - base[k]) * (moved[k] - base[k]);
      }
    }
    const double formula = std::exp(r.layers.at(l).log_grad_sq);
    EXPECT_NEAR(formula, sum_sq, 1e-10 * sum_sq) << "layer " << l;
  }
  EXPECT_TRUE(std::isnan(r.layers.at(0).log_grad_sq));
}

INSTANTIATE_TEST_SUITE_P(Fixes, PropagateGradient, ::testing::Values(Fix::kNone, Fix::kCenter));

// ---- the reverse-mode pass and its probe estimate ---------------------------------------------

// The linear model's probe estimate of ||dX_L/dW_l||_F^2 against the closed form, within 3 of
// its standard errors (probes: E ||J^T g||^2 = ||J||_F^2 for standard normal g).
TEST(PropagateProbes, LinearModelAgreesWithTheClosedForm) {
  for (const Fix fix : {Fix::kNone, Fix::kCenter}) {
    PropagateOptions o = paper_case(24, fix, 3, 7);
    o.gradient = true;
    const PropagateResult exact = propagate(o);
    o.grad.method = GradientMethod::kProbes;
    o.grad.probes = 400;
    o.grad.probes_max = 400;
    const PropagateResult probed = propagate(o);
    for (int l = 1; l <= o.L; ++l) {
      const LayerResult& p = probed.layers.at(l);
      EXPECT_EQ(p.grad_probes, 400);
      EXPECT_GT(p.log_grad_se, 0.0);
      EXPECT_LT(p.log_grad_se, 0.1);
      EXPECT_NEAR(p.log_grad_sq, exact.layers.at(l).log_grad_sq, 3 * p.log_grad_se)
          << "layer " << l << " fix " << to_string(fix);
      EXPECT_EQ(exact.layers.at(l).grad_probes, 0);
      EXPECT_EQ(exact.layers.at(l).log_grad_se, 0.0);
    }
  }
}

// Probing stops at the target relative standard error (after the minimum), or at the cap; the
// same options give the same estimate (probes from fixed seeds).
TEST(PropagateProbes, StopAtTheTargetOrTheCapAndRepeat) {
  PropagateOptions o = paper_case(16, Fix::kNone, 2, 3);
  o.source = AttentionSource::kAttention;
  o.variant = Variant::kSkip;
  o.layernorm = true;
  o.gradient = true;
  o.grad.probes = 8;
  o.grad.probes_max = 2000;
  o.grad.probe_rse = 0.1;
  const PropagateResult r = propagate(o);
  for (int l = 1; l <= o.L; ++l) {
    EXPECT_GE(r.layers.at(l).grad_probes, 8);
    EXPECT_LT(r.layers.at(l).grad_probes, 2000);
    EXPECT_LE(r.layers.at(l).log_grad_se, 0.1);
  }
  const PropagateResult again = propagate(o);
  EXPECT_EQ(again.layers.at(1).log_grad_sq, r.layers.at(1).log_grad_sq);
  o.grad.probe_rse = 1e-6;
  o.grad.probes_max = 9;
  const PropagateResult capped = propagate(o);
  EXPECT_EQ(capped.layers.at(1).grad_probes, 9);
  EXPECT_GT(capped.layers.at(1).log_grad_se, 1e-6);
}

// Every variant's vector-Jacobian product <J^T g, v> (the backward pass) against the central
// difference of f(W + h v), f = <g, X_L>, at T = d = 6 ... 12, layers 1 and L = 3, with
// Xavier-normal W_Q, W_K and beta = 4: first-layer logits of order beta / d = 0.3 ... 0.7, far
// from a saturated softmax and from a uniform one (with beta = 1 the logits of the third layer
// fall to 1e-6, W_Q moves X_L by 1e-9 of its size, and no difference step resolves that in
// float64). Normwise: |error| <= 1e-6 ||J^T g|| ||v||.
struct VjpCase {
  Variant variant;
  bool layernorm;
  AttentionSource source;
  Fix fix;
  GradientWrt wrt;
  std::int64_t T;
};

std::string vjp_name(const ::testing::TestParamInfo<VjpCase>& info) {
  const VjpCase& c = info.param;
  std::string name = to_string(c.variant) + (c.layernorm ? "_ln_" : "_") + to_string(c.source) +
                     "_" + gapbench::to_string(c.fix) + "_" + to_string(c.wrt) + "_T" +
                     std::to_string(c.T);
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

std::vector<VjpCase> vjp_cases() {
  std::vector<VjpCase> out;
  const std::int64_t sizes[] = {6, 8, 10, 12};
  int n = 0;
  for (const Variant v : {Variant::kPlain, Variant::kSkip, Variant::kScaledSkip}) {
    for (const bool ln : {false, true}) {
      for (const AttentionSource s : {AttentionSource::kMarkov, AttentionSource::kAttention}) {
        for (const Fix f : {Fix::kNone, Fix::kCenter}) {
          for (const GradientWrt w : {GradientWrt::kValue, GradientWrt::kQuery, GradientWrt::kKey}) {
            if (s == AttentionSource::kMarkov && w != GradientWrt::kValue) continue;
            out.push_back({v, ln, s, f, w, sizes[n++ % 4]});
          }
        }
      }
    }
  }
  return out;
}

class PropagateVjp : public ::testing::TestWithParam<VjpCase> {};

TEST_P(PropagateVjp, MatchesCentralDifferences) {
  const VjpCase& c = GetParam();
  PropagateOptions o = paper_case(c.T, c.fix, 3, 11 + static_cast<std::uint64_t>(c.T));
  o.variant = c.variant;
  o.layernorm = c.layernorm;
  o.source = c.source;
  o.init = WeightInit::kXavierNormal;
  o.beta = 4;
  o.grad.wrt = c.wrt;
  const std::int64_t cols = c.wrt == GradientWrt::kValue ? o.d : o.key_dim();
  std::vector<double> g(static_cast<std::size_t>(o.T * o.d)), v(static_cast<std::size_t>(o.d * cols));
  std::uint64_t state = 0x9e3779b97f4a7c15ULL ^ static_cast<std::uint64_t>(c.T);
  const auto next = [&] {  // uniform in (-1, 1), reproducible
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / 4503599627370496.0 - 1.0;
  };
  for (double& x : g) x = next();
  for (double& x : v) x = next();
  double v_norm = 0;
  for (const double x : v) v_norm += x * x;
  v_norm = std::sqrt(v_norm);
  for (const int layer : {1, o.L}) {
    const std::vector<double> jtg = weight_cotangent(o, layer, g);
    ASSERT_EQ(jtg.size(), v.size());
    double vjp = 0, jtg_norm = 0;
    for (std::size_t e = 0; e < v.size(); ++e) {
      vjp += jtg[e] * v[e];
      jtg_norm += jtg[e] * jtg[e];
    }
    jtg_norm = std::sqrt(jtg_norm);
    ASSERT_GT(jtg_norm, 0.0);
    // Fourth-order central differences on a ladder of steps h = 1e-2 / 2^i; the estimate taken
    // is at the step where two neighbours agree best (truncation error falls with h, rounding
    // error grows: layers whose weights barely move X_L need a long step, LayerNorm's curvature
    // a short one).
    const auto f = [&](double step) { return perturbed_output(o, layer, v, step, g); };
    const auto difference = [&](double h) {
      return (8 * (f(h) - f(-h)) - (f(2 * h) - f(-2 * h))) / (12 * h);
    };
    std::vector<double> ladder;
    for (int i = 0; i <= 12; ++i) ladder.push_back(difference(1e-2 / std::ldexp(1.0, i)));
    std::size_t best = 1;
    for (std::size_t i = 1; i < ladder.size(); ++i) {
      if (std::abs(ladder[i] - ladder[i - 1]) < std::abs(ladder[best] - ladder[best - 1])) best = i;
    }
    const double fd = ladder[best];
    EXPECT_NEAR(vjp, fd, 1e-6 * jtg_norm * v_norm) << "layer " << layer;
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, PropagateVjp, ::testing::ValuesIn(vjp_cases()), vjp_name);

// The two reverse-mode stages alone against central differences of their forward maps on the
// CPU device: LayerNorm of rows (layer_norm_rows) and a row softmax (probabilities given as
// a + offset, as A_perp = A - 11^T/T holds them).
std::vector<double> lcg_values(std::size_t n, std::uint64_t seed) {
  std::vector<double> out(n);
  std::uint64_t state = seed;
  for (double& x : out) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    x = static_cast<double>(state >> 11) / 4503599627370496.0 - 1.0;
  }
  return out;
}

double host_dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t e = 0; e < a.size(); ++e) s += a[e] * b[e];
  return s;
}

class PropagateStages : public ::testing::Test {
 protected:
  std::unique_ptr<Device> m_device = cpu::make_cpu_device(1);
  Stages<double>& st = m_device->stages<double>();
};

TEST_F(PropagateStages, LayerNormBackwardMatchesCentralDifferences) {
  const std::int64_t rows = 5, cols = 9;
  const std::vector<double> z = lcg_values(rows * cols, 1), g = lcg_values(rows * cols, 2),
                            v = lcg_values(rows * cols, 3);
  const auto f = [&](double h) {
    std::vector<double> moved(z);
    for (std::size_t e = 0; e < z.size(); ++e) moved[e] += h * v[e];
    Matrix<double> m = st.upload(moved.data(), rows, cols);
    st.layer_norm_rows(m);
    return host_dot(g, st.download(m));
  };
  Matrix<double> zm = st.upload(z.data(), rows, cols), gm = st.upload(g.data(), rows, cols);
  st.layer_norm_backward_rows(zm, gm);
  const std::vector<double> dz = st.download(gm);
  const double h = 1e-6;
  EXPECT_NEAR(host_dot(dz, v), (f(h) - f(-h)) / (2 * h),
              1e-8 * std::sqrt(host_dot(dz, dz) * host_dot(v, v)));
  // A constant row maps to 0 and so does its cotangent.
  std::vector<double> flat(cols, 0.25), ones(cols, 1.0);
  Matrix<double> fm = st.upload(flat.data(), 1, cols), om = st.upload(ones.data(), 1, cols);
  st.layer_norm_backward_rows(fm, om);
  for (const double x : st.download(om)) EXPECT_EQ(x, 0.0);
}

TEST_F(PropagateStages, SoftmaxBackwardMatchesCentralDifferences) {
  const std::int64_t rows = 4, cols = 7;
  const std::vector<double> s = lcg_values(rows * cols, 4), g = lcg_values(rows * cols, 5),
                            v = lcg_values(rows * cols, 6);
  const auto softmax = [&](double h) {
    std::vector<double> p(s.size());
    for (std::int64_t i = 0; i < rows; ++i) {
      double top = -1e300, sum = 0;
      for (std::int64_t j = 0; j < cols; ++j) top = std::max(top, s[i * cols + j] + h * v[i * cols + j]);
      for (std::int64_t j = 0; j < cols; ++j) {
        p[i * cols + j] = std::exp(s[i * cols + j] + h * v[i * cols + j] - top);
        sum += p[i * cols + j];
      }
      for (std::int64_t j = 0; j < cols; ++j) p[i * cols + j] /= sum;
    }
    return p;
  };
  const double h = 1e-6;
  const double fd = (host_dot(g, softmax(h)) - host_dot(g, softmax(-h))) / (2 * h);
  for (const double offset : {0.0, 1.0 / cols}) {
    std::vector<double> a = softmax(0);
    for (double& x : a) x -= offset;  // the centred matrix, probabilities a + offset
    Matrix<double> am = st.upload(a.data(), rows, cols), gm = st.upload(g.data(), rows, cols);
    st.softmax_backward_rows(am, offset, gm);
    const std::vector<double> ds = st.download(gm);
    EXPECT_NEAR(host_dot(ds, v), fd, 1e-8 * std::sqrt(host_dot(ds, ds) * host_dot(v, v)))
        << "offset " << offset;
  }
}

// The logits' spread: at layer 1 against the logits built by hand, and with Xavier-normal
// weights and isometric X_0 of order beta / d (Q and K have i.i.d. N(0, 2/(d + dk)) entries, so
// a logit beta q.k / sqrt(dk) has variance beta^2 (2 / (d + dk))^2 = beta^2 / d^2).
TEST(PropagateLogits, StandardDeviationMatchesTheLogitsByHand) {
  PropagateOptions o = paper_case(32, Fix::kNone, 2, 5);
  o.source = AttentionSource::kAttention;
  o.init = WeightInit::kXavierNormal;
  o.beta = 2.0;
  const PropagateResult r = propagate(o);
  EXPECT_TRUE(std::isnan(r.layers.at(0).logit_std));
  const auto device = cpu::make_cpu_device(1);
  Stages<double>& st = device->stages<double>();
  const std::uint32_t idx = static_cast<std::uint32_t>(o.index * kMaxLayers + 1);
  Matrix<double> wq = st.allocate(o.d, o.d), wk = st.allocate(o.d, o.d);
  st.fill_gaussian(wq, Stream::kQueryWeights, o.query_key_sigma(), o.seed, idx);
  st.fill_gaussian(wk, Stream::kKeyWeights, o.query_key_sigma(), o.seed, idx);
  const std::vector<double> x = input_matrix(o);
  const std::vector<double> q = matmul(x, st.download(wq), o.T, o.d, o.d),
                            k = matmul(x, st.download(wk), o.T, o.d, o.d);
  double sum_var = 0;
  for (std::int64_t i = 0; i < o.T; ++i) {
    std::vector<double> row(static_cast<std::size_t>(o.T));
    double mean = 0;
    for (std::int64_t j = 0; j < o.T; ++j) {
      double dot = 0;
      for (std::int64_t e = 0; e < o.d; ++e) dot += q[i * o.d + e] * k[j * o.d + e];
      row[j] = o.beta * dot / std::sqrt(static_cast<double>(o.d));
      mean += row[j] / o.T;
    }
    for (const double s : row) sum_var += (s - mean) * (s - mean) / o.T;
  }
  const double by_hand = std::sqrt(sum_var / o.T);
  EXPECT_NEAR(r.layers.at(1).logit_std, by_hand, 1e-12 * by_hand);
  EXPECT_NEAR(r.layers.at(1).logit_std, o.beta / o.d, 0.15 * o.beta / o.d);
  // Markov layers have no logits.
  EXPECT_TRUE(std::isnan(propagate(paper_case(16, Fix::kNone, 1, 1)).layers.at(1).logit_std));
}

TEST(PropagateMetrics, IdenticalTokensHaveCosineOneAndRankOne) {
  const std::int64_t T = 5, d = 7;
  std::vector<double> x(T * d);
  for (std::int64_t i = 0; i < T; ++i) {
    for (std::int64_t j = 0; j < d; ++j) x[i * d + j] = 0.3 + j;
  }
  const LayerResult m = matrix_metrics(x.data(), T, d);
  EXPECT_NEAR(m.mean_cosine, 1.0, 1e-14);
  EXPECT_NEAR(m.stable_rank, 1.0, 1e-14);
  EXPECT_NEAR(m.stable_rank4, 1.0, 1e-14);
  EXPECT_NEAR(m.centered_ratio, 0.0, 1e-14);
}

// An isometric X has all singular values 1: both stable ranks are T, distinct tokens are
// orthogonal. T = 600 takes the Lanczos path (above 512), T = 64 the LAPACK one; gamma < 1 and
// the wide Gram side are both covered.
class PropagateIsometric : public ::testing::TestWithParam<std::pair<std::int64_t, std::int64_t>> {
};

TEST_P(PropagateIsometric, StableRankIsT) {
  PropagateOptions o;
  o.T = GetParam().first;
  o.d = GetParam().second;
  const std::vector<double> x = input_matrix(o);
  const LayerResult m = matrix_metrics(x.data(), o.T, o.d);
  EXPECT_NEAR(m.stable_rank, static_cast<double>(o.T), 1e-9 * o.T);
  EXPECT_NEAR(m.stable_rank4, static_cast<double>(o.T), 1e-9 * o.T);
  EXPECT_NEAR(m.mean_cosine, 0.0, 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Sizes, PropagateIsometric,
                         ::testing::Values(std::make_pair(64, 64), std::make_pair(64, 200),
                                           std::make_pair(600, 600)));

// LayerNorm sets every token to unit variance: ||X_l||_F^2 = T d exactly, whatever came before.
TEST(PropagateVariants, LayerNormFixesTheScale) {
  for (const Variant v : {Variant::kPlain, Variant::kSkip, Variant::kScaledSkip}) {
    for (const AttentionSource s : {AttentionSource::kMarkov, AttentionSource::kAttention}) {
      PropagateOptions o = paper_case(32, Fix::kNone, 3, 5);
      o.d = 48;
      o.variant = v;
      o.source = s;
      o.layernorm = true;
      const PropagateResult r = propagate(o);
      for (int l = 1; l <= o.L; ++l) {
        EXPECT_NEAR(r.layers[l].log_frob, 0.5 * std::log(32.0 * 48.0), 1e-12)
            << to_string(v) << ' ' << to_string(s) << " layer " << l;
        EXPECT_TRUE(std::isfinite(r.layers[l].stable_rank));
        EXPECT_GE(r.layers[l].stable_rank, 1.0 - 1e-12);
      }
    }
  }
}

// The trajectory and every metric are bitwise the same for any thread count: fixed-panel GEMMs,
// and the top eigenvalue of the Gram matrix (dsyevd up to 512, Lanczos above) on one OpenBLAS
// thread. Before, stable_rank and stable_rank4 differed in the last bits between 1 and 2 threads.
class PropagateThreads : public ::testing::TestWithParam<std::pair<std::int64_t, std::int64_t>> {};

TEST_P(PropagateThreads, EveryValueIsBitwiseIndependentOfTheThreadCount) {
  const auto [T, d] = GetParam();
  for (const AttentionSource source : {AttentionSource::kMarkov, AttentionSource::kAttention}) {
    PropagateOptions o = paper_case(T, Fix::kCenter, 3, 11);
    o.d = d;
    o.input = InputKind::kGaussian;
    o.source = source;
    o.variant = Variant::kSkip;
    cpu::set_threads(1);
    const PropagateResult one = propagate(o);
    cpu::set_threads(2);
    const PropagateResult two = propagate(o);
    EXPECT_EQ(one.x, two.x);
    ASSERT_EQ(one.layers.size(), two.layers.size());
    for (std::size_t l = 0; l < one.layers.size(); ++l) {
      const LayerResult &a = one.layers[l], &b = two.layers[l];
      for (const auto& [name, x, y] :
           {std::tuple{"log_frob", a.log_frob, b.log_frob},
            std::tuple{"stable_rank", a.stable_rank, b.stable_rank},
            std::tuple{"stable_rank4", a.stable_rank4, b.stable_rank4},
            std::tuple{"mean_cosine", a.mean_cosine, b.mean_cosine},
            std::tuple{"centered_ratio", a.centered_ratio, b.centered_ratio}}) {
        EXPECT_EQ(std::memcmp(&x, &y, sizeof x), 0)
            << name << " of layer " << l << ": " << fmt::format("{:.17g} vs {:.17g}", x, y);
      }
    }
  }
}

// Gram matrices of 64 (dsyevd) and 520 (Lanczos, above 512).
INSTANTIATE_TEST_SUITE_P(Sizes, PropagateThreads,
                         ::testing::Values(std::pair<std::int64_t, std::int64_t>{64, 128},
                                           std::pair<std::int64_t, std::int64_t>{520, 1040}));

// Without the fix input-dependent attention at gamma = 1 collapses the rank too.
TEST(PropagateVariants, AttentionCollapsesWithoutTheFix) {
  PropagateOptions o = paper_case(256, Fix::kNone, 1, 3);
  o.source = AttentionSource::kAttention;
  const double with_a = propagate(o).layers[1].stable_rank;
  o.fix = Fix::kCenter;
  const double with_perp = propagate(o).layers[1].stable_rank;
  EXPECT_LT(with_a, 5.0);
  EXPECT_GT(with_perp, 5 * with_a);
}

void expect_refused(const PropagateOptions& o, const std::string& flag) {
  try {
    propagate(o);
    ADD_FAILURE() << "accepted; expected a UsageError naming " << flag;
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(flag), std::string::npos) << e.what();
  }
}

TEST(PropagateOptionsCheck, BadOptionsNameTheFlag) {
  const PropagateOptions good = paper_case(16, Fix::kNone, 2, 1);
  PropagateOptions o = good;
  o.d = 8;  // isometric needs d >= T
  expect_refused(o, "--gamma");
  o = good, o.L = 0;
  expect_refused(o, "--L");
  o = good, o.T = 1;
  expect_refused(o, "--T");
  o = good, o.sigma_v = 0;
  expect_refused(o, "--sigma-v");
  o = good, o.sigma_v = std::nan("");
  expect_refused(o, "--sigma-v");
  o = good, o.gradient = true, o.variant = Variant::kSkip,
  o.grad.method = GradientMethod::kExact;
  expect_refused(o, "--gradient-method");
  o = good, o.gradient = true, o.layernorm = true, o.grad.method = GradientMethod::kExact;
  expect_refused(o, "--gradient-method");
  o = good, o.gradient = true, o.grad.wrt = GradientWrt::kQuery;
  expect_refused(o, "--gradient-wrt");
  o = good, o.gradient = true, o.grad.probes = 0;
  expect_refused(o, "--probes");
  o = good, o.gradient = true, o.grad.probes = 10, o.grad.probes_max = 9;
  expect_refused(o, "--probes-max");
  o = good, o.gradient = true, o.grad.probe_rse = 0;
  expect_refused(o, "--probe-rse");
  o = good, o.source = AttentionSource::kAttention, o.beta = -1;
  expect_refused(o, "--beta");
  o = good, o.index = 0xffffffffu;
  expect_refused(o, "--index");
  EXPECT_THROW(parse_variant("residual"), UsageError);
  EXPECT_THROW(parse_source("random"), UsageError);
  EXPECT_EQ(parse_variant(to_string(Variant::kScaledSkip)), Variant::kScaledSkip);
}

// A plan survives meta.json; a plan written before gapbench.propagate/4 (no init, gradient_wrt,
// gradient_method or probe fields) reads as what those runs did (N(0, 1) W_Q and W_K, the closed
// form), and `xavier` as fan-in.
TEST(PropagatePlanJson, RoundTripsAndReadsOlderPlans) {
  PropagatePlan p;
  p.sources = {AttentionSource::kAttention};
  p.init = WeightInit::kXavierNormal;
  p.gradient = true;
  p.grad.wrt = GradientWrt::kKey;
  p.grad.method = GradientMethod::kProbes;
  p.grad.probes = 5;
  p.grad.probes_max = 50;
  p.grad.probe_rse = 0.2;
  EXPECT_EQ(plan_to_json(plan_from_json(plan_to_json(p))), plan_to_json(p));
  nlohmann::json old = plan_to_json(p);
  for (const char* key :
       {"init", "gradient_wrt", "gradient_method", "probes", "probes_max", "probe_rse"}) {
    old.erase(key);
  }
  const PropagatePlan read = plan_from_json(old);
  EXPECT_EQ(read.init, WeightInit::kNormal);
  EXPECT_EQ(read.grad.wrt, GradientWrt::kValue);
  EXPECT_EQ(read.grad.method, GradientMethod::kAuto);
  EXPECT_EQ(read.grad.probes, PropagatePlan{}.grad.probes);
  old["init"] = "xavier";
  EXPECT_EQ(plan_from_json(old).init, WeightInit::kFanIn);
  old["gradient_wrt"] = "bias";
  EXPECT_THROW(plan_from_json(old), UsageError);
}

// ---- the CLI, run as a user would ----------------------------------------------------------

namespace fs = std::filesystem;

using test::CliResult;

// Runs `gapbench ARGS` (split at spaces) in DIR/cwd, capturing its output into DIR.
CliResult run_cli(const std::string& args, const fs::path& dir) {
  fs::create_directories(dir / "cwd");
  return test::run_command(dir / "cwd", dir, GAPBENCH_EXE, split(args, ' '));
}

class PropagateCli : public ::testing::Test {
 protected:
  test::TempDir m_tmp{"gapbench_propagate"};
  const fs::path m_root = m_tmp.path();
};

TEST_F(PropagateCli, WritesOneRowPerLayerThatMatchesTheLibrary) {
  const CliResult r = run_cli(
      "propagate --T 40 --gamma 0.5 --L 3 --fix center --gradient --seed 4 --index 2 --out res",
      m_root);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("srank"), std::string::npos) << r.out;
  std::ifstream rows(m_root / "cwd/res/rows.csv");
  std::string header, line;
  ASSERT_TRUE(std::getline(rows, header));
  std::vector<std::string> lines;
  while (std::getline(rows, line)) lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_TRUE(fs::exists(m_root / "cwd/res/meta.json"));

  PropagateOptions o = paper_case(40, Fix::kCenter, 3, 4);
  o.d = 80;
  o.index = 2;
  o.gradient = true;
  std::string expected;
  for (const std::string& c : row_columns()) expected += (expected.empty() ? "" : ",") + c;
  expected += "\n" + format_rows(0, o, propagate(o));
  // Every column but the two timings is reproduced exactly by the library.
  const auto strip_times = [](const std::string& text) {
    std::string out;
    std::istringstream in(text);
    std::string row;
    while (std::getline(in, row)) {
      for (int k = 0; k < 2; ++k) row = row.substr(0, row.rfind(','));
      out += row + "\n";
    }
    return out;
  };
  std::string written = header + "\n";
  for (const auto& l : lines) written += l + "\n";
  EXPECT_EQ(strip_times(written), strip_times(expected));

  EXPECT_EQ(header.rfind("point,run,T,d,gamma,", 0), 0u) << header;
  // c of the markov law (exponential: 1) travels with the rows, for the plots' theory lines.
  const std::vector<std::string> names = split(header, ',');
  const auto c_column = std::find(names.begin(), names.end(), "c") - names.begin();
  ASSERT_LT(static_cast<std::size_t>(c_column), names.size()) << header;
  EXPECT_EQ(split(lines[0], ',').at(static_cast<std::size_t>(c_column)), "1");
  // A second run into the same directory is refused without --force.
  const CliResult again = run_cli("propagate --T 40 --L 1 --out res", m_root);
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("--out"), std::string::npos) << again.err;
}

struct BadCli {
  const char* args;
  const char* flag;
};

class PropagateCliBad : public PropagateCli, public ::testing::WithParamInterface<BadCli> {};

TEST_P(PropagateCliBad, ExitsTwoWithOneLineNamingTheFlag) {
  const CliResult r = run_cli(std::string("propagate ") + GetParam().args, m_root);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(GetParam().flag), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(m_root / "cwd/res"));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PropagateCliBad,
    ::testing::Values(BadCli{"--T 64 --gamma 2 --out res", "--gamma"},
                      BadCli{"--gamma 1e-9 --input gaussian --out res", "--gamma"},
                      BadCli{"--T 256,512 --gamma 1,1e-7 --out res", "--gamma"},
                      BadCli{"--d 300000000 --input gaussian --out res", "--d"},
                      BadCli{"--T 64 --gamma 1 --d 64", "--gamma"},
                      BadCli{"--variant residual", "--variant"},
                      BadCli{"--shard 3/2 --out res", "--shard"},
                      BadCli{"--shard 0/0 --out res", "--shard"},
                      BadCli{"--shard a/b --out res", "--shard"},
                      BadCli{"--shard 1/2", "--shard"},
                      BadCli{"--attention random", "--attention"}, BadCli{"--L 0 --out res", "--L"},
                      BadCli{"--L three", "--L"},
                      BadCli{"--variant skip --gradient --gradient-method exact",
                             "--gradient-method"},
                      BadCli{"--gradient --gradient-method adjoint", "--gradient-method"},
                      BadCli{"--gradient --gradient-wrt bias", "--gradient-wrt"},
                      BadCli{"--gradient --probes 0 --out res", "--probes"},
                      BadCli{"--gradient --probes 10 --probes-max 5 --out res", "--probes-max"},
                      BadCli{"--gradient --probe-rse 0 --out res", "--probe-rse"},
                      BadCli{"--probes 8 --out res", "--probes"},
                      BadCli{"--attention attention --init xavier --out res",
                             "--init: 'xavier' is ambiguous: give fan-in"},
                      BadCli{"--attention attention --init glorot --out res", "--init"},
                      BadCli{"--init fan-in --out res", "--init"},
                      BadCli{"--sigma-v -1", "--sigma-v"}, BadCli{"--fix half", "--fix"},
                      BadCli{"--threads -3", "--threads"}, BadCli{"--T 16,abc --out res", "--T"},
                      BadCli{"--T 16:8:x0 --out res", "--T"},
                      BadCli{"--gamma 1,0 --out res", "--gamma"},
                      BadCli{"--d 16,x --out res", "--d"}, BadCli{"--L 2,0 --out res", "--L"},
                      BadCli{"--variant plain,residual --out res", "--variant"},
                      BadCli{"--attention markov, --out res", "--attention"},
                      BadCli{"--fix none,half --out res", "--fix"},
                      BadCli{"--input isometric,round --out res", "--input"},
                      BadCli{"--T 16,64 --gamma 1,2 --out res", "--gamma"},
                      BadCli{"--T 16,64 --d 32 --out res", "--gamma"},
                      BadCli{"--variant plain,skip --gradient --gradient-method exact --out res",
                             "--gradient-method"},
                      BadCli{"--attention markov,attention --gradient --gradient-wrt key --out res",
                             "--gradient-wrt"},
                      BadCli{"--seeds 0 --out res", "--seeds"},
                      BadCli{"--index 4294967295 --seeds 2 --out res", "--seeds"},
                      BadCli{"--resume res", "--resume"}, BadCli{"--force", "--force"}));

// ---- sweeps -----------------------------------------------------------------------------------

constexpr const char* kSmallSweep =
    "propagate --T 16,32 --gamma 1 --L 2 --variant plain,skip --seeds 2 --threads 1";

// rows.csv as lines, the last two (timing) columns removed.
std::vector<std::string> rows_without_times(const fs::path& path) {
  std::istringstream in(read_file(path));
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    for (int k = 0; k < 2; ++k) line = line.substr(0, line.rfind(','));
    out.push_back(line);
  }
  return out;
}

TEST_F(PropagateCli, SweepWritesEveryLayerOfEveryNetwork) {
  const CliResult r = run_cli(std::string(kSmallSweep) + " --out res", m_root);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path dir = m_root / "cwd/res";
  std::istringstream in(read_file(dir / "rows.csv"));
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  const std::vector<std::string> header = split(line, ',');
  EXPECT_EQ(header, row_columns());
  const auto column = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  std::set<std::tuple<int, int, int>> keys;
  int rows = 0;
  while (std::getline(in, line)) {
    const std::vector<std::string> f = split(line, ',');
    ASSERT_EQ(f.size(), header.size()) << line;
    const int point = std::stoi(f[column("point")]), run = std::stoi(f[column("run")]);
    keys.insert({point, run, std::stoi(f[column("layer")])});
    EXPECT_EQ(f[column("run")], f[column("index")]);
    // T outermost, then the variant: points 0, 1 are T = 16 plain, skip.
    EXPECT_EQ(f[column("T")], point < 2 ? "16" : "32") << line;
    EXPECT_EQ(f[column("variant")], point % 2 == 0 ? "plain" : "skip") << line;
    EXPECT_EQ(f[column("L")], "2");
    ++rows;
  }
  EXPECT_EQ(rows, 2 * 2 * 2 * 3);
  EXPECT_EQ(keys.size(), 24u);
  EXPECT_EQ(std::get<0>(*keys.rbegin()), 3);
  EXPECT_EQ(std::get<1>(*keys.rbegin()), 1);

  const nlohmann::json meta = nlohmann::json::parse(read_file(dir / "meta.json"));
  EXPECT_EQ(meta.at("schema"), kPropagateSchema);
  EXPECT_EQ(meta.at("status"), "complete");
  EXPECT_EQ(meta.at("networks"), 8);
  EXPECT_EQ(meta.at("plan").at("T"), nlohmann::json({16, 32}));
  EXPECT_EQ(meta.at("plan").at("variant"), nlohmann::json({"plain", "skip"}));
  EXPECT_EQ(meta.at("plan").at("seeds"), 2);
}

TEST_F(PropagateCli, ResumedSweepEqualsAnUninterruptedOne) {
  ASSERT_EQ(run_cli(std::string(kSmallSweep) + " --out full", m_root).exit_code, 0);
  const fs::path full = m_root / "cwd/full", part = m_root / "cwd/part";
  fs::copy(full, part);
  // Interrupted mid-write of the second network: the header, the first network's 3 rows and
  // half a line.
  const std::string text = read_file(full / "rows.csv");
  std::size_t end = 0;
  for (int n = 0; n < 4; ++n) end = text.find('\n', end) + 1;
  const std::size_t next = text.find('\n', end);
  test::write_text(part / "rows.csv", text.substr(0, end + (next - end) / 2));

  // Another plan is refused, and touches nothing.
  const std::string before = read_file(part / "rows.csv");
  const CliResult other = run_cli(
      "propagate --T 16,32 --gamma 1 --L 2 --variant plain,scaled-skip --seeds 2 --resume part",
      m_root);
  EXPECT_EQ(other.exit_code, 2) << other.err;
  EXPECT_NE(other.err.find("--resume"), std::string::npos) << other.err;
  EXPECT_NE(other.err.find("variant"), std::string::npos) << other.err;
  EXPECT_EQ(std::count(other.err.begin(), other.err.end(), '\n'), 1) << other.err;
  EXPECT_EQ(read_file(part / "rows.csv"), before);
  const CliResult more = run_cli(std::string(kSmallSweep) + " --seeds 3 --resume part", m_root);
  EXPECT_EQ(more.exit_code, 2) << more.err;

  const CliResult r = run_cli(std::string(kSmallSweep) + " --resume part", m_root);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Only the 7 missing networks were computed.
  std::size_t printed = 0;
  for (std::size_t at = r.out.find("propagate point="); at != std::string::npos;
       at = r.out.find("propagate point=", at + 1)) {
    ++printed;
  }
  EXPECT_EQ(printed, 7u) << r.out;
  EXPECT_EQ(rows_without_times(part / "rows.csv"), rows_without_times(full / "rows.csv"));
  const nlohmann::json meta = nlohmann::json::parse(read_file(part / "meta.json"));
  EXPECT_EQ(meta.at("status"), "complete");
  EXPECT_EQ(meta.at("resumes").size(), 1u);

  // Resuming a finished sweep computes nothing and changes no row.
  const std::string done = read_file(part / "rows.csv");
  const CliResult again = run_cli(std::string(kSmallSweep) + " --resume part", m_root);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out.find("propagate point="), std::string::npos) << again.out;
  EXPECT_EQ(read_file(part / "rows.csv"), done);
}

// The shards of a propagate sweep (OUT/shard-IIII-of-NNNN) hold together exactly the unsharded
// sweep's rows, bitwise (propagate is bitwise independent of the thread count), each network
// whole in one shard; a shard resumes alone.
TEST_F(PropagateCli, ShardsTogetherEqualTheUnshardedSweep) {
  ASSERT_EQ(run_cli(std::string(kSmallSweep) + " --out full", m_root).exit_code, 0);
  auto together = rows_without_times(m_root / "cwd/full/rows.csv");
  together.clear();
  for (int i = 0; i < 3; ++i) {
    const CliResult r =
        run_cli(std::string(kSmallSweep) + fmt::format(" --shard {}/3 --out sharded", i), m_root);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err.rfind(fmt::format("shard {} of 3 (--shard {}/3): ", i, i), 0), 0u) << r.err;
    const fs::path dir = m_root / "cwd/sharded" / fmt::format("shard-{:04d}-of-0003", i);
    const auto rows = rows_without_times(dir / "rows.csv");
    together.insert(together.end(), rows.begin() + 1, rows.end());  // without the header
    const nlohmann::json meta = nlohmann::json::parse(read_file(dir / "meta.json"));
    EXPECT_EQ(meta.at("shard").at("index"), i);
    EXPECT_EQ(meta.at("status"), "complete");
    // A resume of a complete shard computes nothing.
    const CliResult again = run_cli("propagate --resume " + dir.string(), m_root);
    EXPECT_EQ(again.exit_code, 2) << "propagate resumes with its flags only: " << again.err;
    const CliResult same = run_cli(std::string(kSmallSweep) + " --resume " + dir.string(), m_root);
    ASSERT_EQ(same.exit_code, 0) << same.err;
    EXPECT_EQ(same.out.find("propagate point="), std::string::npos) << same.out;
  }
  auto full = rows_without_times(m_root / "cwd/full/rows.csv");
  full.erase(full.begin());
  std::sort(full.begin(), full.end());
  std::sort(together.begin(), together.end());
  EXPECT_EQ(together, full);
}

// A resume checks every row against its network: a NaN as text, an edited T, a layer out of
// order and a run below --index each move the network's rows to rows.rejected.csv (reason
// first), stderr counts them by reason, and the networks are computed again.
TEST_F(PropagateCli, ResumeRejectsBadRowsAndComputesThemAgain) {
  ASSERT_EQ(run_cli(std::string(kSmallSweep) + " --out full", m_root).exit_code, 0);
  const fs::path full = m_root / "cwd/full", part = m_root / "cwd/part";
  fs::copy(full, part);
  std::vector<std::string> lines = split_lines(read_file(full / "rows.csv"));
  const std::vector<std::string> header = split(lines[0], ',');
  const auto set = [&](std::size_t line, const std::string& column, const std::string& text) {
    std::vector<std::string> f = split(lines.at(line), ',');
    f.at(static_cast<std::size_t>(std::find(header.begin(), header.end(), column) -
                                  header.begin())) = text;
    lines[line] = csv_line(f).substr(0, csv_line(f).size() - 1);
  };
  set(2, "stable_rank", "nan");  // network 1 (rows 1-3), layer 1
  set(4, "T", "17");             // network 2, layer 0
  set(8, "layer", "2");          // network 3, layer 2 given where layer 1 goes
  std::string text;
  for (const std::string& l : lines) text += l + '\n';
  test::write_text(part / "rows.csv", text);
  const CliResult r = run_cli(std::string(kSmallSweep) + " --resume part", m_root);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("rejected"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nonfinite"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("9 of 24 rows"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("2 plan (column"), std::string::npos) << r.err;
  // The networks computed again are appended: the same rows, in another order.
  std::vector<std::string> resumed = rows_without_times(part / "rows.csv"),
                           uninterrupted = rows_without_times(full / "rows.csv");
  std::sort(resumed.begin(), resumed.end());
  std::sort(uninterrupted.begin(), uninterrupted.end());
  EXPECT_EQ(resumed, uninterrupted);
  // Every row of the three spoiled networks, each with its reason.
  const std::vector<std::string> rejected = split_lines(read_file(part / "rows.rejected.csv"));
  ASSERT_EQ(rejected.size(), 10u) << read_file(part / "rows.rejected.csv") << r.err;
  EXPECT_EQ(rejected[0], "reason," + lines[0]);
  const std::string all = read_file(part / "rows.rejected.csv");
  for (const char* reason :
       {"\nnonfinite: column stable_rank holds 'nan',", "\nincomplete: the key's rows are not all",
        "\nplan: column layer is '2'; the point's '1',",
        "\nplan: column T is '17'; the point's '16',"}) {
    EXPECT_NE(all.find(reason), std::string::npos) << reason << " in " << all;
  }
}

// SIGINT stops between networks: exit 130, whole networks kept, status "interrupted".
TEST_F(PropagateCli, InterruptKeepsFinishedNetworks) {
  fs::create_directories(m_root / "cwd");
  const fs::path rows = m_root / "cwd/res/rows.csv";
  const std::vector<std::string> args = split(
      "propagate --T 96 --gamma 1 --L 2 --attention attention --seeds 400 --threads 1 --out res",
      ' ');
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::chdir((m_root / "cwd").c_str()) != 0) ::_exit(99);
    std::vector<char*> argv = {const_cast<char*>(GAPBENCH_EXE)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (!std::freopen("/dev/null", "w", stdout) ||
        !std::freopen((m_root / "stderr.txt").c_str(), "w", stderr)) {
      ::_exit(97);
    }
    ::execv(GAPBENCH_EXE, argv.data());
    ::_exit(98);
  }
  // Wait for a finished network (header + 3 rows), then interrupt.
  for (int waited = 0; waited < 60000; ++waited) {
    const std::string text = fs::exists(rows) ? read_file(rows) : std::string();
    if (std::count(text.begin(), text.end(), '\n') >= 4) break;
    ::usleep(1000);
  }
  ::kill(pid, SIGINT);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_NE(read_file(m_root / "stderr.txt").find("--resume res"), std::string::npos);
  const std::vector<std::string> lines = rows_without_times(rows);
  EXPECT_EQ((lines.size() - 1) % 3, 0u) << lines.size();
  EXPECT_GE(lines.size(), 4u);
  EXPECT_LT(lines.size(), 1u + 400 * 3);
  const nlohmann::json meta = nlohmann::json::parse(read_file(rows.parent_path() / "meta.json"));
  EXPECT_EQ(meta.at("status"), "interrupted");
  EXPECT_EQ(meta.at("networks").get<std::size_t>(), (lines.size() - 1) / 3);
}

}  // namespace
}  // namespace gapbench::propagate
