#!/usr/bin/env bash
# The propagation reproduction of results/reference/<device>/propagation/ and its figures (issue
# 17): the paper's A(X) network as the authors ran it (attention-only, skip connection and
# LayerNorm after every layer, Xavier-normal W_Q and W_K, isometric X0, gamma = 1, beta = 1,
# W_V entries N(0, 1)), with A and with A_perp, 3 seeds:
#   width/  ln ||dX_L/dW_1||_F^2 (reverse mode, Gaussian probes) against T = 32 ... 1024 at
#           L = 3, and every layer's stable rank and logits' spread
#   depth/  the same against the depth L = 1 ... 10 at T = 256; its L = 10 networks give the
#           stable rank through depth (networks of every L share their layers)
#   figures/  propagation_gradient (against T), propagation_gradient_depth (against L),
#           propagation_depth (stable rank against the layer)
# Probes: at least 8, at most 64 per network, until every layer's relative standard error is 5%.
# About 5 minutes on a 2-core machine (docs/propagation.md has the measured time); a GPU
# (--backend cuda, the same code over its stages) or a cluster (--shard, docs/cluster.md) takes
# T and L further. Overwrites what was there.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/lib.sh
gapbench="${GAPBENCH_BUILD_DIR:-build}/bin/gapbench"
root="results/reference/$(device_key)/propagation"
rm -rf "$root"
mkdir -p "$root"
network=(--attention attention --variant skip --layernorm --init xavier-normal --gamma 1
         --fix none,center --seeds 3 --gradient --probes 8 --probes-max 64 --probe-rse 0.05)
start=$SECONDS
"$gapbench" propagate "${network[@]}" --T 32:1024:x2 --L 3 --out "$root/width" >/dev/null
"$gapbench" propagate "${network[@]}" --T 256 --L 1,2,3,4,5,6,7,8,9,10 \
  --out "$root/depth" >/dev/null
echo "propagation-sweep: networks in $((SECONDS - start)) s"
/usr/bin/python3 scripts/plot.py "$root/width" --only propagation_gradient --out "$root/figures"
/usr/bin/python3 scripts/plot.py "$root/depth" --only propagation_gradient_depth,propagation_depth \
  --out "$root/figures"
echo "propagation-sweep: done in $SECONDS s: $root"
