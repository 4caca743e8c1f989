#!/usr/bin/env bash
# Smoke test of scripts/bench-baseline.sh with the performance history (run by ctest): two short
# runs of one benchmark family into a fresh history database and baselines directory. The first
# has no history (exit 0, stored as the baseline); the second is checked against the first (exit
# 0 or 1: a real verdict on a noisy machine), the baseline is not added twice, and both markdown
# reports are written. Arguments: the source directory and the build directory (absolute).
set -euo pipefail
src=$1
build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GAPBENCH_NO_SETUP=1 GAPBENCH_BUILD_DIR="$build" GAPBENCH_HISTORY_DB="$work/history.sqlite"
export GAPBENCH_BASELINES="$work/baselines" GAPBENCH_TMP="$work/tmp"
args=(--max-T=256 --reps=3 --min-time=0.01 --benchmark_filter=cpu/generate/markov)
"$src/scripts/bench-baseline.sh" "${args[@]}" >"$work/first.log" 2>&1 ||
  { echo "bench_history: the first run failed:"; cat "$work/first.log"; exit 1; }
status=0
"$src/scripts/bench-baseline.sh" "${args[@]}" >"$work/second.log" 2>&1 || status=$?
if ((status > 1)); then
  echo "bench_history: the second run exited $status:"; cat "$work/second.log"; exit 1
fi
runs=$("$build/bin/gapbench" history list --db "$GAPBENCH_HISTORY_DB" --format json |
  /usr/bin/python3 -c 'import json, sys; print(len(json.load(sys.stdin)["runs"]))')
[[ $runs == 2 ]] || { echo "bench_history: $runs runs in the history, not 2"; exit 1; }
reports=$(ls "$GAPBENCH_TMP"/check-*.md | wc -l)
[[ $reports == 2 ]] || { echo "bench_history: $reports markdown reports, not 2"; exit 1; }
grep -q "Performance check of" "$GAPBENCH_TMP"/check-*.md
grep -q "verdict:" "$work/second.log"
echo "bench_history: ok (second check exit $status)"
