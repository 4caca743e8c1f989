#include "gapbench/sweep/plan.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "gapbench/error.hpp"
#include "gapbench/solvers/eigen_values.hpp"

namespace gapbench {
namespace {

bool has(const std::vector<ModelKind>& models, ModelKind m) {
  return std::find(models.begin(), models.end(), m) != models.end();
}

// The solver settings of the plan for one solver kind and k.
SolverOptions solver_options(const SweepPlan& plan, Spectrum spectrum, SolverKind kind, int k) {
  SolverOptions o;
  o.spectrum = spectrum;
  o.kind = kind;
  o.k = k;
  o.tol = plan.tol;
  o.max_iter = plan.max_iter;
  o.block = plan.block;
  o.basis = plan.basis;
  o.oversample = plan.oversample;
  o.power_iters = plan.power_iters;
  o.all_values = plan.all_values;
  return o;
}

template <typename T, typename F>
nlohmann::json names(const std::vector<T>& values, F to_name) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& v : values) a.push_back(to_name(v));
  return a;
}

template <typename T, typename F>
std::vector<T> parse_names(const nlohmann::json& a, F parse, const char* key) {
  std::vector<T> out;
  for (const auto& v : a) out.push_back(parse(v.get<std::string>(), key));
  return out;
}

// The solvers of `plan` for points of `spectrum` on `model`: the default one, or those of
// --solver that compute the spectrum and apply to the model. Throws UsageError naming --solver
// when none does.
std::vector<SolverKind> point_solvers(const SweepPlan& plan, Spectrum spectrum,
                                      const ModelSpec& model) {
  if (plan.solvers.empty()) return {default_solver(spectrum, model)};
  std::vector<SolverKind> out;
  for (const SolverKind kind : plan.solvers) {
    SolverOptions o;
    o.kind = kind;
    o.spectrum = spectrum;
    try {
      check_solver_applies(o, model);
      out.push_back(kind);
    } catch (const UsageError&) {
      if (plan.solvers.size() == 1) throw;  // the one solver given: its own message
    }
  }
  if (out.empty()) {
    throw UsageError(fmt::format(
        "--solver: none of the solvers given computes --spectrum {} of {} (singular: lanczos, "
        "rsvd, exact; eigen: arnoldi, exact, diagonal for causal attention)",
        to_string(spectrum), describe(model)));
  }
  return out;
}

}  // namespace

SolverKind default_solver(Spectrum spectrum, const ModelSpec& model) {
  if (spectrum == Spectrum::kSingular) return SolverKind::kLanczos;
  return eigenvalues_are_diagonal(model) ? SolverKind::kDiagonal : SolverKind::kArnoldi;
}

std::vector<PlannedPoint> expand_plan(const SweepPlan& plan) {
  const auto need = [](bool empty, const char* flag) {
    if (empty) throw UsageError(fmt::format("{}: the plan has no value for it", flag));
  };
  need(plan.models.empty(), "--model");
  need(plan.Ts.empty(), "--T");
  need(plan.laws.empty(), "--law");
  need(plan.betas.empty(), "--beta");
  need(plan.ds.empty(), "--d");
  need(plan.inputs.empty(), "--input");
  need(plan.inits.empty(), "--init");
  need(plan.fixes.empty(), "--fix");
  need(plan.spectra.empty(), "--spectrum");
  need(plan.ks.empty(), "--k");
  need(plan.precisions.empty(), "--precision");
  need(plan.logits.empty(), "--logits");
  if (plan.seeds < 1) {
    throw UsageError(fmt::format("--seeds: {} matrices per point; give at least 1", plan.seeds));
  }
  // The RNG's index word allows 2^32, but the runner lists a point's indices in memory (4 bytes
  // each) and a point of 2^24 matrices is already days of work: past it, refuse up front rather
  // than allocate gigabytes and never finish.
  constexpr std::int64_t kMaxSeeds = std::int64_t{1} << 24;
  if (plan.seeds > kMaxSeeds) {
    throw UsageError(
        fmt::format("--seeds: {} matrices per point is above the limit of {}; give fewer --seeds",
                    plan.seeds, kMaxSeeds));
  }
  for (const int k : plan.ks) {
    if (k < 1) throw UsageError(fmt::format("--k: k = {} must be >= 1", k));
  }
  std::vector<PlannedPoint> points;
  const auto add = [&](ModelSpec model) {
    for (const Fix fix : plan.fixes) {
      model.fix = fix;
      for (const Precision precision : plan.precisions) {
        for (const Spectrum spectrum : plan.spectra) {
          for (const SolverKind solver : point_solvers(plan, spectrum, model)) {
            for (const int k : plan.ks) {
              PointSpec p{model, precision, solver_options(plan, spectrum, solver, k), plan.op};
              validate(p.model);
              check_logits(p.model, precision);
              if (k >= model.T) {
                throw UsageError(
                    fmt::format("--k: k = {} must be below T = {} (there are only T values)", k,
                                model.T));
              }
              points.push_back({static_cast<int>(points.size()), p});
            }
          }
        }
      }
    }
  };
  for (const std::int64_t T : plan.Ts) {
    for (const ModelKind kind : plan.models) {
      ModelSpec m;
      m.kind = kind;
      m.T = T;
      if (kind == ModelKind::kMarkov) {
        for (const EntryLaw law : plan.laws) {
          m.law = law;
          if (law_takes_beta(law)) {
            for (const double beta : plan.betas) {
              m.beta = beta;
              add(m);
            }
          } else {
            add(m);
          }
        }
        continue;
      }
      for (const std::int64_t d : plan.ds) {
        const std::vector<std::int64_t> dks = plan.dks.empty() ? std::vector{d} : plan.dks;
        for (const std::int64_t dk : dks) {
          for (const double beta : plan.betas) {
            for (const InputKind input : plan.inputs) {
              for (const WeightInit init : plan.inits) {
                for (const LogitsPrecision logits : plan.logits) {
                  m.d = d;
                  m.dk = dk;
                  m.beta = beta;
                  m.input = input;
                  m.init = init;
                  m.causal = plan.causal;
                  m.logits = logits;
                  add(m);
                }
              }
            }
          }
        }
      }
    }
  }
  return points;
}

