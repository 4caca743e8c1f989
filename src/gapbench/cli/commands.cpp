#include "gapbench/cli/commands.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "gapbench/build_info.hpp"
#include "gapbench/cli/model_flags.hpp"
#include "gapbench/compare/compare.hpp"
#include "gapbench/error.hpp"
#include "gapbench/npy.hpp"
#include "gapbench/propagate/propagate.hpp"
#include "gapbench/rng.hpp"
#include "gapbench/runtime.hpp"
#include "gapbench/sweep/merge.hpp"
#include "gapbench/sweep/range.hpp"
#include "gapbench/sweep/results.hpp"
#include "gapbench/sweep/runner.hpp"
#include "gapbench/user_attention.hpp"

extern "C" char* openblas_get_config(void);

namespace gapbench::cli {
namespace {

// The single matrix that `run` and `dump` describe; refuses lists and ranges.
struct SingleMatrix {
  PointSpec point;
  std::uint64_t seed = 0;
  std::uint32_t index = 0;
};

SingleMatrix single_matrix(const CLI::App& app, const PlanFlags& flags, std::int64_t index,
                           const char* command) {
  const SweepPlan plan = build_plan(app, flags);
  const std::vector<PlannedPoint> points = expand_plan(plan);
  if (points.size() != 1) {
    // Name the flags that hold several values.
    std::string lists;
    const auto note = [&](std::size_t n, const char* flag) {
      if (n > 1) lists += (lists.empty() ? "" : ", ") + std::string(flag);
    };
    note(plan.models.size(), "--model");
    note(plan.Ts.size(), "--T");
    note(plan.laws.size(), "--law");
    note(plan.betas.size(), "--beta");
    note(plan.ds.size(), "--d");
    note(plan.dks.size(), "--dk");
    note(plan.inputs.size(), "--input");
    note(plan.inits.size(), "--init");
    note(plan.fixes.size(), "--fix");
    note(plan.spectra.size(), "--spectrum");
    note(plan.solvers.size(), "--solver");
    note(plan.ks.size(), "--k");
    note(plan.precisions.size(), "--precision");
    throw UsageError(
        fmt::format("{}: gapbench {} takes one matrix, but these flags describe {} "
                    "points; give one value each (gapbench sweep takes lists)",
                    lists, command, points.size()));
  }
  if (index < 0 || index > 0xffffffffLL) {
    throw UsageError(fmt::format("--index: {} is outside 0 to 2^32 - 1", index));
  }
  check_threads(flags.threads);
  return {points[0].spec, plan.seed, static_cast<std::uint32_t>(index)};
}

}  // namespace

RunPoint parse_run_point(const std::vector<std::string>& args) {
  CLI::App app{"run"};
  PlanFlags flags;
  flags.T = "1024";
  std::int64_t index = 0;
  add_plan_flags(app, flags, /*sweep_axes=*/false);
  app.add_option("--index", index, "matrix index");
  try {
    std::vector<std::string> rest(args.rbegin(), args.rend());  // CLI11 takes them last first
    app.parse(rest);
  } catch (const CLI::ParseError& e) {
    throw UsageError(e.what());
  }
  const SingleMatrix one = single_matrix(app, flags, index, "run");
  return {one.point, one.seed, one.index, flags.threads, parse_backend(flags.backend)};
}

namespace {

#ifndef GAPBENCH_SHARE_FROM_BIN
#define GAPBENCH_SHARE_FROM_BIN "../share/gapbench"
#endif

// scripts/plot.py where the build copies it and the install puts it, relative to this executable
// (src/gapbench/cli/CMakeLists.txt): build/bin/gapbench -> build/share/gapbench/plot.py,
// <prefix>/bin/gapbench -> <prefix>/share/gapbench/plot.py. Empty when /proc/self/exe is unreadable.
std::filesystem::path plot_script() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return (exe.parent_path() / GAPBENCH_SHARE_FROM_BIN / "plot.py").lexically_normal();
}

// Runs plot.py (plot_script()) on a finished sweep when /usr/bin/python3 has matplotlib; otherwise
// says how to get it and how to plot later. Never changes the sweep's exit code: its rows are saved.
void plot_sweep(const std::filesystem::path& directory) {
  const std::filesystem::path script = plot_script();
  const std::string python = "/usr/bin/python3";
  const std::string later = fmt::format("{} {} {}", python, script.string(), directory.string());
  if (script.empty() || !std::filesystem::exists(script)) {
    std::cerr << "plot: " << (script.empty() ? "share/gapbench/plot.py" : script.string())
              << " is not there (the build puts it beside bin/, and so does the install); "
              << "plot with scripts/plot.py " << directory.string() << '\n';
    return;
  }
  if (std::system((python + " -c 'import matplotlib' >/dev/null 2>&1").c_str()) != 0) {
    std::cerr << "plot: matplotlib is missing for " << python
              << ": apt-get install python3-matplotlib (or pip install -r "
                 "scripts/requirements-plot.txt), then run: "
              << later << '\n';
    return;
  }
  const std::string command =
      fmt::format("'{}' '{}' '{}'", python, script.string(), directory.string());
  if (std::system(command.c_str()) != 0) {
    std::cerr << "plot: plotting failed; the results are intact; retry with: " << later << '\n';
  }
}

// `compare --json OUT` must not replace one of the files it reads: refused by path (the same
// file under two spellings, or one that does not exist yet) and by identity (a hard or symbolic
// link), before anything is read or written.
void refuse_overwriting_inputs(const std::filesystem::path& out,
                               const std::vector<std::filesystem::path>& inputs) {
  std::error_code ec;
  const std::filesystem::path out_path = std::filesystem::weakly_canonical(out, ec);
  for (const std::filesystem::path& input : inputs) {
    std::error_code ec_in, ec_eq;
    const bool same_path = !ec && std::filesystem::weakly_canonical(input, ec_in) == out_path;
    const bool same_file = std::filesystem::equivalent(input, out, ec_eq) && !ec_eq;
    if (same_path || same_file) {
      throw UsageError(
          fmt::format("--json: '{}' is the input file '{}'; write the report to another file",
                      out.string(), input.string()));
    }
  }
}

std::string opt(const std::optional<double>& v) { return v ? fmt::format("{:.6g}", *v) : "-"; }

}  // namespace

