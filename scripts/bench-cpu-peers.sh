#!/usr/bin/env bash
# Issue 2's speed check, one run on this machine: dumps one T x T markov matrix (exponential
# entries, float64), times gapbench's lanczos and LAPACK dgesdd on it (gapbench_bench), then
# SciPy's svds and svdvals on the same file, and prints the ratios. Default T = 4096.
# Writes results/cpu/<host>/peers_T<T>.json (small; the matrix itself stays in results/tmp/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
T="${1:-4096}"
build_dir="${GAPBENCH_BUILD_DIR:-build}"
mkdir -p results/tmp
matrix="results/tmp/markov_exponential_T${T}.npy"
"$build_dir/bin/gapbench" dump --T "$T" --out "$matrix"
"$build_dir/bin/gapbench_bench" --matrix="$matrix" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true --benchmark_out=results/tmp/cpu_peers_bench.json \
  --benchmark_out_format=json
source scripts/lib.sh
out_dir="results/cpu/$(device_key)"
mkdir -p "$out_dir"
/usr/bin/python3 scripts/cpu_peers.py "$matrix" --bench results/tmp/cpu_peers_bench.json \
  --json "$out_dir/peers_T${T}.json"
