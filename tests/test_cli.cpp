// The gapbench command line, run as a user would: the built binary (GAPBENCH_EXE) in a fresh
// temporary working directory. Bad input must exit 2 with one line on stderr that names the flag,
// and leave no results behind; the subcommands' happy paths; and an interrupted sweep that
// resumes to the same rows.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gapbench/cpu/cpu_device.hpp"
#include "gapbench/cpu/generate.hpp"
#include "gapbench/npy.hpp"
#include "gapbench/sweep/results.hpp"
#include "gapbench/text.hpp"
#include "test_support.hpp"

#ifndef GAPBENCH_EXE
#error "GAPBENCH_EXE (the path of the gapbench binary) must be defined by the build"
#endif

namespace gapbench {
namespace {
namespace fs = std::filesystem;
using test::CliResult;
using test::read_rows_csv;
using test::shell_quote;
using test::write_text;

const char* const kExe = GAPBENCH_EXE;

// A fresh directory with a working directory `cwd/` for the command and capture files beside it
// (so that the working directory holds only what the command wrote).
class Sandbox {
 public:
  Sandbox() : m_root("gapbench_cli") { fs::create_directories(cwd()); }
  fs::path cwd() const { return m_root.path() / "cwd"; }
  fs::path root() const { return m_root.path(); }
  fs::path stdout_path() const { return m_root.path() / "stdout.txt"; }
  fs::path stderr_path() const { return m_root.path() / "stderr.txt"; }

 private:
  test::TempDir m_root;
};

CliResult run_cli(const Sandbox& box, const std::vector<std::string>& args) {
  return test::run_command(box.cwd(), box.root(), kExe, args);
}

// Every path under `dir` with the content of each file, to tell whether anything changed.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    files[fs::relative(e.path(), dir).string()] =
        e.is_regular_file() ? read_file(e.path()) : std::string("<dir>");
  }
  return files;
}

// ---- bad input ---------------------------------------------------------------------------------

struct BadInput {
  const char* name;
  std::vector<std::string> args;
  const char* names;  // what the error line must mention (the flag)
};

void PrintTo(const BadInput& c, std::ostream* os) {
  *os << "gapbench";
  for (const auto& a : c.args) *os << ' ' << a;
}

class CliBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(CliBadInput, ExitsTwoWithOneLineNamingTheFlagAndWritesNothing) {
  const BadInput& c = GetParam();
  Sandbox box;
  // An existing directory with content, which the --out case aims at and nothing may touch.
  fs::create_directories(box.cwd() / "taken");
  write_text(box.cwd() / "taken" / "notes.txt", "keep me\n");
  const auto before = snapshot(box.cwd());

  const CliResult r = run_cli(box, c.args);
  EXPECT_EQ(r.exit_code, 2) << "stderr: " << r.err;
  EXPECT_EQ(r.err.rfind("gapbench: error: ", 0), 0u) << "stderr: " << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.back(), '\n');
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
  EXPECT_NE(r.err.find(c.names), std::string::npos)
      << "the message should name " << c.names << ": " << r.err;
  EXPECT_EQ(snapshot(box.cwd()), before) << "the command wrote or changed files";
  EXPECT_FALSE(fs::exists("/proc/gapbench_forbidden"));
}

using Args = std::vector<std::string>;