Command add_sweep_command(CLI::App& app, const std::string& command_line) {
  CLI::App* sub = app.add_subcommand("sweep",
                                     "width sweep: every point of the axes, N matrices "
                                     "each; rows.csv + meta.json + summary table");
  auto flags = std::make_shared<PlanFlags>();
  auto out = std::make_shared<std::string>();
  auto resume = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  add_plan_flags(*sub, *flags, /*sweep_axes=*/true);
  sub->add_option("--out", *out, "results directory (default results/sweeps/<UTC time>)");
  sub->add_option("--resume", *resume,
                  "continue the sweep in this directory (same flags, or none to reuse its plan)");
  sub->add_flag("--force", *force, "replace the results in an existing --out directory");
  auto shard = std::make_shared<std::string>();
  sub->add_option("--shard", *shard, kShardHelp);
  auto plot = std::make_shared<bool>(false);
  sub->add_flag("--plot", *plot,
                "plot the results at the end (scripts/plot.py; needs matplotlib for "
                "/usr/bin/python3)");
  return [sub, flags, out, resume, force, shard, plot, command_line]() {
    SweepRequest req;
    req.command_line = command_line;
    req.plan_given = !given_flags(*sub).empty();
    req.plan = build_plan(*sub, *flags);
    if (!out->empty()) req.out = *out;
    if (!resume->empty()) req.resume = *resume;
    req.force = *force;
    if (sub->get_option("--shard")->count() > 0) req.shard = parse_shard(*shard);
    req.backend = parse_backend(flags->backend);
    check_threads(flags->threads);
    req.threads = flags->threads;
    req.threads_given = sub->get_option("--threads")->count() > 0;
    std::filesystem::path directory;
    const int code = run_sweep(req, std::cout, &directory);
    if (*plot && code == 0) plot_sweep(directory);
    return code;
  };
}

