#include "gapbench/sweep/rows.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <map>

#include "gapbench/error.hpp"
#include "gapbench/solvers/eigen_values.hpp"
#include "gapbench/text.hpp"

namespace gapbench {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A number in full precision; NaN and Inf are written as an empty field (no value), never as text.
std::string num(double v) {
  if (!std::isfinite(v)) return "";
  return fmt::format("{:.17g}", v);
}
std::string num(const std::optional<double>& v) { return v ? num(*v) : ""; }

// The reader's view of one line: each field by column, parsed strictly.
class Fields {
 public:
  explicit Fields(const RowFields& fields) : m_fields(fields) {}

  const std::string& text(const std::string& column) const {
    const auto it = m_fields.find(column);
    if (it == m_fields.end()) throw Error(fmt::format("rows.csv: no column {}", column));
    return it->second;
  }
  bool empty(const std::string& column) const {
    const auto it = m_fields.find(column);
    return it == m_fields.end() || it->second.empty();
  }
  // A number; an empty field is NaN (the writer's NaN).
  double real(const std::string& column) const {
    const std::string& t = text(column);
    if (t.empty()) return kNaN;
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (end != t.c_str() + t.size()) fail(column);
    return v;
  }
  std::optional<double> optional_real(const std::string& column) const {
    if (empty(column)) return std::nullopt;
    return real(column);
  }
  template <typename Int>
  Int integer(const std::string& column) const {
    const std::string& t = text(column);
    Int v{};
    const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc() || ptr != t.data() + t.size()) fail(column);
    return v;
  }
  // A name read by one of the parse_* functions (which throw UsageError on an unknown name).
  template <typename Parse>
  auto name(const std::string& column, Parse parse) const {
    try {
      return parse(text(column), column);
    } catch (const UsageError&) {
      fail(column);
    }
  }

 private:
  [[noreturn]] void fail(const std::string& column) const {
    throw Error(fmt::format("rows.csv: column {} holds '{}', which is not one of its values",
                            column, text(column)));
  }
  const RowFields& m_fields;
};

}  // namespace

std::string to_string(RowStatus status) {
  switch (status) {
    case RowStatus::kNonfiniteMatrix:
      return "nonfinite-matrix";
    case RowStatus::kNonfiniteValues:
      return "nonfinite-values";
    case RowStatus::kOk:
    default:
      return "ok";
  }
}

RowStatus parse_row_status(const std::string& text, const std::string& flag) {
  for (const RowStatus s :
       {RowStatus::kOk, RowStatus::kNonfiniteMatrix, RowStatus::kNonfiniteValues}) {
    if (text == to_string(s)) return s;
  }
  throw UsageError(
      fmt::format("{}: '{}' is not ok, nonfinite-matrix or nonfinite-values", flag, text));
}

SweepRow make_row(int point, std::uint64_t seed, const PointSpec& spec, std::string backend,
                  MatrixOutcome outcome) {
  SweepRow row{point, seed, spec, std::move(backend), std::move(outcome), {}, {}};
  const FrobeniusSums& sums = row.outcome.sums;
  const std::vector<double>& values = row.outcome.solve.values;
  const std::vector<double>& imag = row.outcome.solve.values_im;
  const auto finite = [](const std::vector<double>& v) {
    return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
  };
  const bool eigen = spec.solver.spectrum == Spectrum::kEigen;
  if (!std::isfinite(sums.frob_sq) || !std::isfinite(sums.frob_perp_sq)) {
    row.status = RowStatus::kNonfiniteMatrix;
  } else if (values.empty() || !finite(values) || !finite(imag) ||
             (eigen && imag.size() != values.size())) {
    row.status = RowStatus::kNonfiniteValues;
  }
  if (row.status == RowStatus::kOk) {
    row.metrics = eigen ? compute_eigen_metrics(spec.model, values, imag, sums)
                        : compute_metrics(spec.model, values, sums);
    return row;
  }
  SolveResult& solve = row.outcome.solve;
  solve.values.clear();
  solve.values_im.clear();
  solve.converged = false;
  solve.residual = solve.residual_estimate = kNaN;
  row.outcome.sums = {kNaN, kNaN};
  row.metrics = no_metrics();
  return row;
}

