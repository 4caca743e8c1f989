#!/usr/bin/env bash
# The reference results of results/reference/<device>/ and their figures, on this machine:
#   markov/     markov, exponential entries and lognormal beta = 0.5, fix none and center,
#               T = 256 ... 8192 by x2, 4 seeds, lanczos k = 4, float64
#   attention/  attention, gaussian inputs, d = 64, beta = 1, the same axes
#   bulk/       every singular value (exact, --all-values) of 2 matrices per law at T = 1024
#   propagate_depth/  attention-only networks (markov exponential A, isometric X0, gamma = 1;
#               plain, skip, scaled-skip; with A and A_perp; 3 seeds) at T = 512, L = 10
#   propagate/  the same after one layer, T = 64 ... 1024 (rank collapse in width)
#   propagate_gradient/  the linear model's log gradient norm (l = 1, L = 2; T = 20 ... 150;
#               10 seeds; with A and A_perp)
#   eigen/      eigenvalues (--spectrum eigen, arnoldi, errors against geev: --reference auto) of
#               markov exponential, fix none, center and deflate, T = 256 ... 2048 by x2, 4 seeds
#   eigen_bulk/ every eigenvalue (exact geev, --all-values) of 1 matrix per fix at T = 256, 1024
#   eigen_causal/  causal attention's eigenvalues (its diagonal), d = 64, fix none and center,
#               T = 256 ... 8192 by x2, 4 seeds
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
eigen_sweeps() {
  "$gapbench" sweep --spectrum eigen --fix none,center,deflate --T 256:2048:x2 --seeds 4 \
    --reference auto --out "$root/eigen"
  "$gapbench" sweep --spectrum eigen --solver exact --fix none,center,deflate --T 256,1024 \
    --seeds 1 --all-values --out "$root/eigen_bulk"
  "$gapbench" sweep --model attention --causal --d 64 --spectrum eigen --fix none,center \
    --T 256:8192:x2 --seeds 4 --out "$root/eigen_causal"
  /usr/bin/python3 scripts/plot.py "$root/eigen" --only eigen_gap_vs_T --out "$root/figures"
  /usr/bin/python3 scripts/plot.py "$root/eigen_bulk" --only eigen_scatter --formats png \
    --out "$root/figures"  # its SVG holds every point: 0.7 MB
}
if [[ ${1:-} == --eigen-only ]]; then  # the eigenvalue directories alone, the rest kept
  rm -rf "$root/eigen" "$root/eigen_bulk" "$root/eigen_causal"
  mkdir -p "$root"
  eigen_sweeps
  exit 0
fi
rm -rf "$root/markov" "$root/attention" "$root/bulk" "$root/propagate" "$root/propagate_depth" \
  "$root/propagate_gradient" "$root/figures" "$root/eigen" "$root/eigen_bulk" "$root/eigen_causal"
mkdir -p "$root"
"$gapbench" sweep --model markov --law exponential,lognormal --beta 0.5 --T 256:8192:x2 \
  --seeds 4 --fix none,center --out "$root/markov"
"$gapbench" sweep --model attention --input gaussian --d 64 --T 256:8192:x2 --seeds 4 \
  --fix none,center --out "$root/attention"
"$gapbench" sweep --model markov --law exponential,lognormal --beta 0.5 --T 1024 --seeds 2 \
  --solver exact --all-values --out "$root/bulk"
eigen_sweeps
"$gapbench" propagate --T 512 --gamma 1 --L 10 --variant plain,skip,scaled-skip \
  --fix none,center --seeds 3 --out "$root/propagate_depth" >/dev/null
"$gapbench" propagate --T 64:1024:x2 --gamma 1 --L 1 --variant plain,skip,scaled-skip \
  --fix none,center --seeds 3 --out "$root/propagate" >/dev/null
"$gapbench" propagate --T 20,40,80,150 --gamma 1 --L 2 --fix none,center --gradient --seeds 10 \
  --out "$root/propagate_gradient" >/dev/null
extra=()
[[ -f "results/baselines/$device/baseline.json" ]] && extra+=(--bench "results/baselines/$device/baseline.json")
[[ -f "$root/compare.json" ]] && extra+=(--compare "$root/compare.json")
/usr/bin/python3 scripts/plot.py "$root/markov" "$root/attention" "${extra[@]}" --out "$root/figures"
/usr/bin/python3 scripts/plot.py "$root/bulk" --only bulk_histogram --out "$root/figures"
/usr/bin/python3 scripts/plot.py "$root/propagate_depth" --only propagation_depth --out "$root/figures"
/usr/bin/python3 scripts/plot.py "$root/propagate" --only propagation_width --out "$root/figures"
/usr/bin/python3 scripts/plot.py "$root/propagate_gradient" --only propagation_gradient \
  --out "$root/figures"
