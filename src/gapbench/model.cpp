#include "gapbench/model.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <iterator>
#include <utility>

#include "gapbench/error.hpp"
#include "gapbench/names.hpp"

namespace gapbench {
namespace {

constexpr std::array<std::pair<const char*, ModelKind>, 2> kModelNames{
    {{"markov", ModelKind::kMarkov}, {"attention", ModelKind::kAttention}}};
// The law names come from the law table (laws.hpp).
constexpr auto kLawNames = [] {
  NameTable<EntryLaw, std::size(kEntryLaws)> names{};
  for (std::size_t i = 0; i < names.size(); ++i) names[i] = {kEntryLaws[i].name, kEntryLaws[i].law};
  return names;
}();
constexpr std::array<std::pair<const char*, InputKind>, 2> kInputNames{
    {{"gaussian", InputKind::kGaussian}, {"isometric", InputKind::kIsometric}}};
constexpr std::array<std::pair<const char*, WeightInit>, 3> kInitNames{
    {{"normal", WeightInit::kNormal},
     {"fan-in", WeightInit::kFanIn},
     {"xavier-normal", WeightInit::kXavierNormal}}};
constexpr std::array<std::pair<const char*, Fix>, 3> kFixNames{
    {{"none", Fix::kNone}, {"center", Fix::kCenter}, {"deflate", Fix::kDeflate}}};
constexpr std::array<std::pair<const char*, Precision>, 2> kPrecisionNames{
    {{"float32", Precision::kFloat32}, {"float64", Precision::kFloat64}}};
constexpr std::array<std::pair<const char*, LogitsPrecision>, 3> kLogitsNames{
    {{"full", LogitsPrecision::kFull},
     {"tf32", LogitsPrecision::kTf32},
     {"bf16", LogitsPrecision::kBf16}}};

}  // namespace

double init_sigma(WeightInit init, std::int64_t d, std::int64_t dk) {
  switch (init) {
    case WeightInit::kFanIn:
      return 1.0 / std::sqrt(static_cast<double>(d));
    case WeightInit::kXavierNormal:
      return std::sqrt(2.0 / static_cast<double>(d + dk));
    case WeightInit::kNormal:
    default:
      return 1.0;
  }
}

double ModelSpec::weight_sigma() const { return init_sigma(init, d, dk); }

void validate(const ModelSpec& spec) {
  if (spec.T < 2) {
    throw UsageError(fmt::format("--T: T = {} is too small; use T >= 2", spec.T));
  }
  if (spec.T > (std::int64_t{1} << 31)) {
    throw UsageError(
        fmt::format("--T: T = {} is past the 2^31 rows the RNG layout indexes", spec.T));
  }
  if (spec.uses_beta() && !(std::isfinite(spec.beta) && spec.beta > 0)) {
    throw UsageError(
        fmt::format("--beta: beta = {} must be finite and > 0 (e.g. --beta 1)", spec.beta));
  }
  if (spec.uses_beta() && spec.beta > kMaxBeta) {
    throw UsageError(fmt::format(
        "--beta: beta = {} is above {}: every row is one-hot to working precision there and the "
        "logits overflow soon after",
        spec.beta, kMaxBeta));
  }
  if (spec.kind == ModelKind::kAttention) {
    if (spec.d < 1) {
      throw UsageError(fmt::format("--d: d = {} must be >= 1", spec.d));
    }
    if (spec.dk < 1) {
      throw UsageError(fmt::format("--dk: dk = {} must be >= 1", spec.dk));
    }
    if (spec.input == InputKind::kIsometric && spec.d < spec.T) {
      throw UsageError(fmt::format(
          "--d: isometric inputs need d >= T (X X^T = I_T) but d = {} < T = {}; raise --d or "
          "use --input gaussian",
          spec.d, spec.T));
    }
    // The factors (Q, K: T x dk; for gaussian inputs X: T x d and W_Q, W_K: d x dk) counted in
    // doubles, which cannot overflow: past 2^48 elements (a petabyte) no device holds them, and
    // below it the int64 byte arithmetic of the memory plans is exact. The memory check proper
    // (Backend::check) then names the free memory.
    constexpr double kMaxFactorElements = 281474976710656.0;  // 2^48
    const double T = static_cast<double>(spec.T), d = static_cast<double>(spec.d),
                 dk = static_cast<double>(spec.dk);
    const double elements =
        2 * T * dk + (spec.input == InputKind::kIsometric ? 0.0 : T * d + 2 * d * dk);
    if (elements > kMaxFactorElements) {
      throw UsageError(fmt::format(
          "{}: the attention factors at T = {}, d = {}, dk = {} hold {:.3g} elements, past the "
          "2^48 any memory holds; lower --d or --dk",
          spec.dk > spec.d ? "--dk" : "--d", spec.T, spec.d, spec.dk, elements));
    }
  }
}

std::optional<double> markov_c(const ModelSpec& spec) {
  if (spec.kind != ModelKind::kMarkov) return std::nullopt;
  return law_info(spec.law).c(spec.beta);
}

std::string to_string(ModelKind v) { return name_of(kModelNames, v); }
std::string to_string(EntryLaw v) { return name_of(kLawNames, v); }
std::string to_string(InputKind v) { return name_of(kInputNames, v); }
std::string to_string(WeightInit v) { return name_of(kInitNames, v); }
std::string to_string(Fix v) { return name_of(kFixNames, v); }
std::string to_string(Precision v) { return name_of(kPrecisionNames, v); }
std::string to_string(LogitsPrecision v) { return name_of(kLogitsNames, v); }

ModelKind parse_model(const std::string& s, const std::string& flag) {
  return parse_name(kModelNames, s, flag);
}
EntryLaw parse_law(const std::string& s, const std::string& flag) {
  return parse_name(kLawNames, s, flag);
}
InputKind parse_input(const std::string& s, const std::string& flag) {
  return parse_name(kInputNames, s, flag);
}
WeightInit parse_init(const std::string& s, const std::string& flag) {
  if (s == "xavier") {
    throw UsageError(fmt::format(
        "{}: 'xavier' is ambiguous: give fan-in (N(0, 1/d), what gapbench called xavier before) "
        "or xavier-normal (N(0, 2/(d + d_k)), PyTorch's xavier_normal_)",
        flag));
  }
  return parse_name(kInitNames, s, flag);
}
WeightInit parse_stored_init(const std::string& s, const std::string& flag) {
  return s == "xavier" ? WeightInit::kFanIn : parse_init(s, flag);
}
Fix parse_fix(const std::string& s, const std::string& flag) {
  return parse_name(kFixNames, s, flag);
}
Precision parse_precision(const std::string& s, const std::string& flag) {
  return parse_name(kPrecisionNames, s, flag);
}
LogitsPrecision parse_logits(const std::string& s, const std::string& flag) {
  return parse_name(kLogitsNames, s, flag);
}

void check_logits(const ModelSpec& spec, Precision precision) {
  if (spec.logits == LogitsPrecision::kFull) return;
  if (spec.kind != ModelKind::kAttention) {
    throw UsageError("--logits: applies only to --model attention (its Q K^T GEMM)");
  }
  if (precision != Precision::kFloat32) {
    throw UsageError(fmt::format(
        "--logits: {} rounds the float32 inputs of the logits GEMM; use --precision float32",
        to_string(spec.logits)));
  }
}

std::string describe(const ModelSpec& spec) {
  if (spec.kind == ModelKind::kMarkov) {
    std::string law = to_string(spec.law);
    if (law_takes_beta(spec.law)) law += fmt::format(" beta={}", spec.beta);
    return fmt::format("markov law={} T={} fix={}", law, spec.T, to_string(spec.fix));
  }
  return fmt::format(
      "attention input={} d={} dk={} beta={} init={}{}{} T={} fix={}", to_string(spec.input),
      spec.d, spec.dk, spec.beta, to_string(spec.init), spec.causal ? " causal" : "",
      spec.logits == LogitsPrecision::kFull ? "" : " logits=" + to_string(spec.logits), spec.T,
      to_string(spec.fix));
}

}  // namespace gapbench
