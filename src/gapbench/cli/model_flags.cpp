#include "gapbench/cli/model_flags.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <utility>

#include "gapbench/backend.hpp"
#include "gapbench/cpu/cpu_device.hpp"
#include "gapbench/error.hpp"
#include "gapbench/sweep/range.hpp"

namespace gapbench::cli {
namespace {

const char* const kPlanFlagNames[] = {
    "--model",      "--T",           "--law",       "--beta",   "--d",
    "--dk",         "--input",       "--init",      "--causal", "--fix",      "--spectrum",
    "--solver",     "--k",           "--precision", "--seed",   "--seeds",
    "--tol",        "--max-iter",    "--block",     "--basis",  "--all-values",
    "--oversample", "--power-iters", "--operator",  "--logits", "--reference"};

template <typename Enum, typename Parse>
std::vector<Enum> parse_enum_list(const std::string& text, const std::string& flag, Parse parse) {
  std::vector<Enum> out;
  for (const auto& name : parse_name_list(text, flag)) out.push_back(parse(name, flag));
  return out;
}

// The seed as the full unsigned 64-bit key: refuses signs, fractions and overflow rather than
// clamping them.
std::uint64_t parse_seed(const std::string& text) {
  std::uint64_t seed = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, seed);
  if (text.empty() || ec != std::errc() || ptr != end) {
    throw UsageError(fmt::format("--seed: '{}' is not an integer from 0 to 2^64 - 1", text));
  }
  return seed;
}

// The most points a plan may have: each axis holds up to kMaxAxisPoints values, and their product
// is refused past this before the points are listed (a million points is weeks of work already).
constexpr double kMaxPlanPoints = 1000000;

// Refuses a plan whose axes (flag, number of values) multiply past kMaxPlanPoints, naming the
// flag with the most values.
void check_plan_size(std::initializer_list<std::pair<const char*, std::size_t>> axes) {
  double points = 1;
  std::pair<const char*, std::size_t> largest{"--T", 0};
  for (const auto& axis : axes) {
    points *= static_cast<double>(std::max<std::size_t>(axis.second, 1));
    if (axis.second > largest.second) largest = axis;
  }
  if (points > kMaxPlanPoints) {
    throw UsageError(fmt::format(
        "{}: the plan has {:.0f} points, above the limit of {:.0f}; give fewer values ({} has {})",
        largest.first, points, kMaxPlanPoints, largest.first, largest.second));
  }
}

}  // namespace

void check_threads(int threads) {
  if (threads < 0 || threads > cpu::kMaxThreads) {
    throw UsageError(
        fmt::format("--threads: {} is outside 0 to {} (0: all cores)", threads, cpu::kMaxThreads));
  }
}

