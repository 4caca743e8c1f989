// Eigenvalue spectra (--spectrum eigen): the one order every eigen solver returns (pairs whole),
// LAPACK geev through the measurement loop against PAPER.md's facts (lambda1 = 1 for a
// row-stochastic A, no outlier left in A_perp, the circular law's edge), causal attention's
// eigenvalues as its diagonal (dense and fused) against geev, the plan's spectrum axis and its
// refusals, and the rows.csv / values.csv schema 4 round trip.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "gapbench/backend.hpp"
#include "gapbench/cpu/cpu_device.hpp"
#include "gapbench/cpu/fused_operator.hpp"
#include "gapbench/cpu/generate.hpp"
#include "gapbench/error.hpp"
#include "gapbench/solvers/eigen_values.hpp"
#include "gapbench/sweep/plan.hpp"
#include "gapbench/sweep/results.hpp"
#include "gapbench/sweep/rows.hpp"
#include "gapbench/sweep/runner.hpp"
#include "gapbench/text.hpp"
#include "test_models.hpp"
#include "test_support.hpp"

namespace gapbench {
namespace {

namespace fs = std::filesystem;
using test::at;
using test::attention;
using test::markov;

using Complex = std::complex<double>;

std::vector<Complex> as_complex(const SolveResult& r) {
  std::vector<Complex> out;
  for (std::size_t i = 0; i < r.values.size(); ++i) out.emplace_back(r.values[i], r.values_im.at(i));
  return out;
}

PointSpec eigen_point(const ModelSpec& model, SolverKind kind, int k, bool all_values = false,
                      Precision precision = Precision::kFloat64) {
  PointSpec p;
  p.model = model;
  p.precision = precision;
  p.solver.kind = kind;
  p.solver.k = k;
  p.solver.all_values = all_values;
  p.solver.spectrum = Spectrum::kEigen;
  p.op = OperatorChoice::kDense;
  return p;
}

// Matrix `index` of `point` under seed 5, through the CPU backend's measurement loop.
SolveResult solve(const PointSpec& point, std::uint32_t index = 0) {
  static BackendSelection sel = make_backend(BackendChoice::kCpu, 0);
  sel.backend->check(point);
  std::vector<MatrixOutcome> out = sel.backend->run_batch(point, 5, {index});
  EXPECT_EQ(out.size(), 1u);
  return out.front().solve;
}

// Runs `f`, expecting a UsageError whose message starts with `flag`.
template <typename F>
void expect_refused(F f, const std::string& flag) {
  try {
    f();
    ADD_FAILURE() << "expected a UsageError naming " << flag;
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(flag, 0), 0u) << e.what();
  }
}

// ---- the order ---------------------------------------------------------------------------------

TEST(EigenOrder, ByModulusWithPairsAdjacentPositiveImaginaryFirst) {
  SolveResult r;
  // 0.5, a pair of modulus 0.5 (0.3 +- 0.4i), -0.9, 0.1; a tie in modulus with 0.5.
  keep_top_eigenvalues({0.5, 0.3, -0.9, 0.3, 0.1}, {0, -0.4, 0, 0.4, 0}, 5, false, r);
  const std::vector<double> re = {-0.9, 0.5, 0.3, 0.3, 0.1};
  const std::vector<double> im = {0, 0, 0.4, -0.4, 0};
  EXPECT_EQ(r.values, re);
  EXPECT_EQ(r.values_im, im);
}

TEST(EigenOrder, AKThatWouldSplitAPairTakesItWhole) {
  SolveResult r;
  keep_top_eigenvalues({1.0, 0.2, 0.2, 0.1}, {0, 0.3, -0.3, 0}, 2, false, r);
  ASSERT_EQ(r.values.size(), 3u) << "k = 2 ends on the first of a pair: the pair is taken whole";
  EXPECT_EQ(r.values_im[1], 0.3);
  EXPECT_EQ(r.values_im[2], -0.3);
  keep_top_eigenvalues({1.0, 0.2, 0.2, 0.1}, {0, 0.3, -0.3, 0}, 3, false, r);
  EXPECT_EQ(r.values.size(), 3u) << "k = 3 ends on the pair's second: nothing more";
  keep_top_eigenvalues({1.0, 0.2, 0.2, 0.1}, {0, 0.3, -0.3, 0}, 1, false, r);
  EXPECT_EQ(r.values.size(), 1u);
  keep_top_eigenvalues({1.0, 0.2, 0.2, 0.1}, {0, 0.3, -0.3, 0}, 1, true, r);
  EXPECT_EQ(r.values.size(), 4u) << "all_values keeps every one";
}

// ---- geev against PAPER.md ---------------------------------------------------------------------

// A row-stochastic A has A 1 = 1: lambda1 = 1 to rounding (1e-12 in float64, T <= 1000).
TEST(EigenExact, TheOutlierOfARowStochasticMatrixIsOne) {
  for (const std::int64_t T : {64, 257, 1000}) {
    for (const ModelSpec& model : {at(markov(EntryLaw::kExponential), T),
                                   at(markov(EntryLaw::kLognormal, 0.5), T),
                                   at(attention(InputKind::kGaussian, 64, false), T)}) {
      const SolveResult r = solve(eigen_point(model, SolverKind::kExact, 4));
      ASSERT_GE(r.values.size(), 4u);
      EXPECT_NEAR(r.values[0], 1.0, 1e-12) << describe(model);
      EXPECT_EQ(r.values_im[0], 0.0) << describe(model);
      EXPECT_LT(std::hypot(r.values[1], r.values_im[1]), 0.9) << describe(model);
    }
  }
}

// The fix maps the outlier to 0 and keeps the rest: A_perp's eigenvalues are A's with 1 -> 0
// (to 1e-10 here), and none is within 0.5 of 1.
TEST(EigenExact, TheFixRemovesTheOutlierAndKeepsTheRest) {
  for (const std::int64_t T : {64, 257}) {
    const ModelSpec none = at(markov(EntryLaw::kExponential), T);
    const ModelSpec center = at(markov(EntryLaw::kExponential), T, Fix::kCenter);
    const SolveResult a = solve(eigen_point(none, SolverKind::kExact, 1, true));
    const SolveResult p = solve(eigen_point(center, SolverKind::kExact, 1, true));
    ASSERT_EQ(a.values.size(), static_cast<std::size_t>(T));
    ASSERT_EQ(p.values.size(), static_cast<std::size_t>(T));
    for (const Complex z : as_complex(p)) EXPECT_GT(std::abs(z - 1.0), 0.5) << "T = " << T;
    // A's eigenvalues but the first, against A_perp's but its smallest (the 0 the outlier became).
    const std::vector<Complex> ca = as_complex(a), cp = as_complex(p);
    EXPECT_LT(std::abs(cp.back()), 1e-10);
    for (std::size_t i = 1; i < ca.size(); ++i) {
      EXPECT_LT(std::abs(ca[i] - cp[i - 1]), 1e-10) << "T = " << T << ", eigenvalue " << i;
    }
  }
}

// The circular law: sqrt(T) |lambda2| / c -> 1 (about 1.02 at T = 2048, exponential entries,
// c = 1); 4 seeds, each within 5%. By arnoldi (its |lambda2| agrees with geev's to ~1e-8 here,
// test_arnoldi), which takes 0.5 s a matrix where geev takes 4.
TEST(EigenExact, TheBulkEdgeFollowsTheCircularLaw) {
  const std::int64_t T = 2048;
  const PointSpec point =
      eigen_point(at(markov(EntryLaw::kExponential), T), SolverKind::kArnoldi, 2);
  for (std::uint32_t seed = 0; seed < 4; ++seed) {
    const SolveResult r = solve(point, seed);
    const double edge = std::sqrt(static_cast<double>(T)) * std::hypot(r.values[1], r.values_im[1]);
    EXPECT_NEAR(edge, 1.0, 0.05) << "matrix " << seed;
  }
}

// ---- causal attention: the diagonal --------------------------------------------------------

// Lower triangular: the eigenvalues are the diagonal entries. The diagonal solver (dense and
// fused), geev, and the generated matrix's own diagonal agree: to 1e-10 (float64) and 1e-5
// (float32) for A itself. A_perp is no longer triangular, and its eigenvalues (A's, with 1 -> 0)
// are ill-conditioned (clustered diagonal entries of a non-normal matrix): float64 geev misses
// them by up to 2.2e-6 at T = 257 (measured; hence 1e-4 there), and float32 geev splits clusters
// into complex pairs 0.03 to 0.09 away, so A_perp in float32 is checked against the float64
// diagonal instead (1e-5): the diagonal rule is exact, geev is not the reference there.
TEST(EigenCausal, TheDiagonalIsTheSpectrum) {
  for (const Precision precision : {Precision::kFloat64, Precision::kFloat32}) {
    const bool f64 = precision == Precision::kFloat64;
    for (const std::int64_t T : {64, 257}) {
      for (const Fix fix : {Fix::kNone, Fix::kCenter}) {
        const double tol = fix == Fix::kNone ? (f64 ? 1e-10 : 1e-5) : (f64 ? 1e-4 : 1e-5);
        const bool against_f64 = !f64 && fix == Fix::kCenter;
        const ModelSpec model = at(attention(InputKind::kGaussian, 32, true), T, fix);
        const SolveResult exact =
            against_f64 ? solve(eigen_point(model, SolverKind::kDiagonal, 6))
                        : solve(eigen_point(model, SolverKind::kExact, 6, false, precision));
        PointSpec diagonal = eigen_point(model, SolverKind::kDiagonal, 6, false, precision);
        const SolveResult dense = solve(diagonal);
        diagonal.op = OperatorChoice::kFused;
        const SolveResult fused = solve(diagonal);
        ASSERT_EQ(dense.values.size(), 6u);
        ASSERT_EQ(fused.values.size(), 6u);
        for (std::size_t i = 0; i < 6; ++i) {
          EXPECT_NEAR(dense.values[i], exact.values.at(i), tol) << T << " " << to_string(fix);
          EXPECT_NEAR(std::abs(exact.values_im.at(i)), 0.0, tol);
          EXPECT_NEAR(fused.values[i], dense.values[i], f64 ? 1e-12 : 1e-6);
          EXPECT_EQ(dense.values_im[i], 0.0);
        }
        if (fix == Fix::kNone) {
          EXPECT_EQ(dense.values[0], 1.0) << "the first row is e_1";
        }
      }
    }
  }
  // The diagonal entries themselves, from the generated matrix.
  const ModelSpec model = at(attention(InputKind::kGaussian, 32, true), 100);
  const std::vector<double> a = cpu::generate_dense<double>(model, 5, 0);
  std::vector<double> diag;
  for (std::int64_t i = 0; i < 100; ++i) diag.push_back(a[static_cast<std::size_t>(i * 100 + i)]);
  std::sort(diag.begin(), diag.end(), std::greater<>());
  const SolveResult r = solve(eigen_point(model, SolverKind::kDiagonal, 1, true));
  ASSERT_EQ(r.values.size(), 100u);
  for (std::size_t i = 0; i < 100; ++i) EXPECT_EQ(r.values[i], diag[i]);
}

// ---- --fix deflate -------------------------------------------------------------------------------

SolveResult solve_singular(const ModelSpec& model, SolverKind kind, OperatorChoice op, int k,
                           Precision precision = Precision::kFloat64) {
  PointSpec p = eigen_point(model, kind, k, false, precision);
  p.solver.spectrum = Spectrum::kSingular;
  p.op = op;
  return solve(p);
}

// Deflation removes the top singular triple and leaves the rest: the singular values of
// A - s1 u1 v1^T are s2, s3, ... of A (exact: 1e-12 relative in float64); lanczos and rsvd on the
// deflated dense and fused operators agree with exact (1e-9 relative: their tolerance 1e-8
// gives values to ~1e-14 once separated, but the deflated bulk is a cluster).
TEST(Deflate, LeavesTheOtherSingularValuesAsTheyWere) {
  for (const std::int64_t T : {64, 257}) {
    for (const ModelSpec& base : {markov(EntryLaw::kExponential),
                                  attention(InputKind::kGaussian, 32, false),
                                  attention(InputKind::kGaussian, 32, true)}) {
      const ModelSpec none = at(base, T), deflate = at(base, T, Fix::kDeflate);
      const SolveResult a = solve_singular(none, SolverKind::kExact, OperatorChoice::kDense, 5);
      const SolveResult d = solve_singular(deflate, SolverKind::kExact, OperatorChoice::kDense, 4);
      ASSERT_EQ(d.values.size(), 4u);
      EXPECT_NEAR(d.deflated, a.values[0], 1e-12 * a.values[0]) << describe(deflate);
      for (std::size_t i = 0; i < 4; ++i) {
        EXPECT_NEAR(d.values[i], a.values[i + 1], 1e-12 * a.values[i + 1]) << describe(deflate);
      }
      for (const SolverKind kind : {SolverKind::kLanczos, SolverKind::kRsvd}) {
        for (const OperatorChoice op : {OperatorChoice::kDense, OperatorChoice::kFused}) {
          const SolveResult it = solve_singular(deflate, kind, op, 3);
          EXPECT_TRUE(it.converged);
          for (std::size_t i = 0; i < 3; ++i) {
            EXPECT_NEAR(it.values[i], d.values[i], 1e-9 * d.values[i])
                << to_string(kind) << " " << to_string(op) << " " << describe(deflate);
          }
        }
      }
    }
  }
}

// ||A - s1 u1 v1^T||_F^2 = ||A||_F^2 - s1^2; the outlier eigenvalue is gone (none within 0.5 of 1)
// and the theory's excess column, which holds for A only, is empty.
TEST(Deflate, TheNormAndTheOutlierEigenvalue) {
  static BackendSelection sel = make_backend(BackendChoice::kCpu, 0);
  PointSpec p = eigen_point(at(markov(EntryLaw::kExponential), 257), SolverKind::kExact, 4);
  p.solver.spectrum = Spectrum::kSingular;
  const MatrixOutcome none = sel.backend->run_batch(p, 5, {0}).front();
  p.model.fix = Fix::kDeflate;
  const MatrixOutcome deflated = sel.backend->run_batch(p, 5, {0}).front();
  const double s1 = none.solve.values[0];
  EXPECT_NEAR(deflated.sums.frob_sq, none.sums.frob_sq - s1 * s1, 1e-12);
  const SweepRow row = make_row(0, 5, p, "cpu", deflated);
  EXPECT_FALSE(row.metrics.s1_excess.has_value());
  p.solver.spectrum = Spectrum::kEigen;
  p.solver.all_values = true;
  const SolveResult eig = sel.backend->run_batch(p, 5, {0}).front().solve;
  ASSERT_EQ(eig.values.size(), 257u);
  for (const Complex z : as_complex(eig)) EXPECT_GT(std::abs(z - 1.0), 0.5);
}

TEST(Deflate, WhatCannotTakeItIsRefused) {
  static BackendSelection sel = make_backend(BackendChoice::kCpu, 0);
  PointSpec p = eigen_point(at(markov(EntryLaw::kExponential), 64, Fix::kDeflate),
                            SolverKind::kExact, 4);
  p.op = OperatorChoice::kFused;
  expect_refused([&] { sel.backend->check(p); }, "--operator fused");
  p = eigen_point(at(attention(InputKind::kGaussian, 32, true), 64, Fix::kDeflate),
                  SolverKind::kDiagonal, 4);
  expect_refused([&] { sel.backend->check(p); }, "--solver diagonal");
  SweepPlan plan;
  plan.Ts = {64};
  plan.models = {ModelKind::kAttention};
  plan.causal = true;
  plan.fixes = {Fix::kDeflate};
  plan.spectra = {Spectrum::kEigen};
  EXPECT_EQ(expand_plan(plan).front().spec.solver.kind, SolverKind::kArnoldi)
      << "deflated causal attention is not triangular";
}

// ---- the plan ----------------------------------------------------------------------------------

TEST(EigenPlan, EachSpectrumTakesItsDefaultSolver) {
  SweepPlan plan;
  plan.Ts = {64};
  plan.spectra = {Spectrum::kSingular, Spectrum::kEigen};
  plan.models = {ModelKind::kMarkov, ModelKind::kAttention};
  plan.causal = true;
  const std::vector<PlannedPoint> points = expand_plan(plan);
  ASSERT_EQ(points.size(), 4u);
  EXPECT_EQ(points[0].spec.solver.kind, SolverKind::kLanczos);
  EXPECT_EQ(points[1].spec.solver.kind, SolverKind::kArnoldi);
  EXPECT_EQ(points[1].spec.solver.spectrum, Spectrum::kEigen);
  EXPECT_EQ(points[2].spec.solver.kind, SolverKind::kLanczos);
  EXPECT_EQ(points[3].spec.solver.kind, SolverKind::kDiagonal) << "causal attention";
  // Given solvers: each spectrum takes those that compute it.
  plan.solvers = {SolverKind::kExact, SolverKind::kLanczos, SolverKind::kArnoldi};
  plan.models = {ModelKind::kMarkov};
  std::vector<std::string> got;
  for (const PlannedPoint& p : expand_plan(plan)) {
    got.push_back(to_string(p.spec.solver.spectrum) + "/" + to_string(p.spec.solver.kind));
  }
  EXPECT_EQ(got, (std::vector<std::string>{"singular/exact", "singular/lanczos", "eigen/exact",
                                           "eigen/arnoldi"}));
  EXPECT_EQ(max_eigen_values(plan), 5) << "k = 4 and a pair taken whole";
  plan.spectra = {Spectrum::kSingular};
  EXPECT_EQ(max_eigen_values(plan), 0);
}

TEST(EigenPlan, SolversOfTheOtherSpectrumOrModelAreRefused) {
  expect_refused([] { parse_spectrum("eig"); }, "--spectrum");
  SweepPlan plan;
  plan.Ts = {64};
  plan.spectra = {Spectrum::kEigen};
  plan.solvers = {SolverKind::kLanczos};
  expect_refused([&] { expand_plan(plan); }, "--solver lanczos");
  plan.solvers = {SolverKind::kDiagonal};
  expect_refused([&] { expand_plan(plan); }, "--solver diagonal");  // markov is not triangular
  plan.solvers = {SolverKind::kArnoldi};
  plan.models = {ModelKind::kAttention};
  plan.causal = true;
  expect_refused([&] { expand_plan(plan); }, "--solver arnoldi");  // causal: the diagonal
  plan.solvers = {SolverKind::kLanczos, SolverKind::kRsvd};
  expect_refused([&] { expand_plan(plan); }, "--solver");
  plan.solvers = {};
  plan.ks = {64};
  expect_refused([&] { expand_plan(plan); }, "--k");
  plan.ks = {4};
  plan.spectra = {};
  expect_refused([&] { expand_plan(plan); }, "--spectrum");
}

// ---- rows.csv and values.csv --------------------------------------------------------------------

// An eigen row whose k-th value opens a pair (k + 1 values) writes its lambda columns, reads
// back the same, and passes row_problem; a value in a column past its own is refused.
TEST(EigenRows, RoundTripWithAPairTakenWhole) {
  PointSpec spec = eigen_point(at(markov(EntryLaw::kExponential), 256), SolverKind::kExact, 2);
  MatrixOutcome o;
  o.index = 3;
  o.sums = {2.0, 1.0};
  o.solve.values = {1.0, 0.01, 0.01};
  o.solve.values_im = {0.0, 0.06, -0.06};
  const SweepRow row = make_row(0, 7, spec, "cpu", o);
  ASSERT_EQ(row.status, RowStatus::kOk);
  EXPECT_NEAR(row.metrics.abs_lambda2, std::hypot(0.01, 0.06), 1e-15);
  EXPECT_NEAR(*row.metrics.eigen_edge_ratio, 16 * std::hypot(0.01, 0.06), 1e-13);
  EXPECT_TRUE(std::isnan(row.metrics.s1));
  const int kmax = 2, eigen = 3;
  const std::string line = format_row(row, kmax, eigen);
  const std::vector<std::string> columns = row_columns(kmax, false, eigen);
  const std::vector<std::string> fields = split(line.substr(0, line.size() - 1), ',');
  ASSERT_EQ(fields.size(), columns.size());
  RowFields map;
  for (std::size_t i = 0; i < columns.size(); ++i) map[columns[i]] = fields[i];
  EXPECT_EQ(map.at("spectrum"), "eigen");
  EXPECT_EQ(map.at("s1"), "");
  EXPECT_EQ(map.at("lambda3_im"), "-0.059999999999999998");
  const SweepRow back = parse_row(map);
  EXPECT_EQ(back.outcome.solve.values, o.solve.values);
  EXPECT_EQ(back.outcome.solve.values_im, o.solve.values_im);
  EXPECT_EQ(back.spec.solver.spectrum, Spectrum::kEigen);
  EXPECT_EQ(row_problem(map, 0, spec, 7, 3, kmax, eigen), "");
  RowFields bad = map;
  bad["s2"] = "0.5";
  EXPECT_NE(row_problem(bad, 0, spec, 7, 3, kmax, eigen).find("field: s2"), std::string::npos);
  bad = map;
  bad["lambda3_re"] = "";
  bad["lambda3_im"] = "";
  EXPECT_NE(row_problem(bad, 0, spec, 7, 3, kmax, eigen).find("lambda3"), std::string::npos)
      << "a pair split by a lost value";
  bad = map;
  bad["spectrum"] = "singular";  // a singular row without s1: refused as a field or the plan
  EXPECT_NE(row_problem(bad, 0, spec, 7, 3, kmax, eigen), "");
  bad["s1"] = "1";
  bad["s2"] = "0.1";
  EXPECT_NE(row_problem(bad, 0, spec, 7, 3, kmax, eigen).find("plan: column spectrum"),
            std::string::npos);
  EXPECT_EQ(format_values(0, 3, o.solve.values, o.solve.values_im),
            "0,3,1,1,0\n0,3,2,0.01,0.059999999999999998\n0,3,3,0.01,-0.059999999999999998\n");
  EXPECT_EQ(format_values(0, 3, {2.0}), "0,3,1,2,\n");
}

// A whole eigen sweep through run_sweep: its rows, its values.csv (every eigenvalue with exact),
// a resume that finds nothing to do, and the summary's eigen table.
TEST(EigenSweep, RunsResumesAndSummarises) {
  test::TempDir tmp;
  SweepRequest req;
  req.plan.Ts = {32, 64};
  req.plan.seeds = 2;
  req.plan.spectra = {Spectrum::kSingular, Spectrum::kEigen};
  req.plan.solvers = {SolverKind::kExact};
  req.plan.fixes = {Fix::kNone, Fix::kCenter};
  req.plan.all_values = true;
  req.out = tmp.path() / "eigen";
  req.backend = BackendChoice::kCpu;
  req.command_line = "test_eigen";
  std::ostringstream out;
  ASSERT_EQ(run_sweep(req, out), 0);
  EXPECT_NE(out.str().find("|lambda2|"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("gap s1-s2"), std::string::npos) << out.str();
  const auto rows = test::read_rows_csv(*req.out / "rows.csv");
  ASSERT_EQ(rows.size(), 16u);
  int eigen_rows = 0;
  for (const auto& r : rows) {
    if (r.at("spectrum") != "eigen") continue;
    ++eigen_rows;
    if (r.at("fix") == "none") {
      EXPECT_NEAR(std::stod(r.at("lambda1_re")), 1.0, 1e-12);
    } else {
      EXPECT_LT(std::stod(r.at("lambda1_re")), 0.5);
    }
  }
  EXPECT_EQ(eigen_rows, 8);
  const std::string values = read_file(*req.out / "values.csv");
  EXPECT_EQ(values.rfind("point,index,rank,value,value_im\n", 0), 0u);
  // 2 seeds x (2 + 2 points of T = 32, 2 + 2 of T = 64) values per matrix: 2 * 2 * (32 + 64) * 2.
  EXPECT_EQ(std::count(values.begin(), values.end(), '\n'), 1 + 2 * 2 * (32 + 64) * 2);
  SweepRequest resume;
  resume.resume = req.out;
  resume.plan_given = false;
  resume.backend = BackendChoice::kCpu;
  resume.command_line = "test_eigen --resume";
  std::ostringstream again;
  ASSERT_EQ(run_sweep(resume, again), 0);
  EXPECT_EQ(test::read_rows_csv(*req.out / "rows.csv").size(), 16u);
}

}  // namespace
}  // namespace gapbench
