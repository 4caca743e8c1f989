// Random attention-matrix models (PAPER.md, "Models") and their validation.
//
// A `ModelSpec` names everything that defines a matrix besides its seed and index: the model, its
// parameters, T, the fix and the precision. `validate` turns every impossible combination into a
// UsageError naming the flag to change.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "gapbench/laws.hpp"

namespace gapbench {

enum class ModelKind { kMarkov, kAttention };
enum class InputKind { kGaussian, kIsometric };              // attention inputs X
// W_Q, W_K entries: N(0, 1); N(0, 1/d) (fan-in); N(0, 2/(d + d_k)) (PyTorch's xavier_normal_).
// Before gapbench.sweep/5 and gapbench.propagate/4, fan-in was called `xavier`.
enum class WeightInit { kNormal, kFanIn, kXavierNormal };
// kCenter: A - (1/T) 1 1^T; kDeflate: A - s1 u1 v1^T (the top singular triple removed; applied
// to the operator above the device, solvers/deflate.hpp: the generated matrix is A itself).
enum class Fix { kNone, kCenter, kDeflate };
enum class Precision { kFloat32, kFloat64 };
// The inputs of attention's logits GEMM (Q and K): at the run's precision (full), or rounded to
// nearest at TF32's 10-bit or BF16's 7-bit mantissa, as tensor cores read them (float32 only).
enum class LogitsPrecision { kFull, kTf32, kBf16 };

struct ModelSpec {
  ModelKind kind = ModelKind::kMarkov;
  std::int64_t T = 256;
  Fix fix = Fix::kNone;
  // markov
  EntryLaw law = EntryLaw::kExponential;
  // attention: logits are beta * q.k/sqrt(dk); markov: the law's parameter when it takes one
  // (laws.hpp: lognormal's logits beta * g, gamma's shape)
  double beta = 1.0;
  // attention
  std::int64_t d = 64;
  std::int64_t dk = 64;
  InputKind input = InputKind::kGaussian;
  WeightInit init = WeightInit::kNormal;
  bool causal = false;
  LogitsPrecision logits = LogitsPrecision::kFull;

  bool uses_beta() const { return kind == ModelKind::kAttention || law_takes_beta(law); }
  // Standard deviation of the entries of W_Q and W_K.
  double weight_sigma() const;
};

// The standard deviation of a d x dk weight's entries under `init`.
double init_sigma(WeightInit init, std::int64_t d, std::int64_t dk);

inline constexpr double kMaxBeta = 1e4;

// Throws UsageError naming the flag for: T < 2, beta <= 0, not finite or above kMaxBeta, d < 1,
// dk < 1, isometric inputs with d < T.
void validate(const ModelSpec& spec);

// c = sigma/mu of the entries of M for the random Markov model (PAPER.md), from the law table
// (laws.hpp): lognormal sqrt(exp(beta^2) - 1), exponential 1, uniform 1/sqrt(3), gamma
// 1/sqrt(shape). Empty for attention (no theorem).
std::optional<double> markov_c(const ModelSpec& spec);

// Names used by the CLI and in results files (and their inverses, throwing UsageError naming
// `flag` on an unknown name).
std::string to_string(ModelKind v);
std::string to_string(EntryLaw v);
std::string to_string(InputKind v);
std::string to_string(WeightInit v);
std::string to_string(Fix v);
std::string to_string(Precision v);
std::string to_string(LogitsPrecision v);
ModelKind parse_model(const std::string& s, const std::string& flag = "--model");
EntryLaw parse_law(const std::string& s, const std::string& flag = "--law");
InputKind parse_input(const std::string& s, const std::string& flag = "--input");
// A bare `xavier` is refused (UsageError naming `flag` and the two inits it could mean).
WeightInit parse_init(const std::string& s, const std::string& flag = "--init");
// An init as results files of any schema name it: `xavier` (before gapbench.sweep/5 and
// gapbench.propagate/4) is read as fan-in, which is what it drew.
WeightInit parse_stored_init(const std::string& s, const std::string& flag);
Fix parse_fix(const std::string& s, const std::string& flag = "--fix");
Precision parse_precision(const std::string& s, const std::string& flag = "--precision");
LogitsPrecision parse_logits(const std::string& s, const std::string& flag = "--logits");

// Refuses --logits tf32|bf16 outside attention in float32 (UsageError naming --logits).
void check_logits(const ModelSpec& spec, Precision precision);

// One line describing the model, e.g. "markov law=lognormal beta=0.5 T=1024 fix=none".
std::string describe(const ModelSpec& spec);

}  // namespace gapbench
