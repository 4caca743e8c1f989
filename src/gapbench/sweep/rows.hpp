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
inline constexpr const char* kSweepSchema = "gapbench.sweep/2";

struct SweepRow {
  int point = 0;
  std::uint64_t seed = 0;
  PointSpec spec;
  std::string backend;
  MatrixOutcome outcome;  // index, operator, the solve's figures and times
  Metrics metrics;
  std::optional<ReferenceErrors> errors;  // sweeps with --reference
};

// The rows.csv header for a plan whose largest k is `kmax`; sweeps with --reference end with
// the columns reference, max_rel_err and rel_err_s2.
std::vector<std::string> row_columns(int kmax, bool with_reference = false);

// One rows.csv line (with the trailing newline) of a plan whose largest k is `kmax`; the
// reference columns when row.errors is set.
std::string format_row(const SweepRow& row, int kmax);

// The row a rows.csv line holds (its fields by column name). Throws Error naming the column when
// a field does not parse or is missing; fields of the metrics' theory and of the solve that the
// writer leaves empty come back empty (NaN, or no value).
SweepRow parse_row(const RowFields& fields);

// values.csv lines of one matrix.
std::string format_values(int point, std::uint32_t index, const std::vector<double>& values);

// The summary of rows: mean +- sd per point of s1, s2, gap, ratio and the theory columns, with the
// count of converged rows (and the error against the reference, when there is one).
std::string summary_table(const std::vector<SweepRow>& rows);

}  // namespace gapbench
