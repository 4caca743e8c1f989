// The strict readers of issue 14: .npy files (run --qk), Google Benchmark JSON (compare), the
// list/range grammar of sweep axes, and the memory checks made before anything is allocated or
// created. One test per refusal class: each asserts the message names the file or flag and what
// is wrong, and, for the CLI cases, exit 2 with one line on stderr and nothing written.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <ostream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "gapbench/compare/compare.hpp"
#include "gapbench/error.hpp"
#include "gapbench/npy.hpp"
#include "gapbench/runtime.hpp"
#include "gapbench/sweep/range.hpp"
#include "gapbench/user_attention.hpp"
#include "test_support.hpp"

namespace gapbench {
namespace {

using test::TempDir;
namespace fs = std::filesystem;

// Runs `f`, expecting a UsageError whose message holds `part`; returns the message.
template <typename F>
std::string usage_error(F&& f, const std::string& part) {
  try {
    f();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
        << "message: " << e.what() << "\nexpected to hold: " << part;
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no UsageError; expected one holding: " << part;
  return {};
}

// One refusal case of a reader: its name, the input, and what the message must hold.
struct Refusal {
  std::string name;
  std::string input;
  std::string message;
};
// Test names show the case, not the bytes of the struct.
void PrintTo(const Refusal& c, std::ostream* os) { *os << c.name; }

// ---- .npy ------------------------------------------------------------------------------------

// A .npy file as NumPy writes it: the dict padded with spaces to 64 bytes, then a newline.
std::string npy(const std::string& dict, const std::string& data = "", int version = 1) {
  std::string header = dict;
  const std::size_t len_bytes = version == 1 ? 2 : 4;
  const std::size_t unpadded = 8 + len_bytes + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(version) + '\0';
  for (std::size_t i = 0; i < len_bytes; ++i) out += static_cast<char>(header.size() >> (8 * i));
  return out + header + data;
}

std::string dict(const std::string& descr, const std::string& shape,
                 const std::string& fortran = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
}

template <typename Real>
std::string bytes_of(const std::vector<Real>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), sizeof(Real) * values.size());
}

const std::vector<float> kSix = {0.5f, -1.0f, 2.0f, 0.25f, 1.5f, -0.75f};

TEST(NpyParse, ReadsPythonLiteralForms) {
  for (const std::string& d :
       {dict("<f4", "(3, 2)"), std::string("{'descr':'<f4','fortran_order':False,'shape':(3,2)}"),
        std::string("{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (3, 2,)}"),
        dict("=f4", "(3, 2)")}) {
    std::vector<std::int64_t> shape;
    const std::vector<double> v = parse_npy_array<double>(npy(d, bytes_of(kSix)), "x.npy", shape);
    EXPECT_EQ(shape, (std::vector<std::int64_t>{3, 2})) << d;
    ASSERT_EQ(v.size(), 6u) << d;
    EXPECT_EQ(v[5], -0.75) << d;
  }
}

TEST(NpyParse, ReadsVersionsTwoAndThree) {
  for (const int version : {2, 3}) {
    std::vector<std::int64_t> shape;
    const auto v =
        parse_npy_array<float>(npy(dict("<f4", "(2, 3)"), bytes_of(kSix), version), "x.npy", shape);
    EXPECT_EQ(shape, (std::vector<std::int64_t>{2, 3}));
    EXPECT_EQ(v, kSix);
  }
}

class NpyRefuses : public ::testing::TestWithParam<Refusal> {};

TEST_P(NpyRefuses, WithAMessageNamingTheFile) {
  std::vector<std::int64_t> shape;
  const std::string what = usage_error(
      [&] { parse_npy_array<float>(GetParam().input, "in.npy", shape); }, GetParam().message);
  EXPECT_EQ(what.rfind("in.npy: ", 0), 0u) << what;
}

const std::string kFew = std::string(8, '\0');

INSTANTIATE_TEST_SUITE_P(
    Classes, NpyRefuses,
    ::testing::Values(
        Refusal{"NotNpy", "not a numpy file at all", "not a .npy file"},
        Refusal{"Version4", std::string("\x93NUMPY\x04\x00", 8) + "\x10\x00", "version 4.0"},
        Refusal{"HeaderOver10000", npy(dict("<f4", "(3, 2)") + std::string(10100, ' ')),
                "longer than the 10000 allowed"},
        Refusal{"V2Claims4GiB", std::string("\x93NUMPY\x02\x00\xff\xff\xff\xff{'d", 15),
                "longer than the 10000 allowed"},
        Refusal{"TruncatedHeader", npy(dict("<f4", "(3, 2)")).substr(0, 30),
                "truncated .npy header"},
        Refusal{"ProductPasses2Pow64", npy(dict("<f4", "(4611686018427387904, 4, 1)"), kFew),
                "more than 2^63 bytes"},
        Refusal{"ProductWrapsToSmall", npy(dict("<f4", "(4611686018427387905, 4, 1)"), kFew),
                "more than 2^63 bytes"},
        Refusal{"TwentyDigitDim", npy(dict("<f4", "(12345678901234567890, 1)"), kFew),
                "above 2^63 - 1"},
        Refusal{"Claims1e12Elements", npy(dict("<f4", "(1000000, 1000000)"), kFew),
                "needs 4000000000000 bytes of data but the file has 8"},
        Refusal{"TrailingBytes", npy(dict("<f4", "(3, 2)"), bytes_of(kSix) + "x"),
                "needs 24 bytes of data but the file has 25"},
        Refusal{"MissingBytes", npy(dict("<f4", "(3, 2)"), bytes_of(kSix).substr(1)),
                "needs 24 bytes of data but the file has 23"},
        Refusal{"FortranOrder", npy(dict("<f4", "(3, 2)", "True"), bytes_of(kSix)),
                "Fortran order"},
        Refusal{"BigEndian", npy(dict(">f4", "(3, 2)"), bytes_of(kSix)), "descr '>f4'"},
        Refusal{"Integers", npy(dict("<i4", "(3, 2)"), bytes_of(kSix)), "descr '<i4'"},
        Refusal{"UnknownKey",
                npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), 'x': 1}"),
                "unknown key 'x'"},
        Refusal{"DuplicateKey",
                npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}"),
                "the key 'descr' twice"},
        Refusal{"MissingKey", npy("{'descr': '<f4', 'shape': (3, 2)}"), "lacks one of"},
        Refusal{"NotATuple", npy(dict("<f4", "(6)"), bytes_of(kSix)), "write '(N,)'"},
        Refusal{"NegativeDim", npy(dict("<f4", "(-3, 2)"), bytes_of(kSix)),
                "not a non-negative decimal integer"},
        Refusal{"LeadingZero", npy(dict("<f4", "(03, 2)"), bytes_of(kSix)), "leading zero"},
        Refusal{"OneDimension", npy(dict("<f4", "(6,)"), bytes_of(kSix)), "2 or 3 dimensions"}),
    [](const auto& info) { return info.param.name; });

