// The entry laws of the random Markov model (PAPER.md, "Models"): one row per law, read by
// everything that names a law, checks its parameter or states its theory (model.cpp, the sweep
// plan, the CLI's help, propagate). How an entry of a law is drawn lives in entries.hpp
// (markov_raw_entry). A new law is one enum value and one row here plus its case there.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>

namespace gapbench {

enum class EntryLaw { kLognormal, kExponential, kUniform, kGamma };

struct LawInfo {
  EntryLaw law;
  const char* name;
  // What --beta means for the law ("" when the law takes no parameter).
  const char* beta_means;
  // c = sigma/mu of the law's entries, the constant of the theory (PAPER.md), from beta.
  double (*c)(double beta);
};

namespace detail {
inline double c_lognormal(double beta) { return std::sqrt(std::expm1(beta * beta)); }
inline double c_exponential(double) { return 1.0; }
inline double c_uniform(double) { return 1.0 / std::sqrt(3.0); }
inline double c_gamma(double shape) { return 1.0 / std::sqrt(shape); }
}  // namespace detail

inline constexpr LawInfo kEntryLaws[] = {
    {EntryLaw::kLognormal, "lognormal", "the standard deviation of log M_ij", detail::c_lognormal},
    {EntryLaw::kExponential, "exponential", "", detail::c_exponential},
    {EntryLaw::kUniform, "uniform", "", detail::c_uniform},
    {EntryLaw::kGamma, "gamma", "the shape k (mean k, c = 1/sqrt(k))", detail::c_gamma},
};

inline const LawInfo& law_info(EntryLaw law) {
  for (const LawInfo& info : kEntryLaws) {
    if (info.law == law) return info;
  }
  return kEntryLaws[0];  // unreachable: every law has a row
}

// Whether --beta is a parameter of the law.
inline bool law_takes_beta(EntryLaw law) { return law_info(law).beta_means[0] != '\0'; }

// "lognormal, exponential, uniform or gamma": the laws for help texts.
inline std::string law_names() {
  std::string out;
  constexpr std::size_t n = sizeof kEntryLaws / sizeof kEntryLaws[0];
  for (std::size_t i = 0; i < n; ++i) {
    out += (i == 0 ? "" : i + 1 == n ? " or " : ", ") + std::string(kEntryLaws[i].name);
  }
  return out;
}

// "lognormal: the standard deviation of log M_ij; gamma: the shape k ...": what --beta means for
// each law that takes it, for help texts.
inline std::string law_beta_meanings() {
  std::string out;
  for (const LawInfo& info : kEntryLaws) {
    if (info.beta_means[0] == '\0') continue;
    out += (out.empty() ? "" : "; ") + std::string(info.name) + ": " + info.beta_means;
  }
  return out;
}

}  // namespace gapbench
