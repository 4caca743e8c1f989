// Signal propagation through an attention-only network (PAPER.md, "Signal propagation"), in
// float64 on any device: the network's steps are written once over the device's stages
// (device.hpp: generation, GEMM, LayerNorm, norms), cuBLAS on a GPU, OpenBLAS on the CPU.
//
// X_0 (T x d, row-major; row i is token i) is isometric (X_0 X_0^T = I_T, needs d >= T) or
// gaussian (entries N(0, 1/d)). Layer l = 1..L:
//   plain        X_l = A_l X_{l-1} W_l
//   skip         X_l = X_{l-1} + A_l X_{l-1} W_l
//   scaled-skip  X_l = X_{l-1} + A_l X_{l-1} W_l / sqrt(d)
// then, with LayerNorm, each token's features are set to zero mean and unit variance (no affine).
// W_l (d x d) has entries N(0, sigma_v^2). A_l is a fresh random Markov matrix (`markov`, the
// device's generation stage) or the input-dependent A(X_{l-1}) = softmax_row(beta (X W_Q)(X W_K)^T /
// sqrt(dk)) with W_Q, W_K (d x dk) entries N(0, 1) (`attention`); either with the fix.
//
// Random numbers: every draw of run `index` and layer l uses matrix index
// index * kMaxLayers + l (layer 0: X_0 from stream kInputs; layer l: A_l from kMarkovEntries,
// W_Q, W_K, W_l from kQueryWeights, kKeyWeights, kValueWeights), so a run depends only on
// (options, seed, index) and the device: on the CPU every value is bitwise the same on any thread
// count (fixed-panel GEMMs; the Gram matrix's top eigenvalue on one OpenBLAS thread), on a GPU
// the same to rounding.
//
// X is kept divided by its Frobenius norm, with the log of that norm carried alongside, so
// nothing overflows (with A the norm grows about d-fold per layer); every metric is
// scale-invariant, and the attention logits use the true scale.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gapbench/backend.hpp"
#include "gapbench/device.hpp"
#include "gapbench/model.hpp"
#include "gapbench/sweep/results.hpp"
#include "gapbench/sweep/shard_id.hpp"

namespace gapbench::propagate {

enum class Variant { kPlain, kSkip, kScaledSkip };
enum class AttentionSource { kMarkov, kAttention };
// The weights whose gradient --gradient measures: W_V (value, the paper's), W_Q or W_K of A(X).
enum class GradientWrt { kValue, kQuery, kKey };
// How: the closed form ||R||_F^2 ||P||_F^2 (linear model, W_V only), Gaussian probes through the
// reverse-mode pass (any network), or auto (exact where the closed form holds, else probes).
enum class GradientMethod { kAuto, kExact, kProbes };

std::string to_string(Variant v);
std::string to_string(AttentionSource v);
std::string to_string(GradientWrt v);
std::string to_string(GradientMethod v);
Variant parse_variant(const std::string& s, const std::string& flag = "--variant");
AttentionSource parse_source(const std::string& s, const std::string& flag = "--attention");
GradientWrt parse_gradient_wrt(const std::string& s, const std::string& flag = "--gradient-wrt");
GradientMethod parse_gradient_method(const std::string& s,
                                     const std::string& flag = "--gradient-method");

// Layers per run in the matrix-index layout (index * kMaxLayers + layer); L < kMaxLayers.
inline constexpr std::int64_t kMaxLayers = 4096;

// What --gradient measures and how: the weights, the method, and for probes at least `probes`,
// then until every layer's relative standard error is at most `probe_rse`, at most `probes_max`.
struct GradientOptions {
  GradientWrt wrt = GradientWrt::kValue;
  GradientMethod method = GradientMethod::kAuto;
  int probes = 16;
  int probes_max = 1000;
  double probe_rse = 0.05;
};

// The largest T and d: a row or column number must fit the RNG counter's 32-bit words, and the
// sizes (d x d weights, T x T attention, network_bytes) 64-bit integers with room to spare;
// 2^28 is far past any memory (a d x d matrix of it is 2^59 bytes), so check_fits decides below.
// With d = round(T / gamma), gamma must be at least T / 2^28.
inline constexpr std::int64_t kMaxWidth = std::int64_t{1} << 28;

struct PropagateOptions {
  std::int64_t T = 256;
  std::int64_t d = 256;
  int L = 3;
  InputKind input = InputKind::kIsometric;
  Variant variant = Variant::kPlain;
  bool layernorm = false;
  AttentionSource source = AttentionSource::kMarkov;
  Fix fix = Fix::kNone;
  EntryLaw law = EntryLaw::kExponential;  // markov entries
  double beta = 1.0;                      // markov lognormal and attention logits
  std::int64_t dk = 0;                    // attention: key dimension; 0 means d
  double sigma_v = 1.0;                   // W_V entries N(0, sigma_v^2)
  WeightInit init = WeightInit::kNormal;  // attention: W_Q, W_K entries (model.hpp)
  std::uint64_t seed = 0;
  std::uint32_t index = 0;  // the run: matrices index * kMaxLayers + layer
  // ln ||dX_L/dW_l||_F^2 per layer l, W_l the layer's `gradient_wrt` weights.
  bool gradient = false;
  GradientOptions grad;