// The file reader checks the data length against the file size before it allocates: a header
// claiming 10^12 float32 over 8 bytes is refused, not allocated (4 TB would throw bad_alloc).
TEST(NpyFile, RefusesAClaimBeyondTheFileBeforeAllocating) {
  TempDir tmp;
  const fs::path path = tmp.path() / "big.npy";
  test::write_text(path, npy(dict("<f4", "(1000000, 1000000)"), kFew));
  std::vector<std::int64_t> shape;
  usage_error([&] { read_npy_array<float>(path, shape); }, path.string() + ": shape (1000000, ");
}

TEST(UserAttention, RefusesNonFiniteQueriesNamingHeadRowAndColumn) {
  TempDir tmp;
  std::vector<float> q(2 * 3 * 2, 1.0f), k = q;
  k[1 * 6 + 2 * 2 + 1] = std::numeric_limits<float>::infinity();  // head 1, row 2, col 1
  write_npy_array(tmp.path() / "Q.npy", q.data(), {2, 3, 2});
  write_npy_array(tmp.path() / "K.npy", k.data(), {2, 3, 2});
  const std::string files = (tmp.path() / "Q.npy").string() + "," + (tmp.path() / "K.npy").string();
  usage_error([&] { load_qk<double>(files); },
              (tmp.path() / "K.npy").string() + ": head 1, row 2, col 1 is infinite");
  q[4] = std::nanf("");
  write_npy_array(tmp.path() / "Q.npy", q.data(), {2, 3, 2});
  usage_error([&] { load_qk<float>(files); }, "head 0, row 2, col 0 is NaN");
}