void check_flags_apply(const SweepPlan& plan, const std::set<std::string>& given) {
  const bool markov = has(plan.models, ModelKind::kMarkov);
  const bool attention = has(plan.models, ModelKind::kAttention);
  const bool law_with_beta =
      markov && std::any_of(plan.laws.begin(), plan.laws.end(), law_takes_beta);
  const auto refuse = [&](const std::string& flag, const std::string& why) {
    if (given.count(flag)) throw UsageError(fmt::format("{}: {}", flag, why));
  };
  if (!markov) refuse("--law", "applies only to --model markov");
  if (!attention) {
    for (const char* flag : {"--d", "--dk", "--input", "--init", "--causal", "--logits"}) {
      refuse(flag, "applies only to --model attention");
    }
  }
  if (!attention && !law_with_beta) {
    std::string laws;
    for (const LawInfo& law : kEntryLaws) {
      if (law_takes_beta(law.law)) laws += (laws.empty() ? "" : " or ") + std::string(law.name);
    }
    refuse("--beta", "applies only to --model attention and to --model markov --law " + laws);
  }
  // The solvers the plan runs: those given, or each spectrum's default (arnoldi stands for the
  // eigen default whatever the model: the flags apply to it).
  std::vector<SolverKind> solvers = plan.solvers;
  if (solvers.empty()) {
    for (const Spectrum spectrum : plan.spectra) {
      solvers.push_back(spectrum == Spectrum::kSingular ? SolverKind::kLanczos
                                                        : SolverKind::kArnoldi);
    }
  }
  const auto uses = [&](std::initializer_list<SolverKind> kinds) {
    return std::any_of(kinds.begin(), kinds.end(), [&](SolverKind kind) {
      return std::find(solvers.begin(), solvers.end(), kind) != solvers.end();
    });
  };
  if (!uses({SolverKind::kLanczos, SolverKind::kRsvd, SolverKind::kArnoldi})) {
    refuse("--tol", "applies only to --solver lanczos, rsvd and arnoldi");
    refuse("--max-iter", "applies only to --solver lanczos, rsvd and arnoldi");
  }
  if (!uses({SolverKind::kLanczos, SolverKind::kArnoldi})) {
    refuse("--block", "applies only to --solver lanczos and arnoldi");
    refuse("--basis", "applies only to --solver lanczos and arnoldi");
  }
  if (!uses({SolverKind::kRsvd, SolverKind::kXgesvdr})) {
    refuse("--oversample", "applies only to --solver rsvd and xgesvdr");
  }
  if (!uses({SolverKind::kXgesvdr})) refuse("--power-iters", "applies only to --solver xgesvdr");
}

int max_k(const SweepPlan& plan) {
  return plan.ks.empty() ? 0 : *std::max_element(plan.ks.begin(), plan.ks.end());
}

int max_eigen_values(const SweepPlan& plan) {
  const bool eigen =
      std::find(plan.spectra.begin(), plan.spectra.end(), Spectrum::kEigen) != plan.spectra.end();
  if (!eigen || plan.Ts.empty()) return 0;
  const std::int64_t T = *std::max_element(plan.Ts.begin(), plan.Ts.end());
  return static_cast<int>(std::min<std::int64_t>(max_k(plan) + 1, T));
}

