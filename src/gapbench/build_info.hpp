// Facts about this build and this run for results metadata: version, git commit, build type,
// compiler, CUDA architectures, library versions, host, times.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace gapbench {

std::string gapbench_version();
// The source tree gapbench was built from (where scripts/ lives).
std::string source_directory();
// The commit of the source tree (with "-dirty" when it has uncommitted changes), read with git at
// run time; the configure-time commit when git is unavailable.
std::string git_commit();
nlohmann::json build_info();        // version, commit, build type, compiler, CUDA architectures
nlohmann::json library_versions();  // fmt, nlohmann-json, CLI11 (from the CLI), Random123
std::string host_name();
std::string utc_now_iso();      // 2026-11-27T21:30:00Z
std::string utc_now_compact();  // 20261127T213000Z

}  // namespace gapbench