// ---- memory ------------------------------------------------------------------------------------

TEST(Memory, SaturatesInsteadOfWrapping) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(saturating_mul(std::uint64_t{1} << 62, 4), kMax);
  EXPECT_EQ(saturating_mul(3, 5), 15u);
  EXPECT_EQ(saturating_add(kMax - 1, 2), kMax);
  EXPECT_GT(available_memory_bytes(), 0u);
  usage_error([] { check_factor_memory(kMax, "--d", "the factors", "lower --d"); },
              "--d: the factors: at least 2^63 bytes needed but");
  check_factor_memory(1024, "--d", "the factors", "lower --d");  // fits: no throw
}

TEST(Memory, PastThePlanIsAMemoryPlanErrorAndStillAUsageError) {
  EXPECT_THROW(check_factor_memory(std::uint64_t{1} << 62, "--d", "the factors", "lower --d"),
               MemoryPlanError);  // the Python package's MemoryError; the CLI's exit 2
  EXPECT_TRUE((std::is_base_of_v<UsageError, MemoryPlanError>));
}

// ---- cancel ------------------------------------------------------------------------------------

// A cancel request stops the listening thread's solves only, and a scope clears it on its way in
// and out (the Python package's Ctrl-C: the main thread listens, worker threads go on).
TEST(Cancel, StopsOnlyTheThreadThatListens) {
  EXPECT_NO_THROW(throw_if_cancelled());
  {
    CancelScope scope;
    EXPECT_NO_THROW(throw_if_cancelled());
    EXPECT_FALSE(cancel_requested());
    request_cancel();
    EXPECT_TRUE(cancel_requested());
    EXPECT_THROW(throw_if_cancelled(), Cancelled);
    bool other_thread_threw = false;
    std::thread other([&] {
      try {
        throw_if_cancelled();
      } catch (const Cancelled&) {
        other_thread_threw = true;
      }
    });
    other.join();
    EXPECT_FALSE(other_thread_threw);
    EXPECT_THROW(throw_if_cancelled(), Cancelled);  // still pending here
  }
  EXPECT_NO_THROW(throw_if_cancelled());  // not listening
  request_cancel();
  CancelScope next;  // a new scope starts clear
  EXPECT_FALSE(cancel_requested());
  EXPECT_NO_THROW(throw_if_cancelled());
}

// ---- compare -----------------------------------------------------------------------------------

class CompareRefuses : public ::testing::TestWithParam<Refusal> {};