std::vector<std::string> row_columns(int kmax, bool with_reference, int eigen_values) {
  std::vector<std::string> c = {
      "point",     "index",  "seed", "model", "law",     "beta",     "d",       "dk",
      "input",     "init",   "causal", "logits", "fix",  "T",        "precision", "solver",
      "k",         "tol",    "backend", "operator", "spectrum"};
  for (int i = 1; i <= kmax; ++i) c.push_back(fmt::format("s{}", i));
  for (int i = 1; i <= eigen_values; ++i) {
    c.push_back(fmt::format("lambda{}_re", i));
    c.push_back(fmt::format("lambda{}_im", i));
  }
  for (const char* name :
       {"gap", "ratio", "frob", "frob_perp_sq", "stable_rank", "c", "s1_excess", "edge_ratio",
        "frob_perp_over_c2", "lambda1_dist", "abs_lambda2", "eigen_gap", "eigen_edge_ratio",
        "iterations", "restarts", "passes", "residual", "residual_estimate", "converged",
        "status", "generate_s", "solve_s"}) {
    c.push_back(name);
  }
  if (with_reference) {
    for (const char* name : {"reference", "max_rel_err", "rel_err_s2"}) c.push_back(name);
  }
  return c;
}

std::string format_row(const SweepRow& row, int kmax, int eigen_values) {
  const PointSpec& spec = row.spec;
  const ModelSpec& m = spec.model;
  const MatrixOutcome& outcome = row.outcome;
  const Metrics& metrics = row.metrics;
  const bool attention = m.kind == ModelKind::kAttention;
  // tol is a setting of the iterative solvers; residuals come from them and from gesvda.
  const bool iterative = is_iterative(spec.solver.kind);
  const bool residual = iterative || spec.solver.kind == SolverKind::kGesvda;
  std::vector<std::string> f = {
      std::to_string(row.point),
      std::to_string(outcome.index),
      std::to_string(row.seed),
      to_string(m.kind),
      attention ? "" : to_string(m.law),
      m.uses_beta() ? num(m.beta) : "",
      attention ? std::to_string(m.d) : "",
      attention ? std::to_string(m.dk) : "",
      attention ? to_string(m.input) : "",
      attention ? to_string(m.init) : "",
      attention ? (m.causal ? "1" : "0") : "",
      attention ? to_string(m.logits) : "",
      to_string(m.fix),
      std::to_string(m.T),
      to_string(spec.precision),
      to_string(spec.solver.kind),
      std::to_string(spec.solver.k),
      iterative ? num(spec.solver.tol > 0 ? spec.solver.tol : default_tol(spec.precision)) : "",
      row.backend,
      to_string(outcome.op),
      to_string(spec.solver.spectrum)};
  const bool eigen = spec.solver.spectrum == Spectrum::kEigen;
  const std::vector<double>& v = outcome.solve.values;
  const std::vector<double>& im = outcome.solve.values_im;
  // The top k (all of them are in values.csv with --all-values); eigen: a pair taken whole.
  const int n = std::min(static_cast<int>(v.size()),
                         eigen ? eigen_count(im, spec.solver.k) : spec.solver.k);
  for (int i = 0; i < kmax; ++i) f.push_back(!eigen && i < n ? num(v[i]) : "");
  for (int i = 0; i < eigen_values; ++i) {
    const bool set = eigen && i < n && i < static_cast<int>(im.size());
    f.push_back(set ? num(v[i]) : "");
    f.push_back(set ? num(im[i]) : "");
  }
  const SolveResult& s = outcome.solve;
  for (const std::string& x : std::initializer_list<std::string>{
           num(metrics.gap), num(metrics.ratio), num(metrics.frob), num(metrics.frob_perp_sq),
           num(metrics.stable_rank), num(metrics.c), num(metrics.s1_excess),
           num(metrics.edge_ratio), num(metrics.frob_perp_over_c2), num(metrics.lambda1_dist),
           num(metrics.abs_lambda2), num(metrics.eigen_gap), num(metrics.eigen_edge_ratio),
           std::to_string(s.iterations),
           std::to_string(s.restarts), std::to_string(s.passes), residual ? num(s.residual) : "",
           residual ? num(s.residual_estimate) : "", std::string(s.converged ? "1" : "0"),
           to_string(row.status), num(outcome.generate_seconds), num(outcome.solve_seconds)}) {
    f.push_back(x);
  }
  if (row.errors) {  // NaN: no error to give (reference_errors says when), an empty field
    f.push_back(row.errors->reference);
    f.push_back(num(row.errors->max_rel_err));
    f.push_back(num(row.errors->rel_err_s2));
  }
  return csv_line(f);
}

