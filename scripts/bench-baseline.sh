#!/usr/bin/env bash
# Performance regression check on this machine: runs the whole benchmark suite (9 repetitions at
# T <= 2048, fewer above, interleaved at random so that a slow spell of a shared machine spreads
# over all benchmarks instead of shifting a few), adds the run to the performance history
# (results/history/history.sqlite, `gapbench history`; the stored baselines of results/baselines
# are imported first, once) and checks it against the recent runs of this device:
#   exit 0  nothing regressed beyond the threshold (5%) and the history's noise
#   exit 1  something did (listed)
#   exit 2  unusable input
# The check compares with the median of the last 10 runs of the same device fingerprint; with
# fewer than 5 it compares with the latest run (`gapbench history check --help`). Its markdown
# report (for a pull request) goes to results/tmp/check-<device>-<date>.md.
# --update also stores this run as the device's baseline, results/baselines/<device>/
# baseline.json (done too when there is none).
# Environment: GAPBENCH_HISTORY_DB (default results/history/history.sqlite), GAPBENCH_BASELINES
# (default results/baselines), GAPBENCH_TMP (default results/tmp: the run's JSON and reports),
# GAPBENCH_NO_SETUP=1 (use the build as it is; the ctest smoke test bench_history does).
# Other arguments go to gapbench_bench (e.g. --max-T=4096 --benchmark_filter=cpu/solve).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ ${GAPBENCH_NO_SETUP:-0} == 1 ]] || scripts/setup.sh
source scripts/lib.sh
build_dir="${GAPBENCH_BUILD_DIR:-build}"
update=0
args=()
for a in "$@"; do
  if [[ "$a" == --update ]]; then update=1; else args+=("$a"); fi
done
device=$(device_key)
baselines="${GAPBENCH_BASELINES:-results/baselines}"
tmp="${GAPBENCH_TMP:-results/tmp}"
dir="$baselines/$device"
mkdir -p "$dir" "$tmp"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
new="$tmp/bench-$device-$stamp.json"
echo "bench: device $device; writing $new"
"$build_dir/bin/gapbench_bench" --benchmark_out="$new" --benchmark_out_format=json \
  --benchmark_display_aggregates_only=true --benchmark_enable_random_interleaving=true \
  "${args[@]}"
db="${GAPBENCH_HISTORY_DB:-results/history/history.sqlite}"
gapbench="$build_dir/bin/gapbench"
if compgen -G "$baselines/*/*.json" >/dev/null; then
  "$gapbench" history import "$baselines" --db "$db" >"$tmp/history-import.log"
fi
branch=$(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo "")
"$gapbench" history add "$new" --db "$db" --branch "$branch"
if [[ $update == 1 || ! -f "$dir/baseline.json" ]]; then
  /usr/bin/python3 scripts/slim-bench-json.py "$new" "$dir/baseline.json"
  echo "bench: stored $dir/baseline.json"
fi
report="$tmp/check-$device-$stamp.md"
status=0
"$gapbench" history check "$new" --db "$db" --format markdown >"$report" || status=$?
"$gapbench" history check "$new" --db "$db" || true
echo "bench: history check exit $status; markdown report $report"
exit "$status"
