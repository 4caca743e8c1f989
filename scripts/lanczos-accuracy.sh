#!/usr/bin/env bash
# How many passes lanczos needs for a given accuracy on s2, by block size and residual
# tolerance: the top 4 of one float32 attention matrix (gaussian inputs, d = dk = 64, seed 0,
# index 0) at T = 32768 (or $1), on the CPU, against float64 lanczos at tol 1e-10 on the float64
# matrix of the same draw. Passes over A are a property of the algorithm and the matrix, not of
# the backend: the GPU benchmarks (gpu/solve/lanczos/...) take their tolerances from this table,
# to set lanczos against xgesvdr at equal accuracy (issue 3: s2 error <= 1e-4).
# Writes results/cpu/<device>/lanczos_accuracy_T<T>.csv, with a metadata header.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
T="${1:-32768}"
build_dir="${GAPBENCH_BUILD_DIR:-build}"
source scripts/lib.sh
out_dir="results/cpu/$(device_key)"
out="$out_dir/lanczos_accuracy_T$T.csv"
mkdir -p "$out_dir"
gapbench() {
  "$build_dir/bin/gapbench" run --backend cpu --model attention --d 64 --T "$T" --solver lanczos "$@"
}
field() { awk -v key="$1" '$1 == key { print $2 }'; }

ref=$(gapbench --precision float64 --block 4 --tol 1e-10 | field s2)
tmp=$(mktemp "$out_dir/.lanczos_accuracy.XXXXXX")  # same filesystem: the mv below is atomic
trap 'rm -f "$tmp"' EXIT
{
  echo "# lanczos top 4, attention T=$T d=dk=64 float32, seed 0 index 0, CPU"
  echo "# reference s2 (float64 lanczos, tol 1e-10) = $ref"
  echo "# device=$(device_key) commit=$(git rev-parse --short=12 HEAD) date=$(date -u +%FT%TZ)"
  echo "block,tol,passes,converged,s2,s2_rel_err"
  for block in 1 2 4 8; do
    for tol in 0.3 0.1 0.03 0.01 default; do
      args=(--precision float32 --block "$block")
      [[ $tol != default ]] && args+=(--tol "$tol")
      run=$(gapbench "${args[@]}")
      s2=$(field s2 <<<"$run")
      passes=$(grep -o 'passes [0-9]*' <<<"$run" | cut -d' ' -f2)
      converged=$(grep -o 'converged [a-z]*' <<<"$run" | cut -d' ' -f2)
      err=$(/usr/bin/python3 -c "print('%.3e' % (abs($s2 - $ref) / $ref))")
      echo "$block,$tol,$passes,$converged,$s2,$err"
    done
  done
} >"$tmp"
chmod 644 "$tmp"  # mktemp makes it private
mv "$tmp" "$out"  # whole or not at all
cat "$out"
