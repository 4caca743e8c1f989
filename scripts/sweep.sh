#!/usr/bin/env bash
# The main job: sets up and builds gapbench, runs a width sweep on the best backend present
# (default: markov, exponential entries, T = 256 ... 4096 by x2, 4 seeds, lanczos, k = 4,
# float64), prints its summary table and plots it (gapbench sweep --plot: s1 and s2 against T
# with the theory, and the other figures of scripts/plot.py). Arguments go to `gapbench sweep`
# (e.g. --T 256:8192:x2 --seeds 8). Each run writes a new directory under results/sweeps/
# (git-ignored) unless --out or --resume is given.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
"${GAPBENCH_BUILD_DIR:-build}/bin/gapbench" sweep --plot "$@"
