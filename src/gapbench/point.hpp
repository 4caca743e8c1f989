// What one measurement is and what it gives: a point (model, precision, solver, operator choice)
// and, per matrix, its outcome. Plain structs: the plan, the results files and the reference
// include this, not the device or the measurement loop.
#pragma once

#include <cstdint>
#include <string>

#include "gapbench/metrics.hpp"
#include "gapbench/model.hpp"
#include "gapbench/solvers/solver_types.hpp"

namespace gapbench {

// How the solvers' products with A are computed: from the dense matrix, or matrix-free (fused:
// tiles of A regenerated in every product, O(T) memory besides the factors), or auto: dense when
// the dense matrix fits in the device's memory, else fused.
enum class OperatorChoice { kDense, kFused, kAuto };
OperatorChoice parse_operator(const std::string& s, const std::string& flag = "--operator");
std::string to_string(OperatorChoice v);

// Everything that defines a measurement of one matrix besides its seed and index.
struct PointSpec {
  ModelSpec model;
  Precision precision = Precision::kFloat64;
  SolverOptions solver;
  OperatorChoice op = OperatorChoice::kDense;
};

struct MatrixOutcome {
  std::uint32_t index = 0;
  OperatorChoice op = OperatorChoice::kDense;  // the operator used: kDense or kFused
  SolveResult solve;
  FrobeniusSums sums;
  double generate_seconds = 0;
  double solve_seconds = 0;
};

}  // namespace gapbench
