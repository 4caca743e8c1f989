// `gapbench compare`'s reader of Google Benchmark JSON and the comparison after it. An input with
// a NUL byte is two files, BASE before it and NEW after; otherwise the file is compared with
// itself. Both reports (the table and the JSON) are rendered, as the CLI does.
#include <string>

#include "fuzz_support.hpp"
#include "gapbench/compare/compare.hpp"

GAPBENCH_FUZZ_READER([](std::string_view bytes) {
  const std::size_t split = bytes.find('\0');
  const std::string base_text(bytes.substr(0, split));
  const std::string new_text(split == std::string_view::npos ? bytes : bytes.substr(split + 1));
  const gapbench::BenchmarkFile base = gapbench::parse_benchmark_json(base_text, "b", "BASE");
  const gapbench::BenchmarkFile fresh = gapbench::parse_benchmark_json(new_text, "n", "NEW");
  for (const char* metric : {"real_time", "items_per_second"}) {
    gapbench::CompareOptions options;
    options.metric = metric;
    try {
      const gapbench::CompareReport report = gapbench::compare_benchmarks(base, fresh, options);
      gapbench::render_compare_table(report);
      gapbench::compare_report_json(report).dump(2);
    } catch (const gapbench::UsageError&) {
    }
  }
})