void add_plan_flags(CLI::App& app, PlanFlags& f, bool sweep_axes) {
  const std::string axis = sweep_axes ? " (list or range)" : "";
  app.add_option("--model", f.model, "markov or attention" + axis)->capture_default_str();
  app.add_option("--T", f.T, "context length T" + axis + ", e.g. 1024 or 256:8192:x2 or 256,1000")
      ->capture_default_str();
  app.add_option("--law", f.law, "markov entries: " + law_names() + axis)
      ->capture_default_str();
  app.add_option("--beta", f.beta,
                 "beta > 0: attention's inverse temperature, or the markov law's parameter (" +
                     law_beta_meanings() + ")" + axis)
      ->capture_default_str();
  app.add_option("--d", f.d, "attention: model width d" + axis)->capture_default_str();
  app.add_option("--dk", f.dk, "attention: key width d_k (default d)" + axis);
  app.add_option("--input", f.input, "attention inputs X: gaussian or isometric (d >= T)" + axis)
      ->capture_default_str();
  app.add_option("--init", f.init,
                 "attention W_Q, W_K entries: normal (N(0,1)), fan-in (N(0,1/d)) or "
                 "xavier-normal (N(0,2/(d+dk)))" +
                     axis)
      ->capture_default_str();
  app.add_flag("--causal", f.causal, "attention: row i attends to j <= i");
  app.add_option("--logits", f.logits,
                 "attention, float32: inputs of the logits GEMM at full precision, or rounded "
                 "to tf32 or bf16 as tensor cores read them (on a GPU they run there)" +
                     axis)
      ->capture_default_str();
  app.add_option("--fix", f.fix,
                 "none, center (A - (1/T) 1 1^T) or deflate (A - s1 u1 v1^T: the top singular "
                 "triple removed)" +
                     axis)
      ->capture_default_str();
  app.add_option("--spectrum", f.spectrum,
                 "singular (singular values) or eigen (eigenvalues, complex, the top k by "
                 "modulus)" + axis)
      ->capture_default_str();
  app.add_option("--solver", f.solver,
                 "singular: lanczos (default), rsvd (randomized subspace iteration), exact "
                 "(LAPACK gesdd / cuSOLVER Xgesvd), and on --backend cuda: xgesvdr (cuSOLVER "
                 "randomized), gesvda (cuSOLVER approximate, batched, T <= 46340); eigen: "
                 "arnoldi (default; Krylov-Schur), exact (LAPACK geev / cuSOLVER Xgeev), "
                 "diagonal (causal attention's default: its eigenvalues are its diagonal)" +
                     axis);
  app.add_option("--k", f.k,
                 fmt::format("top values, 1 to {} (eigen: a conjugate pair is taken whole){}",
                             kMaxK, axis))
      ->capture_default_str();
  app.add_option("--precision", f.precision, "float32 or float64" + axis)->capture_default_str();
  app.add_option("--seed", f.seed, "seed of the Philox key, 0 to 2^64 - 1")->capture_default_str();
  app.add_option("--tol", f.tol,
                 "lanczos, rsvd: residual <= tol * s_i; arnoldi: |A x - lambda x| <= tol * s1 "
                 "(default 1e-8 float64, 1e-4 float32)");
  app.add_option("--max-iter", f.max_iter,
                 fmt::format("lanczos: most block steps; rsvd: most iterations (default {})",
                             kDefaultMaxIter));
  app.add_option("--block", f.block,
                 "lanczos, arnoldi: vectors per pass (default: the backend's for lanczos, 1 for arnoldi)");
  app.add_option("--basis", f.basis,
                 "lanczos, arnoldi: basis size before a restart (lanczos default max(3k+3b, "
                 "10b, 40); arnoldi: docs/solvers.md)");
  app.add_option("--oversample", f.oversample,
                 "rsvd, xgesvdr: extra subspace vectors p (default max(k, 8))");
  app.add_option("--power-iters", f.power_iters,
                 fmt::format("xgesvdr: power iterations (default {})", kDefaultPowerIters));
  if (sweep_axes) {
    app.add_option("--seeds", f.seeds, "matrices per point: indices 0 .. N-1")
        ->capture_default_str();
    app.add_flag("--all-values", f.all_values,
                 "write every computed value to values.csv (all T with exact: singular values, "
                 "or eigenvalues with their imaginary parts)");
    app.add_option("--reference", f.reference,
                   fmt::format("none, or auto: solve every matrix again in float64 (exact up to "
                               "T = {}, lanczos at tol {} above) and write each row's errors "
                               "against it (max_rel_err, rel_err_s2)",
                               kReferenceExactMaxT, kReferenceTol))
        ->capture_default_str();
  }
  app.add_option("--operator", f.op,
                 "products with A: dense (the stored matrix), fused (matrix-free: tiles of A "
                 "regenerated in each product, O(T) memory; lanczos, rsvd, arnoldi and the "
                 "causal diagonal), or auto "
                 "(fused where the dense matrix does not fit)")
      ->capture_default_str();
  app.add_option("--backend", f.backend, "auto, cpu or cuda")->capture_default_str();
  app.add_option("--threads", f.threads, "CPU threads (0: all cores)")->capture_default_str();
}

std::set<std::string> given_flags(const CLI::App& app) {
  std::set<std::string> given;
  for (const char* name : kPlanFlagNames) {
    const CLI::Option* opt = nullptr;
    try {
      opt = app.get_option(name);
    } catch (const CLI::OptionNotFound&) {
      continue;
    }
    if (opt->count() > 0) given.insert(name);
  }
  return given;
}