SweepRow parse_row(const RowFields& fields) {
  const Fields f(fields);
  SweepRow row;
  row.point = f.integer<int>("point");
  row.outcome.index = f.integer<std::uint32_t>("index");
  row.seed = f.integer<std::uint64_t>("seed");
  ModelSpec& m = row.spec.model;
  m.kind = f.name("model", parse_model);
  m.T = f.integer<std::int64_t>("T");
  m.fix = f.name("fix", parse_fix);
  if (m.kind == ModelKind::kMarkov) {
    m.law = f.name("law", parse_law);
  } else {
    m.d = f.integer<std::int64_t>("d");
    m.dk = f.integer<std::int64_t>("dk");
    m.input = f.name("input", parse_input);
    m.init = f.name("init", parse_init);
    m.causal = f.integer<int>("causal") != 0;
    m.logits = f.name("logits", parse_logits);
  }
  if (m.uses_beta()) m.beta = f.real("beta");
  row.spec.precision = f.name("precision", parse_precision);
  SolverOptions& solver = row.spec.solver;
  solver.kind = f.name("solver", parse_solver);
  solver.k = f.integer<int>("k");
  if (is_iterative(solver.kind)) solver.tol = f.real("tol");
  row.backend = f.text("backend");
  row.outcome.op = f.name("operator", parse_operator);
  // Absent before schema 4: singular values.
  solver.spectrum =
      fields.count("spectrum") ? f.name("spectrum", parse_spectrum) : Spectrum::kSingular;
  const bool eigen = solver.spectrum == Spectrum::kEigen;
  SolveResult& s = row.outcome.solve;
  // Eigen rows hold k values, or k + 1 when a conjugate pair was taken whole.
  for (int i = 1; i <= (eigen ? solver.k + 1 : solver.k); ++i) {
    const std::string column = eigen ? fmt::format("lambda{}_re", i) : fmt::format("s{}", i);
    if (fields.count(column) == 0 || f.empty(column)) break;
    s.values.push_back(f.real(column));
    if (eigen) s.values_im.push_back(f.real(fmt::format("lambda{}_im", i)));
  }
  row.status = f.name("status", parse_row_status);
  if (s.values.empty() && row.status == RowStatus::kOk) {
    throw Error(fmt::format("rows.csv: the row has no {}", eigen ? "lambda1_re" : "s1"));
  }
  s.iterations = f.integer<int>("iterations");
  s.restarts = f.integer<int>("restarts");
  s.passes = f.integer<std::int64_t>("passes");
  s.residual = f.real("residual");
  s.residual_estimate = f.real("residual_estimate");
  s.converged = f.integer<int>("converged") != 0;
  row.outcome.generate_seconds = f.real("generate_s");
  row.outcome.solve_seconds = f.real("solve_s");
  Metrics& metrics = row.metrics;
  metrics.s1 = s.values.empty() || eigen ? kNaN : s.values[0];
  metrics.s2 = s.values.size() > 1 && !eigen ? s.values[1] : kNaN;
  metrics.gap = f.real("gap");
  metrics.ratio = f.real("ratio");
  metrics.frob = f.real("frob");
  metrics.frob_perp_sq = f.real("frob_perp_sq");
  metrics.stable_rank = f.real("stable_rank");
  metrics.c = f.optional_real("c");
  metrics.s1_excess = f.optional_real("s1_excess");
  metrics.edge_ratio = f.optional_real("edge_ratio");
  metrics.frob_perp_over_c2 = f.optional_real("frob_perp_over_c2");
  // Absent before schema 4: NaN, as in a singular row.
  const auto real_or_nan = [&](const char* column) {
    return fields.count(column) ? f.real(column) : kNaN;
  };
  metrics.lambda1_dist = real_or_nan("lambda1_dist");
  metrics.abs_lambda2 = real_or_nan("abs_lambda2");
  metrics.eigen_gap = real_or_nan("eigen_gap");
  if (fields.count("eigen_edge_ratio")) metrics.eigen_edge_ratio = f.optional_real("eigen_edge_ratio");
  row.outcome.sums = {metrics.frob * metrics.frob, metrics.frob_perp_sq};
  if (fields.count("reference")) {
    row.errors = ReferenceErrors{f.text("reference"), f.real("max_rel_err"), f.real("rel_err_s2")};
  }
  return row;
}

