#!/usr/bin/env bash
# Issue 2's speed check, one run on this machine: dumps one T x T markov matrix (exponential
# entries, float64), times gapbench's lanczos and LAPACK dgesdd on it (gapbench_bench), then
# SciPy's svds and svdvals on the same file, and prints the ratios. Default T = 4096.
# Writes results/cpu/<host>/peers_T<T>.json (small; the matrix itself stays in results/tmp/).
#
# scripts/bench-cpu-peers.sh [T] eigen: issue 16's check instead: for each matrix index in
# GAPBENCH_PEER_INDICES (default "0 1 2", one seed each), gapbench's arnoldi (top 4, median of 3)
# and geev (values only, one run) and one product with A, then SciPy's eigs (ncv = 60 and 20)
# and eigvals on the same file. Writes results/cpu/<host>/eigen_peers_T<T>.json.
# GAPBENCH_SKIP_SETUP=1 skips scripts/setup.sh (gapbench and gapbench_bench already built).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ "${GAPBENCH_SKIP_SETUP:-0}" == 1 ]] || scripts/setup.sh
T="${1:-4096}"
spectrum="${2:-singular}"
build_dir="${GAPBENCH_BUILD_DIR:-build}"
mkdir -p results/tmp
source scripts/lib.sh
out_dir="results/cpu/$(device_key)"
mkdir -p "$out_dir"
case "$spectrum" in
  singular)
    matrix="results/tmp/markov_exponential_T${T}.npy"
    "$build_dir/bin/gapbench" dump --T "$T" --out "$matrix"
    "$build_dir/bin/gapbench_bench" --matrix="$matrix" --benchmark_repetitions=3 \
      --benchmark_report_aggregates_only=true --benchmark_out=results/tmp/cpu_peers_bench.json \
      --benchmark_out_format=json
    /usr/bin/python3 scripts/cpu_peers.py "$matrix" --bench results/tmp/cpu_peers_bench.json \
      --json "$out_dir/peers_T${T}.json"
    ;;
  eigen)
    matrices=() benches=()
    for index in ${GAPBENCH_PEER_INDICES:-0 1 2}; do
      matrix="results/tmp/markov_exponential_T${T}_index${index}.npy"
      bench="results/tmp/eigen_peers_bench_T${T}_index${index}.json"
      "$build_dir/bin/gapbench" dump --T "$T" --index "$index" --out "$matrix"
      # arnoldi: 3 repetitions (median); geev past T = 2048: one (the family's own rule).
      "$build_dir/bin/gapbench_bench" --matrix="$matrix" --reps=3 \
        --benchmark_filter='^cpu/(eigen/|pass/apply/float64/)' \
        --benchmark_out="$bench" --benchmark_out_format=json
      matrices+=("$matrix") benches+=("$bench")
    done
    /usr/bin/python3 scripts/cpu_peers.py --spectrum eigen "${matrices[@]}" \
      --bench "${benches[@]}" --json "$out_dir/eigen_peers_T${T}.json"
    ;;
  *)
    echo "bench-cpu-peers.sh: error: second argument '$spectrum': singular or eigen" >&2
    exit 2
    ;;
esac