namespace {

// The top k, the metrics and the solve's figures of one matrix, as `gapbench run` prints them.
void print_outcome(const PointSpec& point, const MatrixOutcome& o) {
  if (point.solver.spectrum == Spectrum::kEigen) {
    const SolveResult& v = o.solve;
    const Metrics m = compute_eigen_metrics(point.model, v.values, v.values_im, o.sums);
    for (std::size_t i = 0; i < v.values.size(); ++i) {
      std::cout << fmt::format("lambda{:<3} {:.17g} {} {:.17g}i   |lambda| {:.10g}\n", i + 1,
                               v.values[i], v.values_im[i] < 0 ? '-' : '+',
                               std::abs(v.values_im[i]), std::hypot(v.values[i], v.values_im[i]));
    }
    std::cout << fmt::format(
        "|lambda1-1| {:.3g}  |lambda2| {:.10g}  eigen gap 1-|lambda2| {:.10g}  frob {:.10g}\n"
        "theory: c {}  sqrtT |lambda_edge|/c {}  |A_perp|F^2/c^2 {}\n"
        "converged {}  iterations {}  passes {}  residual {:.3g}  generate {:.3f} s  solve {:.3f} "
        "s  peak memory {:.0f} MiB\n",
        m.lambda1_dist, m.abs_lambda2, m.eigen_gap, m.frob, opt(m.c), opt(m.eigen_edge_ratio),
        opt(m.frob_perp_over_c2), v.converged ? "yes" : "NO", v.iterations, v.passes, v.residual,
        o.generate_seconds, o.solve_seconds, peak_resident_bytes() / (1 << 20));
    return;
  }
  const Metrics m = compute_metrics(point.model, o.solve.values, o.sums);
  for (int i = 0; i < point.solver.k; ++i) {
    std::cout << fmt::format("s{:<3} {:.17g}\n", i + 1, o.solve.values.at(i));
  }
  std::cout << fmt::format(
      "gap {:.10g}  ratio {:.10g}  frob {:.10g}  frob_perp_sq {:.10g}  stable_rank {:.6g}\n"
      "theory: c {}  (s1-1)2T/c^2 {}  sqrtT s_edge/2c {}  |A_perp|F^2/c^2 {}\n"
      "converged {}  iterations {}  passes {}  residual {:.3g}  generate {:.3f} s  solve {:.3f} "
      "s  peak memory {:.0f} MiB\n",
      m.gap, m.ratio, m.frob, m.frob_perp_sq, m.stable_rank, opt(m.c), opt(m.s1_excess),
      opt(m.edge_ratio), opt(m.frob_perp_over_c2), o.solve.converged ? "yes" : "NO",
      o.solve.iterations, o.solve.passes, o.solve.residual, o.generate_seconds, o.solve_seconds,
      peak_resident_bytes() / (1 << 20));
}

// `gapbench run --qk Q.npy,K.npy`: every head (or head --index) of a trained model's attention,
// on the backend asked for.
template <typename Real>
int run_user_attention(const CLI::App& sub, const PlanFlags& flags, const std::string& files,
                       std::int64_t index) {
  for (const char* flag : {"--model", "--T", "--law", "--d", "--dk", "--input", "--init"}) {
    if (sub.get_option(flag)->count() > 0) {
      throw UsageError(
          fmt::format("{}: with --qk the queries and keys set the model; drop {}", flag, flag));
    }
  }
  PlanFlags attention = flags;
  attention.model = "attention";
  const SingleMatrix one = single_matrix(sub, attention, 0, "run");
  const QkHeads<Real> qk = load_qk<Real>(files);
  const bool one_head = sub.get_option("--index")->count() > 0;
  if (one_head && (index < 0 || index >= qk.heads)) {
    throw UsageError(
        fmt::format("--index: head {} is outside 0 to {} (the --qk files hold {} heads)", index,
                    qk.heads - 1, qk.heads));
  }
  PointSpec point = one.point;
  point.model.T = qk.T;
  point.model.d = point.model.dk = qk.dk;
  check_logits(point.model, point.precision);
  BackendSelection sel = make_backend(parse_backend(flags.backend), flags.threads);
  sel.backend->check(point);
  std::cout << fmt::format(
      "--qk {}: {} head(s), T = {}, dk = {}; beta={} causal={} fix={} precision={}\n"
      "backend {} ({}), solver {}\n",
      files, qk.heads, qk.T, qk.dk, point.model.beta, point.model.causal ? 1 : 0,
      to_string(point.model.fix), to_string(point.precision), sel.backend->name(),
      sel.backend->description(), to_string(point.solver.kind));
  bool converged = true;
  const std::int64_t n = qk.T * qk.dk;
  for (std::int64_t h = one_head ? index : 0; h < (one_head ? index + 1 : qk.heads); ++h) {
    const MatrixOutcome o =
        sel.backend->run_factors<Real>(point, qk.queries.data() + h * n, qk.keys.data() + h * n,
                                       static_cast<std::uint32_t>(h), one.seed);
    std::cout << fmt::format("head {} (operator {})\n", h, to_string(o.op));
    print_outcome(point, o);
    converged = converged && o.solve.converged;
  }
  return converged ? 0 : 1;
}

}  // namespace

