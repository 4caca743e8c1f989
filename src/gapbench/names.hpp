// Enum <-> name tables for the CLI's choices (--model, --backend, --solver, ...): one table per
// enum gives both directions, and an unknown name a UsageError naming the flag and the choices.
#pragma once

#include <fmt/format.h>

#include <array>
#include <cstddef>
#include <string>
#include <utility>

#include "gapbench/error.hpp"

namespace gapbench {

template <typename Enum, std::size_t N>
using NameTable = std::array<std::pair<const char*, Enum>, N>;

// The value named `s`, or UsageError "FLAG: unknown WHAT 'S'; choose one of: A, B, C NOTE".
template <typename Enum, std::size_t N>
Enum parse_name(const NameTable<Enum, N>& names, const std::string& s, const std::string& flag,
                const char* what = "value", const char* note = "") {
  std::string choices;
  for (const auto& [name, value] : names) {
    if (s == name) return value;
    choices += (choices.empty() ? "" : ", ") + std::string(name);
  }
  throw UsageError(
      fmt::format("{}: unknown {} '{}'; choose one of: {}{}", flag, what, s, choices, note));
}

template <typename Enum, std::size_t N>
std::string name_of(const NameTable<Enum, N>& names, Enum v) {
  for (const auto& [name, value] : names) {
    if (value == v) return name;
  }
  return "?";
}

}  // namespace gapbench
