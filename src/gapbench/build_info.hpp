// Facts about this build and this run for results metadata: version, git commit, build type,
// compiler, CUDA architectures, library versions, host, times.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace gapbench {

std::string gapbench_version();
// The commit this build was compiled from, recorded at build time: the short hash (12 digits),
// with "-dirty" when tracked files had uncommitted changes, or "unknown" outside a git checkout.
// Defined in the generated build_commit.cpp (cmake/GapbenchBuildCommit.cmake).
std::string git_commit();
nlohmann::json build_info();        // version, commit, build type, compiler, CUDA architectures
nlohmann::json library_versions();  // fmt, nlohmann-json, CLI11 (from the CLI), Random123
std::string host_name();
std::string utc_now_iso();      // 2026-11-27T21:30:00Z
std::string utc_now_compact();  // 20261127T213000Z

}  // namespace gapbench