Command add_run_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("run", "one matrix: its top k singular values and metrics");
  auto flags = std::make_shared<PlanFlags>();
  flags->T = "1024";
  auto index = std::make_shared<std::int64_t>(0);
  auto qk = std::make_shared<std::string>();
  add_plan_flags(*sub, *flags, /*sweep_axes=*/false);
  sub->add_option("--index", *index, "matrix index (the seed's stream); with --qk, one head")
      ->capture_default_str();
  sub->add_option("--qk", *qk,
                  "Q.npy,K.npy: queries and keys of a trained model (T x dk, or heads x T x dk; "
                  "float32 or float64), instead of a random model: every head's spectrum");
  return [sub, flags, index, qk]() {
    if (!qk->empty()) {
      return parse_precision(flags->precision) == Precision::kFloat64
                 ? run_user_attention<double>(*sub, *flags, *qk, *index)
                 : run_user_attention<float>(*sub, *flags, *qk, *index);
    }
    const SingleMatrix one = single_matrix(*sub, *flags, *index, "run");
    const PointSpec& point = one.point;
    BackendSelection sel = make_backend(parse_backend(flags->backend), flags->threads);
    sel.backend->check(point);
    const MatrixOutcome o = sel.backend->run_batch(point, one.seed, {one.index}).at(0);
    std::cout << fmt::format("{} precision={} seed={} index={}\n", describe(point.model),
                             to_string(point.precision), one.seed, one.index)
              << fmt::format("backend {} ({}), solver {}, operator {}\n", sel.backend->name(),
                             sel.backend->description(), to_string(point.solver.kind), to_string(o.op));
    print_outcome(point, o);
    return o.solve.converged ? 0 : 1;
  };
}

Command add_dump_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("dump", "write one generated matrix as .npy (C order)");
  auto flags = std::make_shared<PlanFlags>();
  flags->T = "1024";
  auto index = std::make_shared<std::int64_t>(0);
  auto out = std::make_shared<std::string>();
  add_plan_flags(*sub, *flags, /*sweep_axes=*/false);
  sub->add_option("--index", *index, "matrix index")->capture_default_str();
  sub->add_option("--out", *out, "the .npy file to write")->required();
  return [sub, flags, index, out]() {
    // dump writes a matrix and solves nothing: the solver's k does not have to fit T.
    if (given_flags(*sub).count("--k") == 0) flags->k = "1";
    const SingleMatrix one = single_matrix(*sub, *flags, *index, "dump");
    const PointSpec& point = one.point;
    if (std::filesystem::is_directory(*out)) {
      throw UsageError(fmt::format("--out: '{}' is a directory; name a .npy file", *out));
    }
    const std::int64_t T = point.model.T;
    BackendSelection sel = make_backend(parse_backend(flags->backend), flags->threads);
    if (point.precision == Precision::kFloat64) {
      const auto a = sel.backend->generate_to_host<double>(point.model, one.seed, one.index);
      write_npy<double>(*out, a.data(), T, T);
    } else {
      const auto a = sel.backend->generate_to_host<float>(point.model, one.seed, one.index);
      write_npy<float>(*out, a.data(), T, T);
    }
    std::cout << fmt::format("wrote {} ({} x {} {}, {}; backend {})\n", *out, T, T,
                             to_string(point.precision), describe(point.model),
                             sel.backend->name());
    return 0;
  };
}

Command add_info_command(CLI::App& app) {
  app.add_subcommand("info", "build options, backends compiled in, devices found");
  return []() {
    const nlohmann::json build = build_info();
    std::cout << fmt::format(
        "gapbench {} (commit {}, {} build, {})\n", build["version"].get<std::string>(),
        build["commit"].get<std::string>(), build["build_type"].get<std::string>(),
        build["compiler"].get<std::string>());
    std::cout << fmt::format("RNG layout v{}: {}\n", kRngLayoutVersion, kRngLayout);
    std::cout << fmt::format("backends: cpu{}\n", cuda_compiled_in() ? ", cuda" : "");
    std::cout << fmt::format("cpu: OpenBLAS {}\n", openblas_get_config());
    std::cout << fmt::format("CUDA architectures built: {}\n",
                             build["cuda_architectures"].get<std::string>());
    // The devices a scheduler gave this process (Slurm's --gres=gpu:1 sets it): the CUDA
    // runtime numbers them from 0, so device 0 below is the first of these.
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    std::cout << fmt::format("CUDA_VISIBLE_DEVICES: {}\n",
                             visible ? fmt::format("'{}'", visible) : std::string("unset"));
    for (const auto& line : describe_cuda_devices()) std::cout << line << '\n';
    const BackendSelection sel = make_backend(BackendChoice::kAuto, 0);
    std::cout << sel.note << "; device: " << sel.backend->description() << '\n';
    return 0;
  };
}

