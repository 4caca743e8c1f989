#include "gapbench/sweep/rows.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <map>

#include "gapbench/error.hpp"
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
  if (!std::isfinite(sums.frob_sq) || !std::isfinite(sums.frob_perp_sq)) {
    row.status = RowStatus::kNonfiniteMatrix;
  } else if (values.empty() || !std::all_of(values.begin(), values.end(),
                                            [](double v) { return std::isfinite(v); })) {
    row.status = RowStatus::kNonfiniteValues;
  }
  if (row.status == RowStatus::kOk) {
    row.metrics = compute_metrics(spec.model, values, sums);
    return row;
  }
  SolveResult& solve = row.outcome.solve;
  solve.values.clear();
  solve.converged = false;
  solve.residual = solve.residual_estimate = kNaN;
  row.outcome.sums = {kNaN, kNaN};
  row.metrics = {kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, {}, {}, {}, {}};
  return row;
}

std::vector<std::string> row_columns(int kmax, bool with_reference) {
  std::vector<std::string> c = {"point",     "index",  "seed", "model",  "law",     "beta",    "d",
                                "dk",        "input",  "init", "causal", "logits",  "fix",     "T",
                                "precision", "solver", "k",    "tol",    "backend", "operator"};
  for (int i = 1; i <= kmax; ++i) c.push_back(fmt::format("s{}", i));
  for (const char* name :
       {"gap", "ratio", "frob", "frob_perp_sq", "stable_rank", "c", "s1_excess", "edge_ratio",
        "frob_perp_over_c2", "iterations", "restarts", "passes", "residual", "residual_estimate",
        "converged", "status", "generate_s", "solve_s"}) {
    c.push_back(name);
  }
  if (with_reference) {
    for (const char* name : {"reference", "max_rel_err", "rel_err_s2"}) c.push_back(name);
  }
  return c;
}