SweepPlan build_plan(const CLI::App& app, const PlanFlags& f) {
  SweepPlan p;
  p.models = parse_enum_list<ModelKind>(f.model, "--model", parse_model);
  p.Ts = parse_int_axis(f.T, "--T");
  p.laws = parse_enum_list<EntryLaw>(f.law, "--law", parse_law);
  p.betas = parse_real_axis(f.beta, "--beta");
  p.ds = parse_int_axis(f.d, "--d");
  if (!f.dk.empty()) p.dks = parse_int_axis(f.dk, "--dk");
  p.inputs = parse_enum_list<InputKind>(f.input, "--input", parse_input);
  p.inits = parse_enum_list<WeightInit>(f.init, "--init", parse_init);
  p.causal = f.causal;
  p.logits = parse_enum_list<LogitsPrecision>(f.logits, "--logits", parse_logits);
  p.fixes = parse_enum_list<Fix>(f.fix, "--fix", parse_fix);
  p.spectra = parse_enum_list<Spectrum>(f.spectrum, "--spectrum", parse_spectrum);
  p.solvers.clear();
  if (app.get_option("--solver")->count() > 0) {
    p.solvers = parse_enum_list<SolverKind>(f.solver, "--solver", parse_solver);
  }
  p.ks.clear();
  for (const std::int64_t k : parse_int_axis(f.k, "--k")) {
    if (k < 1 || k > kMaxK) {
      throw UsageError(fmt::format("--k: k = {} must be between 1 and {}", k, kMaxK));
    }
    p.ks.push_back(static_cast<int>(k));
  }
  p.precisions = parse_enum_list<Precision>(f.precision, "--precision", parse_precision);
  check_plan_size({{"--model", p.models.size()},
                   {"--T", p.Ts.size()},
                   {"--law", p.laws.size()},
                   {"--beta", p.betas.size()},
                   {"--d", p.ds.size()},
                   {"--dk", p.dks.size()},
                   {"--input", p.inputs.size()},
                   {"--init", p.inits.size()},
                   {"--logits", p.logits.size()},
                   {"--fix", p.fixes.size()},
                   {"--spectrum", p.spectra.size()},
                   {"--solver", p.solvers.size()},
                   {"--k", p.ks.size()},
                   {"--precision", p.precisions.size()}});
  p.seed = parse_seed(f.seed);
  if (f.seeds < 1) {
    throw UsageError(fmt::format("--seeds: {} matrices per point; give at least 1", f.seeds));
  }
  p.seeds = f.seeds;
  if (!(f.tol >= 0) || !std::isfinite(f.tol)) {
    throw UsageError(fmt::format("--tol: {} must be a finite number >= 0", f.tol));
  }
  p.tol = f.tol;
  if (f.max_iter < 0) throw UsageError("--max-iter: must be >= 1 (0 for the default)");
  if (f.block < 0 || f.block > 64) throw UsageError("--block: must be 1 to 64 (0 for the default)");
  if (f.basis < 0) throw UsageError("--basis: must be >= 1 (0 for the default)");
  p.max_iter = f.max_iter;
  p.block = f.block;
  p.basis = f.basis;
  if (f.oversample < 0) throw UsageError("--oversample: must be >= 1 (0 for the default)");
  if (f.power_iters < 0 || f.power_iters > 1000) {
    throw UsageError("--power-iters: must be 1 to 1000 (0 for the default)");
  }
  p.oversample = f.oversample;
  p.power_iters = f.power_iters;
  p.op = parse_operator(f.op);
  p.all_values = f.all_values;
  p.reference = parse_reference(f.reference, "--reference");
  check_flags_apply(p, given_flags(app));
  return p;
}

void add_propagate_flags(CLI::App& app, PropagateFlags& f) {
  const char* lists = " (list or range: 64,128 or 64:1024:x2)";
  app.add_option("--T", f.T, std::string("tokens") + lists)->capture_default_str();
  app.add_option("--gamma", f.gamma, std::string("T/d (d = round(T/gamma))") + lists)
      ->capture_default_str();
  app.add_option("--d", f.d, std::string("model width (instead of --gamma)") + lists);
  app.add_option("--L", f.L, std::string("layers") + lists)->capture_default_str();
  app.add_option("--input", f.input,
                 "X_0: isometric (X X^T = I, d >= T) or gaussian; a comma list")
      ->capture_default_str();
  app.add_option("--variant", f.variant, "plain, skip or scaled-skip; a comma list")
      ->capture_default_str();
  app.add_flag("--layernorm", f.layernorm, "LayerNorm after each layer (no affine)");
  app.add_option("--attention", f.source,
                 "markov (fresh A per layer) or attention (A(X)); a comma list")
      ->capture_default_str();
  app.add_option("--fix", f.fix, "none or center (A_perp = A - 11^T/T); a comma list")
      ->capture_default_str();
  app.add_option("--law", f.law, "markov entries: " + law_names())->capture_default_str();
  app.add_option("--beta", f.beta, "attention's logit scale, or the markov law's parameter")
      ->capture_default_str();
  app.add_option("--dk", f.dk, "attention key dimension (default d)");
  app.add_option("--init", f.init,
                 "attention W_Q, W_K entries: normal (N(0,1)), fan-in (N(0,1/d)) or "
                 "xavier-normal (N(0,2/(d+dk)))")
      ->capture_default_str();
  app.add_option("--sigma-v", f.sigma_v, "W_V entries N(0, sigma_v^2)")->capture_default_str();
  app.add_option("--seed", f.seed, "seed")->capture_default_str();
  app.add_option("--seeds", f.seeds,
                 "runs per point: indices --index .. --index + N - 1 (the `run` column)")
      ->capture_default_str();
  app.add_option("--index", f.index, "the first run index (the seed's stream); alone: one run")
      ->capture_default_str();
  app.add_flag("--gradient", f.gradient,
               "ln ||dX_L/dW_l||_F^2 per layer: the closed form for the linear model, else "
               "reverse mode with Gaussian probes");
  app.add_option("--gradient-wrt", f.gradient_wrt,
                 "--gradient of value (W_V), query (W_Q) or key (W_K) weights")
      ->capture_default_str();
  app.add_option("--gradient-method", f.gradient_method,
                 "auto (closed form where it holds), exact or probes")
      ->capture_default_str();
  app.add_option("--probes", f.probes, "--gradient: at least this many probes")
      ->capture_default_str();
  app.add_option("--probes-max", f.probes_max, "--gradient: at most this many probes")
      ->capture_default_str();
  app.add_option("--probe-rse", f.probe_rse,
                 "--gradient: probe until every layer's relative standard error is this")
      ->capture_default_str();
  app.add_option("--backend", f.backend, "auto, cpu or cuda")->capture_default_str();
  app.add_option("--threads", f.threads, "CPU threads (0: all cores)")->capture_default_str();
  app.add_option("--out", f.out,
                 "write rows.csv (the L+1 rows of each network as it finishes) + meta.json here");
  app.add_option("--resume", f.resume,
                 "continue the sweep in this directory (same flags): finished networks are kept");
  app.add_flag("--force", f.force, "replace the results in an existing --out directory");
  app.add_option("--shard", f.shard, kShardHelp);
}