INSTANTIATE_TEST_SUITE_P(
    Sweep, CliBadInput,
    ::testing::Values(
        BadInput{"TOne", Args{"sweep", "--T", "1"}, "--T"},
        BadInput{"KNotBelowT", Args{"sweep", "--k", "300", "--T", "256"}, "--k"},
        BadInput{"KAtT", Args{"sweep", "--k", "16", "--T", "16"}, "--k"},
        BadInput{"DZero", Args{"sweep", "--model", "attention", "--d", "0"}, "--d"},
        BadInput{
            "IsometricDBelowT",
            Args{"sweep", "--model", "attention", "--input", "isometric", "--d", "32", "--T", "64"},
            "--d"},
        BadInput{"BetaZero", Args{"sweep", "--beta", "0", "--law", "lognormal"}, "--beta"},
        BadInput{"BetaNan", Args{"sweep", "--beta", "nan", "--law", "lognormal"}, "--beta"},
        BadInput{"BetaInf", Args{"sweep", "--beta", "inf", "--model", "attention"}, "--beta"},
        BadInput{"ModelFoo", Args{"sweep", "--model", "foo"}, "--model"},
        BadInput{"LawFoo", Args{"sweep", "--law", "foo"}, "--law"},
        BadInput{"SolverFoo", Args{"sweep", "--solver", "foo"}, "--solver"},
        BadInput{"BackendFoo", Args{"sweep", "--backend", "foo"}, "--backend"},
        BadInput{"PrecisionFloat16", Args{"sweep", "--precision", "float16"}, "--precision"},
        BadInput{"EmptyRange", Args{"sweep", "--T", "256:128:x2"}, "--T"},
        BadInput{"EndlessRange", Args{"sweep", "--T", "256:4096:x1"}, "--T"},
        BadInput{"TNotANumber", Args{"sweep", "--T", "abc"}, "--T"},
        BadInput{"SeedsNegative", Args{"sweep", "--seeds", "-1"}, "--seeds"},
        BadInput{"SeedNegative", Args{"sweep", "--seed", "-5"}, "--seed"},
        BadInput{"ThreadsNegative", Args{"sweep", "--T", "64", "--threads", "-1"}, "--threads"},
        BadInput{"OutExists", Args{"sweep", "--T", "64", "--seeds", "1", "--out", "taken"},
                 "--out"},
        BadInput{"OutUnwritable",
                 Args{"sweep", "--T", "64", "--seeds", "1", "--out", "/proc/gapbench_forbidden"},
                 "--out"},
        BadInput{"BackendCudaWithoutDevice", Args{"sweep", "--T", "64", "--backend", "cuda"},
                 "--backend cuda"},
        BadInput{"LawWithAttention", Args{"sweep", "--law", "exponential", "--model", "attention"},
                 "--law"},
        BadInput{"DWithMarkov", Args{"sweep", "--d", "32"}, "--d"},
        BadInput{"UnknownFlag", Args{"sweep", "--foo", "1"}, "--foo"},
        BadInput{"ResumeNotASweep", Args{"sweep", "--resume", "taken"}, "--resume"},
        BadInput{"RunKNotBelowT", Args{"run", "--T", "8", "--k", "8"}, "--k"},
        BadInput{"DumpWithoutOut", Args{"dump", "--T", "64"}, "--out"},
        BadInput{"DumpOutIsADirectory", Args{"dump", "--T", "64", "--out", "taken"}, "--out"},
        // Found in review: these crashed, clamped silently or overflowed.
        BadInput{"ThreadsHuge", Args{"run", "--T", "64", "--threads", "100000"}, "--threads"},
        BadInput{"SweepThreadsHuge", Args{"sweep", "--T", "64", "--threads", "100000"},
                 "--threads"},
        BadInput{"SeedOverflows", Args{"run", "--T", "64", "--seed", "99999999999999999999999"},
                 "--seed"},
        BadInput{"BetaOverflows",
                 Args{"run", "--T", "64", "--model", "attention", "--beta", "1e308"}, "--beta"},
        BadInput{"DumpPastMemory", Args{"dump", "--T", "1000000000", "--out", "big.npy"}, "--T"},
        BadInput{"RunWithAList", Args{"run", "--T", "64,128", "--fix", "none,center"},
                 "--T, --fix"},
        // The cuSOLVER solvers and the settings of the other solvers.
        BadInput{"XgesvdrOnCpu",
                 Args{"sweep", "--T", "64", "--backend", "cpu", "--solver", "xgesvdr"},
                 "--solver xgesvdr"},
        BadInput{"GesvdaOnCpu", Args{"run", "--T", "64", "--backend", "cpu", "--solver", "gesvda"},
                 "--solver gesvda"},
        BadInput{"OversampleWithLanczos", Args{"sweep", "--T", "64", "--oversample", "4"},
                 "--oversample"},
        BadInput{"PowerItersWithRsvd",
                 Args{"sweep", "--T", "64", "--solver", "rsvd", "--power-iters", "3"},
                 "--power-iters"},
        BadInput{"BlockWithRsvd", Args{"run", "--T", "64", "--solver", "rsvd", "--block", "2"},
                 "--block"},
        BadInput{"ArnoldiBlockTooWideForT",
                 Args{"run", "--T", "64", "--spectrum", "eigen", "--block", "30"}, "--block"},
        BadInput{"OversampleNegative",
                 Args{"run", "--T", "64", "--solver", "rsvd", "--oversample", "-1"},
                 "--oversample"},
        BadInput{"LogitsWithFloat64",
                 Args{"run", "--T", "64", "--model", "attention", "--logits", "bf16"}, "--logits"},
        BadInput{"LogitsWithMarkov",
                 Args{"sweep", "--T", "64", "--precision", "float32", "--logits", "tf32"},
                 "--logits"},
        BadInput{"InitBareXavier",
                 Args{"run", "--T", "64", "--model", "attention", "--init", "xavier"},
                 "--init: 'xavier' is ambiguous: give fan-in"},
        BadInput{"InitFoo", Args{"sweep", "--T", "64", "--model", "attention", "--init", "he"},
                 "--init"},
        BadInput{"LogitsFoo", Args{"run", "--T", "64", "--model", "attention", "--logits", "fp8"},
                 "--logits"},
        BadInput{"OperatorFoo", Args{"sweep", "--T", "64", "--operator", "foo"}, "--operator"},
        BadInput{"ReferenceFoo", Args{"sweep", "--T", "64", "--reference", "foo"}, "--reference"},
        BadInput{"ReferencePastMemory",
                 Args{"sweep", "--T", "3000000", "--model", "attention", "--reference", "auto"},
                 "--reference"},
        BadInput{"OperatorFusedWithExact",
                 Args{"sweep", "--T", "64", "--operator", "fused", "--solver", "exact"},
                 "--operator fused"},
        BadInput{"ExactPastMemory", Args{"run", "--T", "3000000", "--solver", "exact"}, "--T"},
        BadInput{"OversamplePastT",
                 Args{"run", "--T", "16", "--solver", "rsvd", "--oversample", "20"},
                 "--oversample"}),
    [](const auto& info) { return std::string(info.param.name); });

