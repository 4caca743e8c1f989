#!/usr/bin/env bash
# The main job: sets up and builds gapbench, runs a width sweep on the best backend present
# (default: markov, exponential entries, T = 256 ... 4096 by x2, 4 seeds, lanczos, k = 4,
# float64), prints its summary table and plots s1 and s2 against T with the theory.
# Arguments go to `gapbench sweep` (e.g. --T 256:8192:x2 --seeds 8). Each run writes a new
# directory under results/sweeps/ (git-ignored) unless --out or --resume is given.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build_dir="${GAPBENCH_BUILD_DIR:-build}"

out=()
case " $* " in
  *" --out "*|*" --out="*|*" --resume "*|*" --resume="*) ;;
  *) out=(--out "results/sweeps/$(date -u +%Y%m%dT%H%M%SZ)") ;;
esac
"$build_dir/bin/gapbench" sweep "$@" "${out[@]}"

dir="${out[1]:-}"
if [[ -z "$dir" ]]; then
  # --out DIR or --resume DIR was given: plot that directory.
  args=("$@")
  for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
      --out|--resume) dir="${args[i+1]}" ;;
      --out=*|--resume=*) dir="${args[i]#*=}" ;;
    esac
  done
fi
/usr/bin/python3 scripts/plot.py "$dir"