std::string row_problem(const RowFields& fields, int point, const PointSpec& spec,
                        std::uint64_t seed, std::uint32_t index, int kmax, int eigen_values) {
  for (const auto& [column, text] : fields) {  // "nan", "inf", "1e999": never written
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (!text.empty() && end == text.c_str() + text.size() && !std::isfinite(v)) {
      return fmt::format("nonfinite: column {} holds '{}'", column, text);
    }
  }
  SweepRow row;
  try {
    row = parse_row(fields);
  } catch (const Error& e) {
    return fmt::format("field: {}", e.what());
  }
  // The columns that say which matrix the row is of, against the point's own.
  SweepRow expected;
  expected.point = point;
  expected.seed = seed;
  expected.spec = spec;
  expected.outcome.index = index;
  const std::vector<std::string> want = split(format_row(expected, kmax, eigen_values), ',');
  const std::vector<std::string> columns = row_columns(kmax, false, eigen_values);
  // The plan's columns: those before `backend`, and `spectrum`.
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == "backend" || columns[i] == "operator") continue;
    const auto it = fields.find(columns[i]);
    if (it == fields.end() || it->second != want[i]) {
      return fmt::format("plan: column {} is '{}', the point's '{}'", columns[i],
                         it == fields.end() ? "" : it->second, want[i]);
    }
    if (columns[i] == "spectrum") break;
  }
  const bool eigen = spec.solver.spectrum == Spectrum::kEigen;
  const SolveResult& solve = row.outcome.solve;
  const int n = static_cast<int>(solve.values.size());
  if (row.status == RowStatus::kOk) {
    // Eigen: k values, or k + 1 when the k-th opens a conjugate pair (eigen_count).
    const int wanted = eigen ? eigen_count(solve.values_im, spec.solver.k) : spec.solver.k;
    if (n != wanted) {
      return fmt::format("nonfinite: {}{} is empty in a row with status ok",
                         eigen ? "lambda" : "s", n + 1);
    }
  } else if (solve.converged || n > 0) {
    return fmt::format("field: a row with status {} has values or converged = 1",
                       to_string(row.status));
  }
  // Value columns past the row's own, or of the other spectrum, are empty.
  for (const std::string& column : columns) {
    int i = 0;
    const bool s_column =
        std::sscanf(column.c_str(), "s%d", &i) == 1 && column == fmt::format("s{}", i);
    const bool lambda_column = std::sscanf(column.c_str(), "lambda%d_", &i) == 1 &&
                               (column == fmt::format("lambda{}_re", i) ||
                                column == fmt::format("lambda{}_im", i));
    const bool own = eigen ? lambda_column && i <= n : s_column && i <= spec.solver.k;
    if (!(s_column || lambda_column) || own) continue;
    const auto it = fields.find(column);
    if (it != fields.end() && !it->second.empty()) {
      return fmt::format("field: {} is set but the row holds {} {} values", column,
                         eigen ? n : spec.solver.k, to_string(spec.solver.spectrum));
    }
  }
  return "";
}

std::string format_values(int point, std::uint32_t index, const std::vector<double>& values,
                          const std::vector<double>& imag) {
  std::string out;
  for (std::size_t r = 0; r < values.size(); ++r) {
    out += fmt::format("{},{},{},{},{}\n", point, index, r + 1, num(values[r]),
                       r < imag.size() ? num(imag[r]) : "");
  }
  return out;
}

namespace {

struct Stat {
  double sum = 0, sq = 0;
  int n = 0;
  void add(double v) {
    if (std::isnan(v)) return;  // an empty field: no value
    sum += v;
    sq += v * v;
    ++n;
  }
  void add(const std::optional<double>& v) {
    if (v) add(*v);
  }
  std::string str(int precision) const {
    if (n == 0) return "-";
    const double mean = sum / n;
    const double sd = n > 1 ? std::sqrt(std::max(0.0, (sq - n * mean * mean) / (n - 1))) : 0;
    return fmt::format("{:.{}g}±{:.2g}", mean, precision, sd);
  }
};

// One point's rows in the summary. Singular: s1, s2, gap, ratio, (s1-1)2T/c^2, the edge ratio.
// Eigen: |lambda1|, |lambda2|, 1 - |lambda2|, |lambda1 - 1|, nothing, the eigen edge ratio.
struct Group {
  const SweepRow* label = nullptr;
  Stat v1, v2, gap, ratio, excess, edge, fperp, error;
  int converged = 0, n = 0, failed = 0;

