# Third-party dependencies, all from Debian packages (scripts/setup.sh installs them):
#   libfmt-dev libcli11-dev nlohmann-json3-dev librandom123-dev libopenblas-dev liblapacke-dev
#   libgtest-dev libbenchmark-dev libsqlite3-dev
# No network access at build time.
find_package(fmt REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(PkgConfig REQUIRED)
# OpenBLAS through pkg-config: Debian's openblas.pc points at the variant chosen by
# update-alternatives (pthread), whose cblas.h lives in a variant-specific include directory.
pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)
pkg_check_modules(LAPACKE REQUIRED IMPORTED_TARGET lapacke)
# SQLite for the performance history (`gapbench history`), through CMake's FindSQLite3.
find_package(SQLite3 REQUIRED)

# Random123 is header-only with no CMake package: an imported target, as gapbenchConfig.cmake
# makes it again for projects that use an installed gapbench.
find_path(RANDOM123_INCLUDE_DIR Random123/philox.h)
if(NOT RANDOM123_INCLUDE_DIR)
  message(FATAL_ERROR "Random123 not found: install Debian's librandom123-dev (scripts/setup.sh)")
endif()
add_library(gapbench::random123 INTERFACE IMPORTED)
set_target_properties(gapbench::random123 PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES ${RANDOM123_INCLUDE_DIR})

if(GAPBENCH_TESTS)
  find_package(GTest REQUIRED)
endif()
if(GAPBENCH_BENCH)
  find_package(benchmark REQUIRED)
endif()
