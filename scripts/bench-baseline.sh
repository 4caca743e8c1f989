#!/usr/bin/env bash
# Performance regression check on this machine: runs the whole benchmark suite (9 repetitions at
# T <= 2048, fewer above, interleaved at random so that a slow spell of a shared machine spreads
# over all benchmarks instead of shifting a few) and compares it with the stored baseline of
# this device,
# results/baselines/<device>/baseline.json, through `gapbench compare`:
#   exit 0  nothing regressed significantly beyond the noise threshold (5%)
#   exit 1  something did (listed)
#   exit 2  unusable input
# --update stores this run as the device's baseline instead (also done when there is none).
# Other arguments go to gapbench_bench (e.g. --max-T=4096 --benchmark_filter=cpu/solve).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/lib.sh
build_dir="${GAPBENCH_BUILD_DIR:-build}"
update=0
args=()
for a in "$@"; do
  if [[ "$a" == --update ]]; then update=1; else args+=("$a"); fi
done
device=$(device_key)
dir="results/baselines/$device"
mkdir -p "$dir" results/tmp
stamp=$(date -u +%Y%m%dT%H%M%SZ)
new="results/tmp/bench-$device-$stamp.json"
echo "bench: device $device; writing $new"
"$build_dir/bin/gapbench_bench" --benchmark_out="$new" --benchmark_out_format=json \
  --benchmark_display_aggregates_only=true --benchmark_enable_random_interleaving=true \
  "${args[@]}"
if [[ $update == 1 || ! -f "$dir/baseline.json" ]]; then
  /usr/bin/python3 scripts/slim-bench-json.py "$new" "$dir/baseline.json"
  echo "bench: stored $dir/baseline.json"
  exit 0
fi
"$build_dir/bin/gapbench" compare "$dir/baseline.json" "$new" \
  --json "results/tmp/compare-$device-$stamp.json"
