// Small text helpers shared by the results files, the range parser and the tests.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace gapbench {

// The fields of `text` between each `sep`: "a,,b," gives {"a", "", "b", ""}; "" gives {}.
std::vector<std::string> split(const std::string& text, char sep);

// The lines of `text` without their newlines; a last line without a newline is kept.
std::vector<std::string> split_lines(const std::string& text);

// One CSV line: the fields joined by commas, with the trailing newline (split's inverse).
std::string csv_line(const std::vector<std::string>& fields);

// The whole file, bytes as they are; empty when it cannot be read.
std::string read_file(const std::filesystem::path& path);

}  // namespace gapbench
