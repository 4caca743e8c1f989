#!/usr/bin/env bash
# The reference results of results/reference/<device>/ and their figures, on this machine:
#   markov/     markov, exponential entries and lognormal beta = 0.5, fix none and center,
#               T = 256 ... 8192 by x2, 4 seeds, lanczos k = 4, float64
#   attention/  attention, gaussian inputs, d = 64, beta = 1, the same axes
#   bulk/       every singular value (exact, --all-values) of 2 matrices per law at T = 1024
#   figures/    scripts/plot.py of the above, with the device's benchmark baseline and the last
#               regression check (compare.json) when present
# A few minutes on a 2-core machine. Overwrites what was there.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/lib.sh
gapbench="${GAPBENCH_BUILD_DIR:-build}/bin/gapbench"
device=$(device_key)
root="results/reference/$device"
rm -rf "$root/markov" "$root/attention" "$root/bulk" "$root/figures"
mkdir -p "$root"
"$gapbench" sweep --model markov --law exponential,lognormal --beta 0.5 --T 256:8192:x2 \
  --seeds 4 --fix none,center --out "$root/markov"
"$gapbench" sweep --model attention --input gaussian --d 64 --T 256:8192:x2 --seeds 4 \
  --fix none,center --out "$root/attention"
"$gapbench" sweep --model markov --law exponential,lognormal --beta 0.5 --T 1024 --seeds 2 \
  --solver exact --all-values --out "$root/bulk"
extra=()
[[ -f "results/baselines/$device/baseline.json" ]] && extra+=(--bench "results/baselines/$device/baseline.json")
[[ -f "$root/compare.json" ]] && extra+=(--compare "$root/compare.json")
/usr/bin/python3 scripts/plot.py "$root/markov" "$root/attention" "${extra[@]}" --out "$root/figures"
/usr/bin/python3 scripts/plot.py "$root/bulk" --only bulk_histogram --out "$root/figures"