// ---- happy paths -------------------------------------------------------------------------------

TEST(CliSweep, PlotDrawsTheFiguresOrSaysHowToGetMatplotlib) {
  Sandbox box;
  const CliResult r =
      run_cli(box, {"sweep", "--T", "32,64", "--seeds", "2", "--out", "res", "--plot"});
  ASSERT_EQ(r.exit_code, 0) << r.err;  // plotting never changes the sweep's outcome
  const bool have_matplotlib =
      std::system("/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1") == 0;
  if (have_matplotlib) {
    EXPECT_TRUE(fs::exists(box.cwd() / "res" / "gap_vs_T.png")) << r.out << r.err;
    EXPECT_TRUE(fs::exists(box.cwd() / "res" / "gap_vs_T.svg"));
  } else {
    EXPECT_NE(r.err.find("apt-get install python3-matplotlib"), std::string::npos) << r.err;
  }
}

TEST(CliDump, IgnoresTheSolversKAndTakesTheWholeSeedRange) {
  Sandbox box;
  // k = 4 (the default) does not fit T = 3, but dump solves nothing; 2^64 - 1 is a valid seed.
  const CliResult r =
      run_cli(box, {"dump", "--T", "3", "--seed", "18446744073709551615", "--out", "m.npy"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(box.cwd() / "m.npy"));
  EXPECT_FALSE(fs::exists(box.cwd() / "m.npy.tmp"));
}

TEST(CliSweep, WritesRowsAndMeta) {
  Sandbox box;
  const CliResult r = run_cli(box, {"sweep", "--T", "64,128", "--seeds", "2", "--out", "res"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path dir = box.cwd() / "res";
  const std::vector<std::string> lines = split_lines(read_file(dir / "rows.csv"));
  ASSERT_EQ(lines.size(), 5u) << "header + 2 T x 2 seeds";
  const std::vector<std::string> header = split(lines[0], ',');
  EXPECT_EQ(header.at(0), "point");
  for (std::size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(split(lines[i], ',').size(), header.size()) << lines[i];
  }
  const nlohmann::json meta = nlohmann::json::parse(read_file(dir / "meta.json"));
  for (const char* key : {"schema", "rng", "command", "build", "backend", "plan", "status"}) {
    EXPECT_TRUE(meta.contains(key)) << key;
  }
  EXPECT_EQ(meta.at("status"), "complete");
  EXPECT_EQ(meta.at("schema"), "gapbench.sweep/5");
  EXPECT_EQ(meta.at("rng").at("version"), 1);
  EXPECT_EQ(meta.at("plan").at("T"), nlohmann::json::array({64, 128}));
  EXPECT_EQ(meta.at("plan").at("seeds"), 2);
  // The plan's hash (FNV-1a 64 of its canonical dump) and the threads, outside the plan.
  EXPECT_EQ(meta.at("plan_hash"), plan_hash(meta.at("plan")));
  EXPECT_EQ(meta.at("plan_hash").get<std::string>().size(), 16u);
  EXPECT_TRUE(meta.at("threads").is_number_integer());
  EXPECT_FALSE(meta.at("plan").contains("threads"));
  EXPECT_NE(meta.at("command").get<std::string>().find("--seeds"), std::string::npos);
  // The summary table goes to stdout.
  EXPECT_NE(r.out.find("4 rows"), std::string::npos) << r.out;
}

TEST(CliRun, PrintsTheTopFourValues) {
  Sandbox box;
  const CliResult r = run_cli(box, {"run", "--T", "128"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  double previous = INFINITY;
  for (int i = 1; i <= 4; ++i) {
    const std::string tag = "\ns" + std::to_string(i) + " ";
    const std::size_t at = r.out.find(tag);
    ASSERT_NE(at, std::string::npos) << "no s" << i << " in: " << r.out;
    const double v = std::stod(r.out.substr(at + tag.size()));
    EXPECT_GT(v, 0.0);
    EXPECT_LE(v, previous) << "values must descend";
    previous = v;
    if (i == 1) {
      EXPECT_GE(v, 1.0 - 1e-12) << "s1 >= 1 for a row-stochastic matrix";
    }
  }
  EXPECT_NE(r.out.find("converged yes"), std::string::npos) << r.out;
  EXPECT_TRUE(snapshot(box.cwd()).empty()) << "run writes no files";
}

// The value printed after "sN " in `gapbench run`'s output.
double printed_value(const std::string& out, int n) {
  const std::string tag = "\ns" + std::to_string(n) + " ";
  const std::size_t at = out.find(tag);
  if (at == std::string::npos) return NAN;
  return std::stod(out.substr(at + tag.size()));
}

TEST(CliRun, RsvdAgreesWithLanczos) {
  Sandbox box;
  const CliResult rsvd = run_cli(box, {"run", "--T", "200", "--solver", "rsvd"});
  const CliResult lanczos = run_cli(box, {"run", "--T", "200", "--solver", "lanczos"});
  ASSERT_EQ(rsvd.exit_code, 0) << rsvd.err;
  ASSERT_EQ(lanczos.exit_code, 0) << lanczos.err;
  EXPECT_NE(rsvd.out.find("solver rsvd"), std::string::npos) << rsvd.out;
  // Both converge to residual 1e-8 s_i: values within 1e-8 relative (residual^2/gap is smaller
  // still where the values separate).
  for (int i = 1; i <= 4; ++i) {
    const double a = printed_value(rsvd.out, i), b = printed_value(lanczos.out, i);
    EXPECT_NEAR(a, b, 1e-8 * b) << "s" << i;
  }
}

// The s1 .. s4 and operator columns of each row of a sweep's rows.csv.
std::vector<std::pair<std::vector<double>, std::string>> sweep_values(const fs::path& dir) {
  std::vector<std::pair<std::vector<double>, std::string>> rows;
  for (const auto& r : read_rows_csv(dir / "rows.csv")) {
    std::vector<double> s;
    for (const char* name : {"s1", "s2", "s3", "s4"}) s.push_back(std::stod(r.at(name)));
    rows.emplace_back(s, r.at("operator"));
  }
  return rows;
}

TEST(CliSweep, FusedOperatorGivesTheDenseValuesAndSaysSo) {
  Sandbox box;
  const Args common = {"sweep", "--model", "attention", "--T",   "96,300",      "--d",
                       "16",    "--seeds", "2",         "--fix", "none,center", "--causal"};
  Args fused = common, dense = common;
  fused.insert(fused.end(), {"--operator", "fused", "--out", "fused"});
  dense.insert(dense.end(), {"--operator", "dense", "--out", "dense"});
  ASSERT_EQ(run_cli(box, fused).exit_code, 0);
  ASSERT_EQ(run_cli(box, dense).exit_code, 0);
  const auto f = sweep_values(box.cwd() / "fused");
  const auto d = sweep_values(box.cwd() / "dense");
  ASSERT_EQ(f.size(), 8u);
  ASSERT_EQ(d.size(), f.size());
  for (std::size_t r = 0; r < f.size(); ++r) {
    EXPECT_EQ(f[r].second, "fused");
    EXPECT_EQ(d[r].second, "dense");
    // Both converge to residual 1e-8 s_i: values agree to 1e-8 relative.
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(f[r].first[i], d[r].first[i], 1e-8 * d[r].first[i]);
  }
}

// Queries and keys of 3 heads (3 x T x dk, float32) written as a trained model's dump would be,
// and each head's top 4 computed here directly: softmax of the logits, then LAPACK.
struct QkFixture {
  static constexpr std::int64_t kHeads = 3, kT = 150, kDk = 8;
  std::vector<std::vector<double>> top4;  // per head, with --causal --fix center --beta 2
  std::vector<std::vector<double>> diagonal;  // per head: the diagonal of A (before the fix)
  explicit QkFixture(const fs::path& dir) {
    std::vector<float> q, k;
    for (std::uint32_t h = 0; h < kHeads; ++h) {
      const auto qh = cpu::gaussian_matrix<float>(Stream::kQueries, 1.0f, 5, h, kT, kDk);
      const auto kh = cpu::gaussian_matrix<float>(Stream::kKeys, 1.0f, 5, h, kT, kDk);
      q.insert(q.end(), qh.begin(), qh.end());
      k.insert(k.end(), kh.begin(), kh.end());
      const std::vector<double> qd(qh.begin(), qh.end()), kd(kh.begin(), kh.end());
      std::vector<double> a(static_cast<std::size_t>(kT * kT));
      cpu::attention_from_factors<double>(kT, kDk, qd.data(), kd.data(), 2.0 / std::sqrt(8.0), true,
                                          Fix::kCenter, a.data());
      // A's diagonal: A_perp's plus the 1/T the fix took (before the SVD overwrites a).
      diagonal.emplace_back();
      for (std::int64_t i = 0; i < kT; ++i) {
        diagonal.back().push_back(a[static_cast<std::size_t>(i * kT + i)] + 1.0 / kT);
      }
      top4.push_back(cpu::exact_singular_values<double>(a.data(), kT, kT, 4, false).values);
    }
    write_npy_array(dir / "Q.npy", q.data(), {kHeads, kT, kDk});
    write_npy_array(dir / "K.npy", k.data(), {kHeads, kT, kDk});
  }
};

TEST(CliRunQk, EveryHeadMatchesTheSpectrumOfItsSoftmaxOnBothOperatorsAndBackends) {
  Sandbox box;
  const QkFixture fixture(box.cwd());
  for (const auto& [backend, op] : std::vector<std::pair<std::string, std::string>>{
           {"cpu", "dense"}, {"cpu", "fused"}, {"cuda", "dense"}, {"cuda", "fused"}}) {
    SCOPED_TRACE("--backend " + backend);
    const CliResult r = run_cli(box, {"run", "--qk", "Q.npy,K.npy", "--causal", "--fix", "center",
                                      "--beta", "2", "--operator", op, "--backend", backend});
    if (backend == "cuda" && r.exit_code == 2) {
      // No CUDA device (or no CUDA build) here: refused naming the flag, before any work.
      EXPECT_EQ(r.err.rfind("gapbench: error: --backend cuda:", 0), 0u) << r.err;
      continue;
    }
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (int h = 0; h < 3; ++h) {
      const std::string tag = fmt::format("head {} (operator {})", h, op);
      const std::size_t at = r.out.find(tag);
      ASSERT_NE(at, std::string::npos) << tag << " in: " << r.out;
      for (int i = 1; i <= 4; ++i) {
        // Both sides solve to residual 1e-8 or exactly: 1e-8 relative.
        const double want = fixture.top4[h][i - 1];
        EXPECT_NEAR(printed_value(r.out.substr(at), i), want, 1e-8 * want)
            << op << " head " << h << " s" << i;
      }
    }
  }
}

// --spectrum eigen on given factors: causal attention's eigenvalues (the diagonal solver, its
// default) on both operators, against the diagonal of each head's A: A_perp keeps A's diagonal
// entries but the outlier A_00 = 1, which becomes 0 (docs/spectra.md).
TEST(CliRunQk, EigenvaluesAreTheDiagonalOnBothOperators) {
  Sandbox box;
  const QkFixture fixture(box.cwd());
  for (const std::string op : {"dense", "fused"}) {
    const CliResult r = run_cli(box, {"run", "--qk", "Q.npy,K.npy", "--causal", "--fix", "center",
                                      "--beta", "2", "--spectrum", "eigen", "--k", "3",
                                      "--operator", op, "--backend", "cpu"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("solver diagonal"), std::string::npos) << r.out;
    for (int h = 0; h < 3; ++h) {
      const std::size_t at = r.out.find(fmt::format("head {} (operator {})", h, op));
      ASSERT_NE(at, std::string::npos) << r.out;
      std::vector<double> want = fixture.diagonal[h];
      want[0] = 0.0;
      std::sort(want.begin(), want.end(), std::greater<>());
      for (int i = 1; i <= 3; ++i) {
        const std::string tag = fmt::format("\nlambda{} ", i);
        const std::size_t line = r.out.find(tag, at);
        ASSERT_NE(line, std::string::npos) << r.out;
        // float32 (the files' dtype) against the float64 diagonal: 1e-5.
        EXPECT_NEAR(std::stod(r.out.substr(line + tag.size())), want[i - 1], 1e-5)
            << op << " head " << h << " lambda" << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Qk, CliBadInput,
    ::testing::Values(
        BadInput{"OneFile", Args{"run", "--qk", "Q.npy"}, "--qk"},
        BadInput{"MissingFiles", Args{"run", "--qk", "nope.npy,nope.npy"}, "--qk: nope.npy"},
        BadInput{"NotNpy", Args{"run", "--qk", "taken/notes.txt,taken/notes.txt"}, "--qk"},
        BadInput{"WithT", Args{"run", "--qk", "taken/notes.txt,x", "--T", "64"}, "--T"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(CliRunQk, RefusesMismatchedShapesAndAHeadPastTheLast) {
  Sandbox box;
  const QkFixture fixture(box.cwd());
  const std::vector<float> other(2 * 150 * 8, 0.5f);
  write_npy_array(box.cwd() / "K2.npy", other.data(), {2, 150, 8});
  for (const auto& [args, flag] : std::vector<std::pair<Args, std::string>>{
           {{"run", "--qk", "Q.npy,K2.npy"}, "--qk"},
           {{"run", "--qk", "Q.npy,K.npy", "--index", "3"}, "--index"}}) {
    const CliResult r = run_cli(box, args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.err.rfind("gapbench: error: " + flag, 0), 0u) << r.err;
  }
}

TEST(CliDump, WritesTheGeneratedMatrixAsNpy) {
  Sandbox box;
  const CliResult r = run_cli(box, {"dump", "--T", "64", "--out", "m.npy"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path path = box.cwd() / "m.npy";
  const NpyHeader h = read_npy_header(path);
  EXPECT_EQ(h.descr, "<f8");
  EXPECT_FALSE(h.fortran_order);
  EXPECT_EQ(h.shape, (std::vector<std::int64_t>{64, 64}));
  ASSERT_EQ(static_cast<std::int64_t>(fs::file_size(path)), h.data_offset + 8 * 64 * 64);
  const std::string bytes = read_file(path);
  std::vector<double> a(64 * 64);
  std::memcpy(a.data(), bytes.data() + h.data_offset, 8 * a.size());
  // The defaults of dump: markov exponential, seed 0, index 0. The file holds exactly that
  // matrix (generation is bitwise reproducible).
  ModelSpec spec;
  spec.T = 64;
  EXPECT_EQ(a, cpu::generate_dense<double>(spec, 0, 0));
  EXPECT_EQ(snapshot(box.cwd()).size(), 1u) << "only m.npy, no temporary left";

  // On a CUDA device the same matrix to rounding; without one, refused naming --backend.
  const CliResult gpu = run_cli(box, {"dump", "--T", "64", "--out", "g.npy", "--backend", "cuda"});
  if (gpu.exit_code == 2) {
    EXPECT_EQ(gpu.err.rfind("gapbench: error: --backend cuda:", 0), 0u) << gpu.err;
    EXPECT_FALSE(fs::exists(box.cwd() / "g.npy"));
  } else {
    ASSERT_EQ(gpu.exit_code, 0) << gpu.err;
    std::vector<std::int64_t> shape;
    const std::vector<double> g = read_npy_array<double>(box.cwd() / "g.npy", shape);
    EXPECT_EQ(shape, (std::vector<std::int64_t>{64, 64}));
    ASSERT_EQ(g.size(), a.size());
    for (std::size_t e = 0; e < a.size(); ++e) EXPECT_NEAR(g[e], a[e], 1e-12 * a[e]) << e;
  }
}

TEST(CliInfo, DescribesTheBuild) {
  Sandbox box;
  const CliResult r = run_cli(box, {"info"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("gapbench ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("RNG layout v1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("backends: cpu"), std::string::npos) << r.out;
}

// ---- interruption and resume -------------------------------------------------------------------

// Starts gapbench with `args` in the sandbox's working directory; returns its pid.
pid_t spawn_cli(const Sandbox& box, const std::vector<std::string>& args) {
  std::vector<std::string> argv_text = {kExe};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  const std::string cwd = box.cwd().string(), out = box.stdout_path().string(),
                    err = box.stderr_path().string();
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (::chdir(cwd.c_str()) != 0 || out_fd < 0 || err_fd < 0) ::_exit(127);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    ::execv(kExe, argv.data());
    ::_exit(127);
  }
  return pid;
}

int data_rows(const fs::path& rows_csv) {
  const std::string text = read_file(rows_csv);
  const auto lines = std::count(text.begin(), text.end(), '\n');
  return lines > 0 ? static_cast<int>(lines) - 1 : 0;
}

TEST(CliInterrupt, SigintKeepsWholeRowsAndResumeCompletes) {
  Sandbox box;
  const fs::path dir = box.cwd() / "res";
  const pid_t pid = spawn_cli(box, {"sweep", "--T", "512:2048:x2", "--seeds", "6", "--out", "res"});
  ASSERT_GT(pid, 0);
  // Interrupt mid-sweep: once two rows are written (the whole sweep takes ~1.4 s on 2 cores, so
  // a fixed 1.5 s could miss it), and in any case by 1.5 s.
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  bool exited = false;
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1500)) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    if (data_rows(dir / "rows.csv") >= 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_FALSE(exited) << "the sweep ended before it could be interrupted: "
                       << read_file(box.stderr_path());
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 130) << read_file(box.stderr_path());

  const nlohmann::json meta = nlohmann::json::parse(read_file(dir / "meta.json"));
  EXPECT_EQ(meta.at("status"), "interrupted");
  const std::string text = read_file(dir / "rows.csv");
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "torn last line";
  const std::vector<std::string> lines = split_lines(text);
  const std::size_t columns = split(lines.at(0), ',').size();
  for (const auto& line : lines) EXPECT_EQ(split(line, ',').size(), columns) << line;
  const int kept = static_cast<int>(lines.size()) - 1;
  EXPECT_GE(kept, 1);
  EXPECT_LT(kept, 18) << "nothing was left to resume";
  EXPECT_EQ(meta.at("rows"), kept);
  EXPECT_NE(read_file(box.stderr_path()).find("--resume"), std::string::npos)
      << "the message should say how to continue";

  const CliResult r = run_cli(box, {"sweep", "--resume", "res"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> all = split_lines(read_file(dir / "rows.csv"));
  ASSERT_EQ(all.size(), 19u) << "header + 3 T x 6 seeds";
  std::set<std::pair<std::string, std::string>> keys;
  for (std::size_t i = 1; i < all.size(); ++i) {
    const auto f = split(all[i], ',');
    ASSERT_EQ(f.size(), columns) << all[i];
    EXPECT_TRUE(keys.insert({f[0], f[1]}).second) << "duplicate (point, index): " << all[i];
  }
  // The rows kept from before the interruption are untouched.
  for (int i = 0; i <= kept; ++i) EXPECT_EQ(all[i], lines[i]);
  const nlohmann::json done = nlohmann::json::parse(read_file(dir / "meta.json"));
  EXPECT_EQ(done.at("status"), "complete");
  EXPECT_EQ(done.at("rows"), 18);
  EXPECT_EQ(done.at("resumes").size(), 1u);
}

}  // namespace
}  // namespace gapbench