std::string format_row(const SweepRow& row, int kmax) {
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
      to_string(outcome.op)};
  const std::vector<double>& v = outcome.solve.values;
  for (int i = 0; i < kmax; ++i) {
    f.push_back(i < spec.solver.k && i < static_cast<int>(v.size()) ? num(v[i]) : "");
  }
  const SolveResult& s = outcome.solve;
  for (const std::string& x : std::initializer_list<std::string>{
           num(metrics.gap), num(metrics.ratio), num(metrics.frob), num(metrics.frob_perp_sq),
           num(metrics.stable_rank), num(metrics.c), num(metrics.s1_excess),
           num(metrics.edge_ratio), num(metrics.frob_perp_over_c2), std::to_string(s.iterations),
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
  SolveResult& s = row.outcome.solve;
  for (int i = 1; i <= solver.k; ++i) {
    const std::string column = fmt::format("s{}", i);
    if (fields.count(column) == 0 || f.empty(column)) break;
    s.values.push_back(f.real(column));
  }
  row.status = f.name("status", parse_row_status);
  if (s.values.empty() && row.status == RowStatus::kOk) throw Error("rows.csv: the row has no s1");
  s.iterations = f.integer<int>("iterations");
  s.restarts = f.integer<int>("restarts");
  s.passes = f.integer<std::int64_t>("passes");
  s.residual = f.real("residual");
  s.residual_estimate = f.real("residual_estimate");
  s.converged = f.integer<int>("converged") != 0;
  row.outcome.generate_seconds = f.real("generate_s");
  row.outcome.solve_seconds = f.real("solve_s");
  Metrics& metrics = row.metrics;
  metrics.s1 = s.values.empty() ? kNaN : s.values[0];
  metrics.s2 = s.values.size() > 1 ? s.values[1] : kNaN;
  metrics.gap = f.real("gap");
  metrics.ratio = f.real("ratio");
  metrics.frob = f.real("frob");
  metrics.frob_perp_sq = f.real("frob_perp_sq");
  metrics.stable_rank = f.real("stable_rank");
  metrics.c = f.optional_real("c");
  metrics.s1_excess = f.optional_real("s1_excess");
  metrics.edge_ratio = f.optional_real("edge_ratio");
  metrics.frob_perp_over_c2 = f.optional_real("frob_perp_over_c2");
  row.outcome.sums = {metrics.frob * metrics.frob, metrics.frob_perp_sq};
  if (fields.count("reference")) {
    row.errors = ReferenceErrors{f.text("reference"), f.real("max_rel_err"), f.real("rel_err_s2")};
  }
  return row;
}

std::string row_problem(const RowFields& fields, int point, const PointSpec& spec,
                        std::uint64_t seed, std::uint32_t index, int kmax) {
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
  const std::vector<std::string> want = split(format_row(expected, kmax), ',');
  const std::vector<std::string> columns = row_columns(kmax);
  for (std::size_t i = 0; i < columns.size() && columns[i] != "backend"; ++i) {
    const auto it = fields.find(columns[i]);
    if (it == fields.end() || it->second != want[i]) {
      return fmt::format("plan: column {} is '{}', the point's '{}'", columns[i],
                         it == fields.end() ? "" : it->second, want[i]);
    }
  }
  if (row.status == RowStatus::kOk) {
    if (static_cast<int>(row.outcome.solve.values.size()) != spec.solver.k) {
      return fmt::format("nonfinite: s{} is empty in a row with status ok",
                         row.outcome.solve.values.size() + 1);
    }
  } else if (row.outcome.solve.converged || !row.outcome.solve.values.empty()) {
    return fmt::format("field: a row with status {} has values or converged = 1",
                       to_string(row.status));
  }
  for (int i = spec.solver.k + 1; i <= kmax; ++i) {
    const auto it = fields.find(fmt::format("s{}", i));
    if (it != fields.end() && !it->second.empty()) {
      return fmt::format("field: s{} is set but k = {}", i, spec.solver.k);
    }
  }
  return "";
}

std::string format_values(int point, std::uint32_t index, const std::vector<double>& values) {
  std::string out;
  for (std::size_t r = 0; r < values.size(); ++r) {
    out += fmt::format("{},{},{},{}\n", point, index, r + 1, num(values[r]));
  }
  return out;
}

std::string summary_table(const std::vector<SweepRow>& rows) {
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
  struct Group {
    const SweepRow* label = nullptr;
    Stat s1, s2, gap, ratio, excess, edge, fperp, error;
    int converged = 0, n = 0, failed = 0;
  };
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
    g.s1.add(r.metrics.s1);
    g.s2.add(r.metrics.s2);
    g.gap.add(r.metrics.gap);
    g.ratio.add(r.metrics.ratio);
    g.excess.add(r.metrics.s1_excess);
    g.edge.add(r.metrics.edge_ratio);
    g.fperp.add(r.metrics.frob_perp_over_c2);
    if (r.errors) g.error.add(r.errors->max_rel_err);
    g.converged += r.outcome.solve.converged;
  }
  // Sweeps with --reference add the error against it (max over the top k, relative).
  bool with_error = false;
  for (const auto& [point, g] : groups) with_error = with_error || g.error.n > 0;
  std::string out = fmt::format(
      "\n{:>7} {:<28} {:<6} {:<8} {:<7} {:>3} {:>20} {:>20} {:>20} {:>20} {:>17} {:>17} "
      "{:>17} {:>6} {:>5}{}\n",
      "T", "model", "fix", "solver", "prec", "n", "s1", "s2", "gap s1-s2", "ratio s2/s1",
      "(s1-1)2T/c^2", "sqrtT s_edge/2c", "|A_perp|F^2/c^2", "failed", "conv",
      with_error ? fmt::format(" {:>18}", "max rel err") : "");
  for (const auto& [point, g] : groups) {
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
    out += fmt::format(
        "{:>7} {:<28} {:<6} {:<8} {:<7} {:>3} {:>20} {:>20} {:>20} {:>20} {:>17} {:>17} {:>17} "
        "{:>6} {:>5}{}\n",
        m.T, model, to_string(m.fix), to_string(spec.solver.kind), to_string(spec.precision), g.n,
        g.s1.str(8), g.s2.str(6), g.gap.str(6), g.ratio.str(6), g.excess.str(4), g.edge.str(4),
        g.fperp.str(4), g.failed > 0 ? fmt::format("{}!", g.failed) : "0", conv,
        with_error ? fmt::format(" {:>18}", g.error.str(2)) : "");
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
