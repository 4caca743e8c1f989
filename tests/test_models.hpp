// Model specs the test files share: builders, and named cases for parameterised tests.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "gapbench/model.hpp"
#include "gapbench/point.hpp"

namespace gapbench::test {

struct NamedModel {
  std::string name;
  ModelSpec spec;  // T and fix are set per case
};

inline void PrintTo(const NamedModel& m, std::ostream* os) { *os << m.name; }

inline ModelSpec markov(EntryLaw law, double beta = 1.0) {
  ModelSpec s;
  s.kind = ModelKind::kMarkov;
  s.law = law;
  s.beta = beta;
  return s;
}

// dk = 0: dk = d.
inline ModelSpec attention(InputKind input, std::int64_t d, bool causal, std::int64_t dk = 0) {
  ModelSpec s;
  s.kind = ModelKind::kAttention;
  s.input = input;
  s.d = d;
  s.dk = dk > 0 ? dk : d;
  s.beta = 1.0;
  s.causal = causal;
  return s;
}

// d = 0 marks isometric inputs whose width follows T (d = dk = T, the smallest allowed).
inline ModelSpec at(ModelSpec spec, std::int64_t T, Fix fix = Fix::kNone) {
  spec.T = T;
  spec.fix = fix;
  if (spec.kind == ModelKind::kAttention && spec.input == InputKind::kIsometric && spec.d == 0) {
    spec.d = spec.dk = T;
  }
  return spec;
}

// Every markov law and attention with gaussian inputs (d = 24, dk = 16), with and without the
// causal mask, at T: the cases that compare two ways of computing the same matrix.
inline std::vector<NamedModel> every_model_at(std::int64_t T) {
  std::vector<NamedModel> out;
  for (const EntryLaw law :
       {EntryLaw::kExponential, EntryLaw::kLognormal, EntryLaw::kUniform, EntryLaw::kGamma}) {
    out.push_back({"markov_" + to_string(law), at(markov(law), T)});
  }
  out.push_back({"attention_gaussian", at(attention(InputKind::kGaussian, 24, false, 16), T)});
  out.push_back({"attention_causal", at(attention(InputKind::kGaussian, 24, true, 16), T)});
  return out;
}

// The point of a given T x T matrix (Backend::run_matrix, run_resident_matrix): float64, the
// top 4 by `solver` after `fix`, eigenvalues for arnoldi, singular values otherwise.
inline PointSpec given_matrix_point(std::int64_t T, Fix fix, SolverKind solver) {
  PointSpec point;
  point.model.kind = ModelKind::kAttention;
  point.model.T = T;
  point.model.d = point.model.dk = 1;
  point.model.fix = fix;
  point.precision = Precision::kFloat64;
  point.solver.kind = solver;
  point.solver.k = 4;
  point.solver.spectrum = solver == SolverKind::kArnoldi ? Spectrum::kEigen : Spectrum::kSingular;
  return point;
}

}  // namespace gapbench::test