TEST_P(CompareRefuses, NamingTheFileAndTheField) {
  usage_error(
      [&] {
        const BenchmarkFile f = parse_benchmark_json(GetParam().input, "b.json", "BASE 'b.json'");
        compare_benchmarks(f, f, CompareOptions{});
      },
      GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Classes, CompareRefuses,
    ::testing::Values(
        Refusal{"NumberOutOfRange", R"({"benchmarks": [{"name": "x", "real_time": 1e400}]})",
                "BASE 'b.json': unusable JSON value after field \"real_time\""},
        Refusal{"StringWhereNumber", R"({"benchmarks": [{"name": "x", "real_time": "fast"}]})",
                "BASE 'b.json': benchmark 'x' has \"real_time\" of type string, not a number"},
        Refusal{"NumberWhereString",
                R"({"benchmarks": [{"name": "x", "real_time": 1, "time_unit": 3}]})",
                "\"time_unit\" of type number, not a string"},
        Refusal{"StringWhereBoolean",
                R"({"benchmarks": [{"name": "x", "real_time": 1, "error_occurred": "no"}]})",
                "\"error_occurred\" of type string, not a boolean"},
        Refusal{"ContextNotAnObject",
                R"({"context": [], "benchmarks": [{"name": "x", "real_time": 1}]})",
                "\"context\" is of type array, not an object"}),
    [](const auto& info) { return info.param.name; });

// ---- range grammar -----------------------------------------------------------------------------

class RangeRefuses : public ::testing::TestWithParam<Refusal> {};

TEST_P(RangeRefuses, NamingTheFlag) {
  usage_error([&] { parse_int_axis(GetParam().input, "--T"); }, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Classes, RangeRefuses,
    ::testing::Values(
        Refusal{"NoStepKind", "256:8192:2",
                "--T: range '256:8192:2' has no step kind; write START:STOP:x2 (geometric) "
                "or START:STOP:+2"},
        Refusal{"Infinite", "inf", "--T: 'inf' is not a finite number"},
        Refusal{"NaN", "nan", "--T: 'nan' is not a finite number"},
        Refusal{"InfiniteInRange", "1:inf:x2", "'inf' is not a finite number"},
        Refusal{"OutOfRange", "1e400", "'1e400' is not a number"},
        Refusal{"TooManyPoints", "1:1e300:x1.0000001", "more than 100000 points"},
        Refusal{"StepTooSmallToMove", "1e18:2e18:+1", "more than 100000 points"},
        Refusal{"SpanOverflows", "-1e308:1e308:+1", "more than 100000 points"}),
    [](const auto& info) { return info.param.name; });

TEST(Range, KeepsTheDocumentedForms) {
  EXPECT_EQ(parse_int_axis("256:2048:x2", "--T"),
            (std::vector<std::int64_t>{256, 512, 1024, 2048}));
  EXPECT_EQ(parse_int_axis("100:300:+100", "--T"), (std::vector<std::int64_t>{100, 200, 300}));
  EXPECT_EQ(parse_int_axis("64,256:1024:x2", "--T"),
            (std::vector<std::int64_t>{64, 256, 512, 1024}));
}

// ---- the CLI -----------------------------------------------------------------------------------

struct Cli {
  TempDir cwd{"gapbench_readers_cwd"};
  TempDir capture{"gapbench_readers_out"};
  test::CliResult run(const std::vector<std::string>& args) {
    return test::run_command(cwd.path(), capture.path(), GAPBENCH_EXE, args);
  }
  // Exit 2, nothing on stdout, one line on stderr that holds `part`, and nothing written in cwd
  // besides the files the test put there.
  void expect_refusal(const std::vector<std::string>& args, const std::string& part,
                      std::size_t files_before) {
    const test::CliResult r = run(args);
    std::string line;
    for (const auto& a : args) line += a + ' ';
    EXPECT_EQ(r.exit_code, 2) << line << "\nstderr: " << r.err;
    EXPECT_NE(r.err.find(part), std::string::npos) << line << "\nstderr: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << line << "\nstderr: " << r.err;
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& entry : fs::recursive_directory_iterator(cwd.path())) ++files;
    EXPECT_EQ(files, files_before) << line << ": wrote into its directory";
  }
};

// Issue 14's reproducers: shapes whose product passes 2^64 crashed or read past the heap.
TEST(CliReaders, ReproducerShapesExitTwoWithOneLine) {
  Cli cli;
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"(4611686018427387904, 4, 1)", {}},
      {"(2305843009213693952, 8, 1)", {}},
      {"(4611686018427387905, 4, 1)", {"--solver", "exact", "--k", "2"}}};
  for (const auto& [shape, extra] : cases) {
    test::write_text(cli.cwd.path() / "F.npy", npy(dict("<f4", shape), kFew));
    std::vector<std::string> args = {"run", "--qk", "F.npy,F.npy"};
    args.insert(args.end(), extra.begin(), extra.end());
    cli.expect_refusal(args, "--qk: F.npy: shape " + shape + " of <f4 holds more than 2^63 bytes",
                       1);
  }
}