std::string plan_differences(const nlohmann::json& a, const nlohmann::json& b) {
  std::string keys;
  for (const auto& [key, value] : a.items()) {
    if (!b.is_object() || !b.contains(key) || b.at(key) != value) {
      keys += (keys.empty() ? "" : ", ") + key;
    }
  }
  return keys.empty() ? "(layout)" : keys;
}

nlohmann::json plan_to_json(const SweepPlan& plan) {
  nlohmann::json j;
  j["models"] = names(plan.models, [](ModelKind v) { return to_string(v); });
  j["T"] = plan.Ts;
  j["laws"] = names(plan.laws, [](EntryLaw v) { return to_string(v); });
  j["betas"] = plan.betas;
  j["d"] = plan.ds;
  j["dk"] = plan.dks;
  j["inputs"] = names(plan.inputs, [](InputKind v) { return to_string(v); });
  j["inits"] = names(plan.inits, [](WeightInit v) { return to_string(v); });
  j["causal"] = plan.causal;
  j["logits"] = names(plan.logits, [](LogitsPrecision v) { return to_string(v); });
  j["fixes"] = names(plan.fixes, [](Fix v) { return to_string(v); });
  j["spectra"] = names(plan.spectra, [](Spectrum v) { return to_string(v); });
  j["solvers"] = names(plan.solvers, [](SolverKind v) { return to_string(v); });
  j["k"] = plan.ks;
  j["precisions"] = names(plan.precisions, [](Precision v) { return to_string(v); });
  j["seed"] = plan.seed;
  j["seeds"] = plan.seeds;
  j["tol"] = plan.tol;
  j["max_iter"] = plan.max_iter;
  j["block"] = plan.block;
  j["basis"] = plan.basis;
  j["oversample"] = plan.oversample;
  j["power_iters"] = plan.power_iters;
  j["operator"] = to_string(plan.op);
  j["reference"] = to_string(plan.reference);
  j["all_values"] = plan.all_values;
  return j;
}

SweepPlan plan_from_json(const nlohmann::json& j) {
  try {
    SweepPlan p;
    p.models = parse_names<ModelKind>(j.at("models"), parse_model, "models");
    p.Ts = j.at("T").get<std::vector<std::int64_t>>();
    p.laws = parse_names<EntryLaw>(j.at("laws"), parse_law, "laws");
    p.betas = j.at("betas").get<std::vector<double>>();
    p.ds = j.at("d").get<std::vector<std::int64_t>>();
    p.dks = j.at("dk").get<std::vector<std::int64_t>>();
    p.inputs = parse_names<InputKind>(j.at("inputs"), parse_input, "inputs");
    p.inits = parse_names<WeightInit>(j.at("inits"), parse_stored_init, "inits");
    p.causal = j.at("causal").get<bool>();
    // Absent from plans written before --logits: full-precision logits.
    p.logits = j.contains("logits")
                   ? parse_names<LogitsPrecision>(j.at("logits"), parse_logits, "logits")
                   : std::vector<LogitsPrecision>{LogitsPrecision::kFull};
    p.fixes = parse_names<Fix>(j.at("fixes"), parse_fix, "fixes");
    p.solvers = parse_names<SolverKind>(j.at("solvers"), parse_solver, "solvers");
    // Absent from plans written before --spectrum: singular values.
    p.spectra = j.contains("spectra")
                    ? parse_names<Spectrum>(j.at("spectra"), parse_spectrum, "spectra")
                    : std::vector<Spectrum>{Spectrum::kSingular};
    p.ks = j.at("k").get<std::vector<int>>();
    p.precisions = parse_names<Precision>(j.at("precisions"), parse_precision, "precisions");
    if (!j.at("seed").is_number_unsigned()) {
      throw UsageError("--resume: meta.json's plan has a seed that is not an integer >= 0");
    }
    p.seed = j.at("seed").get<std::uint64_t>();
    p.seeds = j.at("seeds").get<std::int64_t>();
    p.tol = j.at("tol").get<double>();
    p.max_iter = j.at("max_iter").get<int>();
    p.block = j.at("block").get<int>();
    p.basis = j.at("basis").get<int>();
    // Absent from plans written before rsvd and xgesvdr existed: 0, the defaults.
    p.oversample = j.value("oversample", 0);
    p.power_iters = j.value("power_iters", 0);
    // Absent from plans written before the fused operator: those ran dense.
    p.op = parse_operator(j.value("operator", std::string("dense")), "--resume: plan operator");
    p.all_values = j.at("all_values").get<bool>();
    // Absent from plans written before --reference: none.
    p.reference =
        parse_reference(j.value("reference", std::string("none")), "--resume: plan reference");
    return p;  // validated, like any plan, by expand_plan
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(fmt::format("--resume: meta.json holds a malformed plan ({})", e.what()));
  }
}

}  // namespace gapbench