  std::int64_t key_dim() const { return dk > 0 ? dk : d; }
  // True for plain, no LayerNorm, markov: X_L is linear in each W_l.
  bool linear() const {
    return variant == Variant::kPlain && !layernorm && source == AttentionSource::kMarkov;
  }
  // True when --gradient uses the closed form (linear model, W_V, method auto or exact).
  bool exact_gradient() const {
    return gradient && linear() && grad.wrt == GradientWrt::kValue &&
           grad.method != GradientMethod::kProbes;
  }
  // The standard deviation of W_Q's and W_K's entries.
  double query_key_sigma() const { return init_sigma(init, d, key_dim()); }
};

// The largest --probes-max.
inline constexpr int kMaxProbes = 1000000;

// Throws UsageError naming the flag for: T < 2 or > kMaxWidth, d < 1 or > kMaxWidth, L < 1 or >=
// kMaxLayers, isometric input with d < T (--gamma/--d), sigma_v <= 0 or not finite, beta out of
// range, dk < 0, --gradient-method exact on a nonlinear model or for W_Q/W_K, --gradient-wrt
// query/key on markov layers, probe counts out of range, and index * kMaxLayers + L beyond
// 2^32 - 1.
// Memory is checked against a device by check_fits.
void validate(const PropagateOptions& o);

// Per-layer results, layer 0 being X_0. Every value is of the true (unrescaled) X_l.
struct LayerResult {
  int layer = 0;
  double log_frob = 0;        // ln ||X_l||_F
  double stable_rank = 0;     // ||X||_F^2 / ||X||_2^2
  double stable_rank4 = 0;    // sum_i s_i^4 / s_1^4 (the authors' definition)
  double mean_cosine = 0;     // mean cos(x_i, x_j) over i != j
  double centered_ratio = 0;  // ||X - 1 mean^T||_F / ||X||_F (mean token over rows)
  // A(X) layers: the logits' standard deviation within a row, root-mean-square over the rows
  // (sqrt(mean_i var_j S_ij), S the true logits); NaN for layer 0 and markov layers.
  double logit_std = 0;
  double log_grad_sq = 0;     // ln ||dX_L/dW_l||_F^2; NaN for layer 0 or without gradient
  // Probes: the standard error of log_grad_sq (the mean's relative standard error, by the delta
  // method) and the probes used; 0 and 0 for the closed form, NaN and 0 without gradient.
  double log_grad_se = 0;
  int grad_probes = 0;
  double layer_seconds = 0;   // generation of A_l, W_l and the layer's products
  double metric_seconds = 0;
};

struct PropagateResult {
  std::vector<LayerResult> layers;  // L + 1 entries
  std::vector<double> x;            // X_L / ||X_L||_F, row-major T x d
};

// The network of `o` on `device` (its float64 stages); without a device, on the CPU at the
// thread count set. Refuses (UsageError naming --T) a network that does not fit the device.
PropagateResult propagate(Device& device, const PropagateOptions& o);
PropagateResult propagate(const PropagateOptions& o);

// Bytes of the device's memory one network of `o` holds at once; check_fits refuses (UsageError
// naming --T) a network past the device's memory budget.
std::int64_t network_bytes(const PropagateOptions& o);
void check_fits(Device& device, const PropagateOptions& o);

// The building blocks, regenerated alone (row-major): X_0 (T x d), A_l (T x T, markov only),
// W_l (d x d). Used by the gradient pass and by tests that rebuild the network by hand.
std::vector<double> input_matrix(const PropagateOptions& o);
std::vector<double> markov_matrix(const PropagateOptions& o, int layer);
std::vector<double> value_weights(const PropagateOptions& o, int layer);

// The metrics of a row-major T x d matrix (any scale); log_frob, log_grad_sq and timings unset.
LayerResult matrix_metrics(const double* x, std::int64_t T, std::int64_t d);

// ---- one layer's passes, for the benchmark harness --------------------------------------------
// Layer 1 of the network of `o` (L ignored) on `device`: forward() runs its forward pass (its
// A_l or A(X) generated, the products, skip, LayerNorm and rescaling, kept for the backward
// pass, without the per-layer metrics); backward() runs one probe's reverse-mode pass through it
// (the cotangents of W and of the layer's input). Needs --gradient's probe path options.
class LayerPasses {
 public:
  LayerPasses(Device& device, const PropagateOptions& o);
  ~LayerPasses();
  LayerPasses(const LayerPasses&) = delete;
  LayerPasses& operator=(const LayerPasses&) = delete;
  void forward();
  void backward();