TEST(CliReaders, NonFiniteQueriesExitTwo) {
  Cli cli;
  std::vector<float> q(4 * 2, 1.0f);
  q[3] = std::nanf("");
  write_npy_array(cli.cwd.path() / "Q.npy", q.data(), {4, 2});
  cli.expect_refusal({"run", "--qk", "Q.npy,Q.npy"}, "--qk: Q.npy: head 0, row 1, col 1 is NaN", 1);
}

TEST(CliReaders, HugeSizesAreRefusedBeforeAnythingIsWritten) {
  Cli cli;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"sweep", "--model", "attention", "--T", "256", "--d", "2000000000", "--seeds", "1", "--out",
        "out"},
       "--d: "},
      {{"propagate", "--T", "64", "--d", "2000000000", "--L", "1", "--out", "out"}, "--d: "},
      {{"propagate", "--T", "2147483648", "--gamma", "1048576", "--L", "1", "--out", "out"}, "--T: "},
      {{"propagate", "--T", "64", "--attention", "attention", "--dk", "2000000000", "--L", "1",
        "--out", "out"},
       "--dk: "},
      {{"propagate", "--T", "64", "--dk", "2000000000", "--L", "1", "--out", "out"},
       "--dk: the key width applies to --attention attention only"},
      {{"sweep", "--T", "256", "--seeds", "4294967296", "--out", "out"},
       "--seeds: 4294967296 matrices per point is above the limit"},
      {{"sweep", "--T", "2:100000:+1", "--beta", "1:100:+1", "--out", "out"},
       "the plan has 9999900 points, above the limit of 1000000"},
      {{"sweep", "--T", "256:8192:2", "--out", "out"}, "has no step kind"}};
  for (const auto& [args, part] : cases) cli.expect_refusal(args, part, 0);
}

TEST(CliCompare, RefusesJsonOutThatIsAnInputAndWritesAtomically) {
  Cli cli;
  const fs::path data = GAPBENCH_COMPARE_DATA;
  fs::copy_file(data / "base.json", cli.cwd.path() / "base.json");
  fs::copy_file(data / "regressed.json", cli.cwd.path() / "new.json");
  fs::create_symlink("base.json", cli.cwd.path() / "link.json");
  const std::string before = read_file(cli.cwd.path() / "base.json");
  for (const std::string out : {"base.json", "./new.json", "link.json"}) {
    cli.expect_refusal({"compare", "base.json", "new.json", "--json", out},
                       "--json: '" + out + "' is the input file", 3);
  }
  EXPECT_EQ(read_file(cli.cwd.path() / "base.json"), before);
  const test::CliResult r = cli.run({"compare", "base.json", "new.json", "--json", "report.json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;  // regressed.json regresses
  EXPECT_NE(read_file(cli.cwd.path() / "report.json").find("\"verdict\""), std::string::npos);
  EXPECT_FALSE(fs::exists(cli.cwd.path() / "report.json.tmp"));
}

TEST(CliCompare, OutOfRangeNumberExitsTwoNamingFileAndField) {
  Cli cli;
  test::write_text(cli.cwd.path() / "a.json",
                   R"({"benchmarks": [{"name": "x", "real_time": 1e400}]})");
  cli.expect_refusal({"compare", "a.json", "a.json"},
                     "BASE file 'a.json': unusable JSON value after field \"real_time\"", 1);
}

}  // namespace
}  // namespace gapbench
