#!/usr/bin/env bash
# Smoke pass of the benchmark harness (run by ctest, so by CI): every family at T = 256 with 3
# repetitions and a tiny minimum time, then `gapbench compare` of the output with itself, which
# must find nothing regressed (exit 0). Arguments: the gapbench_bench and gapbench executables.
set -euo pipefail
bench="${1:-build/bin/gapbench_bench}"
gapbench="${2:-build/bin/gapbench}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$bench" --max-T=256 --reps=3 --min-time=0.01 \
  --benchmark_out="$out/smoke.json" --benchmark_out_format=json >/dev/null
"$gapbench" compare "$out/smoke.json" "$out/smoke.json"