propagate::PropagateRequest build_propagate_request(const CLI::App& app, const PropagateFlags& f) {
  using namespace propagate;
  if (app.get_option("--gamma")->count() > 0 && app.get_option("--d")->count() > 0) {
    throw UsageError("--gamma: give --gamma or --d, not both");
  }
  PropagateRequest req;
  PropagatePlan& plan = req.plan;
  plan.Ts = parse_int_axis(f.T, "--T");
  if (app.get_option("--d")->count() > 0) {
    plan.ds = parse_int_axis(f.d, "--d");
    plan.gammas.clear();
  } else {
    plan.gammas = parse_real_axis(f.gamma, "--gamma");
  }
  plan.Ls = parse_int_axis(f.L, "--L");
  plan.inputs = parse_enum_list<InputKind>(f.input, "--input", parse_input);
  plan.variants = parse_enum_list<Variant>(f.variant, "--variant", parse_variant);
  plan.sources = parse_enum_list<AttentionSource>(f.source, "--attention", parse_source);
  if (app.get_option("--dk")->count() > 0 &&
      std::find(plan.sources.begin(), plan.sources.end(), AttentionSource::kAttention) ==
          plan.sources.end()) {
    throw UsageError(
        "--dk: the key width applies to --attention attention only (markov layers have no keys); "
        "drop --dk or add --attention attention");
  }
  const bool any_attention = std::find(plan.sources.begin(), plan.sources.end(),
                                       AttentionSource::kAttention) != plan.sources.end();
  plan.init = parse_init(f.init);
  if (app.get_option("--init")->count() > 0 && !any_attention) {
    throw UsageError(
        "--init: W_Q, W_K exist only in A(X) layers (markov layers have none); drop --init or add "
        "--attention attention");
  }
  for (const char* flag :
       {"--gradient-wrt", "--gradient-method", "--probes", "--probes-max", "--probe-rse"}) {
    if (app.get_option(flag)->count() > 0 && !f.gradient) {
      throw UsageError(fmt::format("{}: applies to --gradient; add --gradient or drop {}", flag,
                                   flag));
    }
  }
  plan.grad.wrt = parse_gradient_wrt(f.gradient_wrt);
  plan.grad.method = parse_gradient_method(f.gradient_method);
  plan.grad.probes = f.probes;
  plan.grad.probes_max = f.probes_max;
  plan.grad.probe_rse = f.probe_rse;
  plan.fixes = parse_enum_list<Fix>(f.fix, "--fix", parse_fix);
  plan.layernorm = f.layernorm;
  plan.law = parse_law(f.law);
  plan.beta = f.beta;
  plan.dk = f.dk;
  plan.sigma_v = f.sigma_v;
  plan.seed = f.seed;
  plan.first_index = f.index;
  plan.seeds = f.seeds;
  plan.gradient = f.gradient;
  check_threads(f.threads);
  req.threads = f.threads;
  req.backend = parse_backend(f.backend);
  if (!f.out.empty()) req.out = f.out;
  if (!f.resume.empty()) req.resume = f.resume;
  req.force = f.force;
  if (app.get_option("--shard")->count() > 0) req.shard = parse_shard(f.shard);
  return req;
}

}  // namespace gapbench::cli
