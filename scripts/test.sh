#!/usr/bin/env bash
# Sets up and builds gapbench with warnings as errors, and the Python package into .venv
# (scripts/python-setup.sh), then runs every test (ctest). GPU tests
# skip, with their reason, where no device is present. Extra arguments go to ctest (e.g. -R Lanczos).
set -euo pipefail
cd "$(dirname "$0")/.."
GAPBENCH_WERROR=ON scripts/setup.sh
scripts/python-setup.sh
build_dir="${GAPBENCH_BUILD_DIR:-build}"
ctest --test-dir "$build_dir" -j "$(nproc)" --output-on-failure "$@"
