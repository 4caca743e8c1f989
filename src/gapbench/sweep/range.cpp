#include "gapbench/sweep/range.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "gapbench/error.hpp"
#include "gapbench/text.hpp"

namespace gapbench {
namespace {

double parse_number(const std::string& s, const std::string& flag, const std::string& item) {
  double v = 0;
  const char* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, v);
  if (s.empty() || ec != std::errc() || ptr != end) {
    throw UsageError(
        fmt::format("{}: '{}' is not a number (in '{}'); write a list such as "
                    "256,512 or a range such as 256:4096:x2",
                    flag, s, item));
  }
  // from_chars reads "inf" and "nan" too; no axis has a use for them.
  if (!std::isfinite(v)) {
    throw UsageError(fmt::format("{}: '{}' is not a finite number (in '{}')", flag, s, item));
  }
  return v;
}

// Expands one item (a number or a range) into values.
std::vector<double> expand_item(const std::string& item, const std::string& flag) {
  const std::vector<std::string> parts = split(item, ':');
  if (parts.size() == 1) return {parse_number(parts[0], flag, item)};
  if (parts.size() != 3 || parts[2].empty()) {
    throw UsageError(fmt::format(
        "{}: malformed range '{}'; write START:STOP:xFACTOR or START:STOP:+STEP", flag, item));
  }
  const double start = parse_number(parts[0], flag, item);
  const double stop = parse_number(parts[1], flag, item);
  const char kind = parts[2][0];
  const bool geometric = kind == 'x' || kind == '*';
  if (!geometric && kind != '+') {
    throw UsageError(fmt::format(
        "{}: range '{}' has no step kind; write START:STOP:x{} (geometric) or START:STOP:+{} "
        "(arithmetic)",
        flag, item, parts[2], parts[2]));
  }
  const double step = parse_number(parts[2].substr(1), flag, item);
  if (start > stop) {
    throw UsageError(
        fmt::format("{}: range '{}' is empty: START {} is above STOP {}", flag, item, start, stop));
  }
  if (geometric ? (step <= 1 || start <= 0) : step <= 0) {
    throw UsageError(
        fmt::format("{}: range '{}' never reaches its stop; use a factor > 1 from a positive start "
                    "(x2) or a step > 0 (+1)",
                    flag, item));
  }
  // The count up front, so that a range of 10^300 points (or one whose step is too small to move
  // a double, 1e18:2e18:+1) is refused before the loop; the cap in the loop stays as a backstop.
  const double count = geometric ? std::log(stop / start) / std::log(step) : (stop - start) / step;
  if (!(count < static_cast<double>(kMaxAxisPoints))) {
    throw UsageError(fmt::format("{}: range '{}' has more than {} points; narrow it", flag, item,
                                 kMaxAxisPoints));
  }
  std::vector<double> values;
  const double slack = 1e-9 * std::max(std::abs(stop), 1.0);
  for (std::size_t i = 0;; ++i) {
    const double v = geometric ? start * std::pow(step, static_cast<double>(i))
                               : start + step * static_cast<double>(i);
    if (v > stop + slack) break;
    if (values.size() >= kMaxAxisPoints) {
      throw UsageError(fmt::format("{}: range '{}' has more than {} points; narrow it", flag, item,
                                   kMaxAxisPoints));
    }
    values.push_back(v);
  }
  return values;
}

std::vector<double> expand(const std::string& text, const std::string& flag) {
  if (text.empty()) throw UsageError(fmt::format("{}: empty value; give at least one", flag));
  std::vector<double> values;
  for (const std::string& item : split(text, ',')) {
    if (item.empty()) {
      throw UsageError(fmt::format("{}: empty item in '{}' (two commas in a row?)", flag, text));
    }
    for (double v : expand_item(item, flag)) values.push_back(v);
    if (values.size() > kMaxAxisPoints) {
      throw UsageError(fmt::format("{}: more than {} points; narrow it", flag, kMaxAxisPoints));
    }
  }
  return values;
}

}  // namespace

std::vector<std::int64_t> parse_int_axis(const std::string& text, const std::string& flag) {
  std::vector<std::int64_t> out;
  for (const double v : expand(text, flag)) {
    const double rounded = std::round(v);
    if (std::abs(v - rounded) > 1e-9 * std::max(1.0, std::abs(v)) || std::abs(v) > 9.0e15) {
      throw UsageError(fmt::format("{}: {} is not an integer", flag, v));
    }
    out.push_back(static_cast<std::int64_t>(rounded));
  }
  return out;
}

std::vector<double> parse_real_axis(const std::string& text, const std::string& flag) {
  return expand(text, flag);
}

std::vector<std::string> parse_name_list(const std::string& text, const std::string& flag) {
  if (text.empty()) throw UsageError(fmt::format("{}: empty value; give at least one", flag));
  std::vector<std::string> names = split(text, ',');
  for (const auto& n : names) {
    if (n.empty()) throw UsageError(fmt::format("{}: empty item in '{}'", flag, text));
  }
  return names;
}

}  // namespace gapbench
