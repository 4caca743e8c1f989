#!/usr/bin/env bash
# The Python package (docs/python.md) for the tests: a virtual environment .venv (Debian's
# python3-venv, with the system's NumPy, SciPy and pandas) with the pinned build and test tools
# of python/requirements-dev.txt from PyPI, and gapbench built into it from this clone by
# scikit-build-core (with the CUDA backend when nvcc is on PATH, as scripts/setup.sh finds it).
# Incremental: the build tree stays in build/python/. Output in build/python-build.log; a failed
# build prints its error lines and exits 1. About 2 minutes on 2 cores for a CPU-only build.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvcc >/dev/null 2>&1 && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
mkdir -p build
log=build/python-build.log
if [[ ! -x .venv/bin/python ]]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
.venv/bin/python -m pip install -q -r python/requirements-dev.txt >"$log" 2>&1 || {
  echo "python-setup: pip could not install python/requirements-dev.txt (log: $log)"
  tail -n 5 "$log"
  exit 1
}
start=$SECONDS
if ! .venv/bin/python -m pip install --no-build-isolation --no-deps . >>"$log" 2>&1; then
  echo "python-setup: building the Python package failed (log: $log):"
  grep -E "error|Error" "$log" | head -n 20
  exit 1
fi
echo "python-setup: installed gapbench $(.venv/bin/python -c 'import gapbench; print(gapbench.__version__)') into .venv in $((SECONDS - start)) s (log: $log)"