Command add_compare_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "compare",
      "regression verdict between two Google Benchmark JSON files: median change and a "
      "Mann-Whitney U test per benchmark; exit 1 when something regressed");
  auto base = std::make_shared<std::string>();
  auto fresh = std::make_shared<std::string>();
  auto json_out = std::make_shared<std::string>();
  auto options = std::make_shared<CompareOptions>();
  sub->add_option("BASE", *base, "the baseline (--benchmark_out of Google Benchmark)")->required();
  sub->add_option("NEW", *fresh, "the run to judge against it")->required();
  sub->add_option("--metric", options->metric, "real_time, cpu_time or a counter (see below)")
      ->capture_default_str();
  sub->add_option("--threshold", options->threshold,
                  "relative change of the medians that counts (0.05 = 5%)")
      ->capture_default_str();
  sub->add_option("--alpha", options->alpha, "significance level of the two-sided U test")
      ->capture_default_str();
  sub->add_option("--json", *json_out,
                  "also write the report as JSON to FILE ('-': stdout, the table then goes to "
                  "stderr)");
  sub->footer(
      metric_direction_help() +
      "\nExit codes: 0 nothing regressed, 1 something regressed significantly beyond "
      "the threshold, 2 unreadable, malformed or empty files, or no benchmark in common.\n");
  return [base, fresh, json_out, options]() {
    check_compare_options(*options);
    const bool json_file = !json_out->empty() && *json_out != "-";
    if (json_file) refuse_overwriting_inputs(*json_out, {*base, *fresh});
    const BenchmarkFile base_file = read_benchmark_file(*base, "BASE");
    const BenchmarkFile new_file = read_benchmark_file(*fresh, "NEW");
    const CompareReport report = compare_benchmarks(base_file, new_file, *options);
    const std::string json = compare_report_json(report).dump(2) + '\n';
    if (json_file) {
      // Atomically: a reader of OUT sees the old report or the new one, never half of one.
      try {
        write_file_atomically(*json_out, json);
      } catch (const std::exception& e) {
        throw UsageError(fmt::format("--json: cannot write '{}': {}", *json_out, e.what()));
      }
    }
    (*json_out == "-" ? std::cerr : std::cout) << render_compare_table(report) << std::flush;
    if (*json_out == "-") std::cout << json;
    return report.exit_code();
  };
}

Command add_propagate_command(CLI::App& app, const std::string& command_line) {
  CLI::App* sub = app.add_subcommand(
      "propagate",
      "signal propagation through L attention-only layers: per-layer stable rank, token cosine, "
      "gradient norm; a sweep over lists or ranges (e.g. --T 64:1024:x2 --variant plain,skip)");
  auto flags = std::make_shared<PropagateFlags>();
  add_propagate_flags(*sub, *flags);
  return [sub, flags, command_line]() {
    propagate::PropagateRequest req = build_propagate_request(*sub, *flags);
    req.command_line = command_line;
    return propagate::run_sweep(req, std::cout);
  };
}

Command add_merge_command(CLI::App& app, const std::string& command_line) {
  CLI::App* sub = app.add_subcommand(
      "merge",
      "the shard directories of a sharded sweep or propagate (--shard I/N) into one results "
      "directory, rows sorted as an unsharded run writes them; refuses shards of two plans, "
      "corrupt rows and (exit 1) missing or incomplete shards, writing nothing");
  auto req = std::make_shared<MergeRequest>();
  req->command_line = command_line;
  auto dirs = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>();
  sub->add_option("DIR", *dirs,
                  "shard directories (shard-0003-of-0032), or directories holding them")
      ->required();
  sub->add_option("--out", *out, "the merged results directory to write (new)")->required();
  sub->add_flag("--partial", req->partial,
                "merge the shards that are there; meta.json says status partial and lists the "
                "missing shards");
  sub->add_flag("--allow-mixed", req->allow_mixed,
                "merge shards computed by different commits or devices");
  sub->add_flag("--force", req->force, "replace the output of an earlier merge in --out");
  sub->footer(
      "\nExit codes: 0 merged, 1 shards missing or incomplete (the commands that run them "
      "again are printed; nothing written), 2 refused (nothing written).\n");
  return [req, dirs, out]() {
    req->dirs.assign(dirs->begin(), dirs->end());
    req->out = *out;
    return run_merge(*req, std::cout);
  };
}

}  // namespace gapbench::cli