  void add(const SweepRow& r) {
    const Metrics& m = r.metrics;
    if (r.spec.solver.spectrum == Spectrum::kEigen) {
      const SolveResult& v = r.outcome.solve;
      v1.add(std::hypot(v.values.at(0), v.values_im.at(0)));
      v2.add(m.abs_lambda2);
      gap.add(m.eigen_gap);
      ratio.add(m.lambda1_dist);
      edge.add(m.eigen_edge_ratio);
    } else {
      v1.add(m.s1);
      v2.add(m.s2);
      gap.add(m.gap);
      ratio.add(m.ratio);
      excess.add(m.s1_excess);
      edge.add(m.edge_ratio);
    }
    fperp.add(m.frob_perp_over_c2);
    if (r.errors) error.add(r.errors->max_rel_err);
    converged += r.outcome.solve.converged;
  }
};

constexpr const char* kSummaryFormat =
    "{:>7} {:<28} {:<6} {:<8} {:<7} {:>3} {:>20} {:>20} {:>20} {:>20} {:>17} {:>17} {:>17} "
    "{:>6} {:>5}{}\n";

std::string summary_header(Spectrum spectrum, bool with_error) {
  const bool eigen = spectrum == Spectrum::kEigen;
  return fmt::format(
      fmt::runtime(std::string("\n") + kSummaryFormat), "T", "model", "fix", "solver", "prec", "n",
      eigen ? "|lambda1|" : "s1", eigen ? "|lambda2|" : "s2", eigen ? "1-|lambda2|" : "gap s1-s2",
      eigen ? "|lambda1-1|" : "ratio s2/s1", eigen ? "" : "(s1-1)2T/c^2",
      eigen ? "sqrtT|l_edge|/c" : "sqrtT s_edge/2c", "|A_perp|F^2/c^2", "failed", "conv",
      with_error ? fmt::format(" {:>18}", "max rel err") : "");
}

std::string summary_line(const Group& g, bool with_error) {
  const PointSpec& spec = g.label->spec;
  const ModelSpec& m = spec.model;
  std::string model = to_string(m.kind);
  if (m.kind == ModelKind::kMarkov) {
    model += fmt::format(" {}{}", to_string(m.law),
                         m.uses_beta() ? fmt::format(" b={}", num(m.beta)) : std::string());
  } else {
    model += fmt::format(" {} d={} dk={} b={}{}", to_string(m.input), m.d, m.dk, num(m.beta),
                         m.causal ? " causal" : "");
  }
  const int solved = g.n - g.failed;
  const std::string conv = g.converged == solved ? fmt::format("{}/{}", g.converged, solved)
                                                 : fmt::format("{}/{}!", g.converged, solved);
  const bool eigen = spec.solver.spectrum == Spectrum::kEigen;
  return fmt::format(fmt::runtime(kSummaryFormat), m.T, model, to_string(m.fix),
                     to_string(spec.solver.kind), to_string(spec.precision), g.n, g.v1.str(8),
                     g.v2.str(6), g.gap.str(6), g.ratio.str(eigen ? 3 : 6),
                     eigen ? "" : g.excess.str(4), g.edge.str(4), g.fperp.str(4),
                     g.failed > 0 ? fmt::format("{}!", g.failed) : "0", conv,
                     with_error ? fmt::format(" {:>18}", g.error.str(2)) : "");
}

}  // namespace

std::string summary_table(const std::vector<SweepRow>& rows) {
  std::map<RowStatus, int> failures;
  std::map<int, Group> groups;
  for (const SweepRow& r : rows) {
    Group& g = groups[r.point];
    g.label = &r;
    ++g.n;
    if (r.status != RowStatus::kOk) {  // no values: counted, not averaged
      ++g.failed;
      ++failures[r.status];
      continue;
    }
    g.add(r);
  }
  // Sweeps with --reference add the error against it (max over the top k, relative).
  bool with_error = false;
  for (const auto& [point, g] : groups) with_error = with_error || g.error.n > 0;
  // One table per spectrum present, singular values first.
  std::string out;
  for (const Spectrum spectrum : {Spectrum::kSingular, Spectrum::kEigen}) {
    std::string lines;
    for (const auto& [point, g] : groups) {
      if (g.label->spec.solver.spectrum == spectrum) lines += summary_line(g, with_error);
    }
    if (!lines.empty()) out += summary_header(spectrum, with_error) + lines;
  }
  int not_converged = 0, failed = 0;
  for (const auto& [point, g] : groups) {
    not_converged += g.n - g.failed - g.converged;
    failed += g.failed;
  }
  if (failed > 0) {
    std::string why;
    for (const auto& [status, n] : failures) {
      why += fmt::format("{}{} {}", why.empty() ? "" : ", ", n, to_string(status));
    }
    out += fmt::format(
        "WARNING: {} rows failed ({}: a NaN or Inf in the matrix or its values; status in "
        "rows.csv, no values, not in the means)\n",
        failed, why);
  }
  if (not_converged > 0) {
    out += fmt::format("WARNING: {} rows did not converge (converged = 0 in rows.csv; marked !)\n",
                       not_converged);
  }
  return out;
}

}  // namespace gapbench