 private:
  struct State;
  std::unique_ptr<State> m_state;
};

// ---- the reverse-mode pass, for tests --------------------------------------------------------
// J^T g for J = dX_L/dW (W the `gradient_wrt` weights of `layer`, true scale) and the T x d
// cotangent g, by one backward pass on the CPU: row-major d x d (value) or d x dk.
std::vector<double> weight_cotangent(const PropagateOptions& o, int layer,
                                     const std::vector<double>& g);
// <g, X_L> (true scale) of the network whose `gradient_wrt` weights of `layer` are W + h v.
double perturbed_output(const PropagateOptions& o, int layer, const std::vector<double>& v,
                        double h, const std::vector<double>& g);

// ---- sweeps ----------------------------------------------------------------------------------
//
// A plan: lists of T, gamma (or d), L, input, variant, attention source and fix; the points are
// their cartesian product in that order (T outermost), each run for indices first_index ..
// first_index + seeds - 1. Results in one directory (like `gapbench sweep`):
//   rows.csv   row_columns(): `point` and `run` (the run's index), then every option needed to
//              regenerate the network and the per-layer metrics; the L + 1 rows of one network
//              are appended in one write(2) when it finishes, so an interrupted sweep keeps every
//              finished network
//   meta.json  kPropagateSchema, the RNG layout, the plan, command, build, host, times, status;
//              written before any row
// A resumed sweep (same plan) drops incomplete networks and computes only the missing ones.
// 3: rows.csv gained `c` (sigma/mu of the markov entries; empty for input-dependent attention).
// 4: rows.csv gained `init` (W_Q, W_K of A(X); before 4 always normal), `gradient` (off, exact or
// probes) and `gradient_wrt` (after `dk`), `logit_std` (after centered_ratio), `log_grad_se` and
// `grad_probes` (after log_grad_sq); the plan gained init, gradient_wrt, gradient_method, probes,
// probes_max and probe_rse (absent in older plans: normal, value, auto).
inline constexpr const char* kPropagateSchema = "gapbench.propagate/4";

struct PropagatePlan {
  std::vector<std::int64_t> Ts{256};
  std::vector<double> gammas{1.0};  // d = round(T / gamma); unused when ds is set
  std::vector<std::int64_t> ds{};   // widths instead of gammas
  std::vector<std::int64_t> Ls{3};
  std::vector<InputKind> inputs{InputKind::kIsometric};
  std::vector<Variant> variants{Variant::kPlain};
  std::vector<AttentionSource> sources{AttentionSource::kMarkov};
  std::vector<Fix> fixes{Fix::kNone};
  bool layernorm = false;
  EntryLaw law = EntryLaw::kExponential;
  double beta = 1.0;
  std::int64_t dk = 0;
  double sigma_v = 1.0;
  std::uint64_t seed = 0;
  std::int64_t first_index = 0;  // --index
  std::int64_t seeds = 1;        // --seeds: runs first_index .. first_index + seeds - 1
  WeightInit init = WeightInit::kNormal;
  bool gradient = false;
  GradientOptions grad;
};

// One point of the plan: its ordinal (the `point` column) and options (index: first_index).
struct PlannedNetwork {
  int point = 0;
  PropagateOptions options;
};

// Every point, each validated for every run index before anything runs (UsageError naming the
// flag: --T, --gamma, --d, --L, --seeds, --index, --gradient, ...).
std::vector<PlannedNetwork> expand_plan(const PropagatePlan& plan);
nlohmann::json plan_to_json(const PropagatePlan& plan);
// The plan plan_to_json wrote (meta.json's "plan"). Throws UsageError naming `flag` on a plan
// that is malformed or of another layer layout (max_layers).
PropagatePlan plan_from_json(const nlohmann::json& j, const std::string& flag = "--resume");

// The rows.csv header, and the rows (no header) of one network of point `point`.
std::vector<std::string> row_columns();
std::string format_rows(int point, const PropagateOptions& o, const PropagateResult& r);
// The rows.csv of `plan`: L + 1 rows per (point, run), runs first_index .. first_index + seeds
// - 1, each checked against what its point writes (what a resume and `gapbench merge` check rows
// with). The layout refers to `points` (expand_plan(plan)), which must outlive it.
RowsLayout rows_layout(const PropagatePlan& plan, const std::vector<PlannedNetwork>& points);

struct PropagateRequest {
  PropagatePlan plan;
  std::optional<std::filesystem::path> out;     // no rows written without it (or resume)
  std::optional<std::filesystem::path> resume;  // continue the sweep in this directory
  bool force = false;
  BackendChoice backend = BackendChoice::kAuto;
  int threads = 0;
  // --shard: compute only this shard's networks (sweep/shard.hpp), into OUT/shard-IIII-of-NNNN;
  // on --resume, none takes the directory's own shard.
  std::optional<Shard> shard;
  std::string command_line;
};

// Runs the sweep: per network a table of its layers on `out`, rows appended as networks finish.
// Refuses a bad request (UsageError) before touching any file; on --resume, refuses a directory
// of another schema, RNG layout or plan. SIGINT/SIGTERM stop between networks: returns 130
// (finished networks kept), else 0.
int run_sweep(const PropagateRequest& request, std::ostream& out);

}  // namespace gapbench::propagate
