// The rows of a sweep, typed: one SweepRow per matrix, which the rows.csv writer writes, the
// reader reads back (resume) and the summary table reads. results/README.md states the columns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gapbench/metrics.hpp"
#include "gapbench/point.hpp"
#include "gapbench/sweep/reference.hpp"
#include "gapbench/sweep/results.hpp"

namespace gapbench {

// 2: rows.csv gained the `operator` (dense or fused) and `logits` (full, tf32, bf16) columns;
// sweeps with --reference end their rows with `reference`, `max_rel_err` and `rel_err_s2`.
// 3: rows.csv gained `status` (after `converged`): a matrix whose generation or solve gave a NaN
// or Inf is a failed row (empty values and metrics, converged 0); no NaN or Inf is ever written.
// 4: --spectrum: rows.csv gained `spectrum` (after `operator`), the eigenvalue columns
// lambda<i>_re, lambda<i>_im (after the s<i>; only in plans with eigen points) and the eigen
// metrics lambda1_dist, abs_lambda2, eigen_gap, eigen_edge_ratio (after frob_perp_over_c2);
// values.csv gained value_im.
// 5: --init names the three inits for what they draw: normal, fan-in (N(0, 1/d), called
// `xavier` before, which readers take as fan-in) and xavier-normal (N(0, 2/(d + dk))).
inline constexpr const char* kSweepSchema = "gapbench.sweep/5";

// A row's `status`: ok, or why the matrix has no values (a NaN or Inf in the generated matrix,
// seen in its Frobenius sums, or in the computed singular values).
enum class RowStatus { kOk, kNonfiniteMatrix, kNonfiniteValues };
std::string to_string(RowStatus status);
RowStatus parse_row_status(const std::string& text, const std::string& flag);

struct SweepRow {
  int point = 0;
  std::uint64_t seed = 0;
  PointSpec spec;
  std::string backend;
  MatrixOutcome outcome;  // index, operator, the solve's figures and times
  Metrics metrics;
  std::optional<ReferenceErrors> errors;  // sweeps with --reference
  RowStatus status = RowStatus::kOk;
};

// The row of one computed matrix: its metrics, or, when the matrix or its values hold a NaN or
// Inf, a failed row (status says which; no values, metrics NaN, converged 0). The one place the
// non-finite guard is applied.
SweepRow make_row(int point, std::uint64_t seed, const PointSpec& spec, std::string backend,
                  MatrixOutcome outcome);

// Why the rows.csv row `fields` is not one that point `point` (spec `spec`, plan seed `seed`)
// writes for matrix `index` of a plan whose largest k is `kmax`, as "class: detail": "nonfinite"
// (a NaN or Inf, or an ok row without s1..sk), "field" (a field that does not parse), "plan"
// (a plan column that differs from the point's); "" when it is one.
// `eigen_values`: the plan's lambda columns (max_eigen_values), as below.
std::string row_problem(const RowFields& fields, int point, const PointSpec& spec,
                        std::uint64_t seed, std::uint32_t index, int kmax, int eigen_values = 0);

// The rows.csv header for a plan whose largest k is `kmax` and whose eigen points fill at most
// `eigen_values` lambda columns (max_eigen_values; 0 without eigen points); sweeps with
// --reference end with the columns reference, max_rel_err and rel_err_s2.
std::vector<std::string> row_columns(int kmax, bool with_reference = false,
                                     int eigen_values = 0);

// One rows.csv line (with the trailing newline) of a plan whose largest k is `kmax` (and
// `eigen_values` lambda columns); the reference columns when row.errors is set.
std::string format_row(const SweepRow& row, int kmax, int eigen_values = 0);

// The row a rows.csv line holds (its fields by column name). Throws Error naming the column when
// a field does not parse or is missing; fields of the metrics' theory and of the solve that the
// writer leaves empty come back empty (NaN, or no value).
SweepRow parse_row(const RowFields& fields);

// values.csv lines of one matrix: point,index,rank,value,value_im (value_im empty for singular
// values, `imag` empty).
std::string format_values(int point, std::uint32_t index, const std::vector<double>& values,
                          const std::vector<double>& imag = {});

// The summary of rows: mean +- sd per point of s1, s2, gap, ratio and the theory columns over the
// rows that did not fail, with the counts of failed rows and of converged ones among the others
// (and the error against the reference, when there is one); WARNING lines for failed and
// unconverged rows.
std::string summary_table(const std::vector<SweepRow>& rows);

}  // namespace gapbench
