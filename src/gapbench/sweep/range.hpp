// Parsing of sweep axes given as lists and ranges:
//   "256,512,1000"      a list
//   "256:8192:x2"       geometric: 256, 512, ..., 8192 (the stop is included when reached)
//   "0.5:2:+0.5"        arithmetic: 0.5, 1, 1.5, 2
//   "64,256:1024:x2"    lists of either
// Errors name the flag and say what is wrong (malformed, empty, endless, too many points).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gapbench {

inline constexpr std::size_t kMaxAxisPoints = 100000;

std::vector<std::int64_t> parse_int_axis(const std::string& text, const std::string& flag);
std::vector<double> parse_real_axis(const std::string& text, const std::string& flag);
// A comma-separated list of names ("markov,attention").
std::vector<std::string> parse_name_list(const std::string& text, const std::string& flag);

}  // namespace gapbench
