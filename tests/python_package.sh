#!/usr/bin/env bash
# ctest python_package: the Python package's pytest suite (python/tests) in the .venv that
# scripts/python-setup.sh builds (scripts/test.sh runs it first). Skipped (exit 77) with the
# reason when there is none. $1: the source tree, $2: the gapbench executable of this build.
set -euo pipefail
root="$1"
python="$root/.venv/bin/python"
if [[ ! -x "$python" ]] || ! "$python" -c "import gapbench" 2>/dev/null; then
  echo "skipped: no .venv with the gapbench package (run scripts/python-setup.sh)"
  exit 77
fi
cd "$root"
GAPBENCH_EXE="$2" exec "$python" -m pytest -q -p no:cacheprovider python/tests
