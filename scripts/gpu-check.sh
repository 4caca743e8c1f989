#!/usr/bin/env bash
# The one script for a GPU machine (Hopper: H100 or H200), in three steps:
#
#   scripts/gpu-check.sh build            here, with no GPU: builds gapbench, gapbench_bench,
#                                         test_cuda and the Python extension (for the machine's
#                                         Python 3.12) for CUDA architecture 90 (build-gpu/) and
#                                         packs them with the non-CUDA shared libraries they need
#                                         (OpenBLAS, LAPACKE, fmt, Google Benchmark, libgomp)
#                                         into gpu-bundle/ (~20 MB compressed; the device tool
#                                         carries at most 64 MiB). The CUDA libraries (cuBLAS,
#                                         cuSOLVER 13) come from the GPU machine's own toolkit.
#   scripts/gpu-check.sh run OUT          there: the GPU tests, the GPU benchmarks and the sweeps,
#                                         each under a time limit, at most GPU_CHECK_SECONDS (420)
#                                         in all, so that a 15-minute lease leaves room for a
#                                         short rerun; writes
#                                         OUT/gpu-check.log and OUT/results.tar.gz (JSON, CSV),
#                                         packed again after every step so that a run cut short
#                                         keeps what it finished. Exit 1 when no device is seen.
#   scripts/gpu-check.sh collect DIR      here: unpacks DIR/results.tar.gz (the files the device
#                                         tool brought back) into results/gpu/<device>/<date>/
#
# The GPU benchmarks are compared with results/baselines/<device>/baseline.json when it exists
# (compare.json); store a new one with scripts/slim-bench-json.py BENCH.json BASELINE.json.
#
# With the device tool: `scripts/gpu-check.sh build`, then
#   run(command="scripts/gpu-check.sh run $OUT", carry=["gpu-bundle"], timeout_s=600)
# then `scripts/gpu-check.sh collect <files_at>` and commit results/gpu/.
#
# After the tests and benchmarks, cheapest first, all within GPU_CHECK_SECONDS: the sweeps of markov and
# attention (gaussian inputs, d = 64), float32, T = 1024 ... 32768 with lanczos, rsvd and xgesvdr
# (--reference auto: each row's error against float64), exact and gesvda to T = 8192 (cuSOLVER
# Xgesvd takes minutes past it; gesvda, an eigendecomposition of A^T A, is no faster); the fused
# operator at T = 65536 with --logits full, tf32 and bf16, and at T = 2^20 with tf32; the
# --operator auto sweep of attention from 1024 to 2^18; compute-sanitizer over the kernel tests.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

bundle=gpu-bundle

# The Python the GPU machine runs (its image's python3 is 3.12): the extension is built for it
# with an interpreter of the same minor version here, GPU_PYTHON, else python3.12 on the PATH or
# pyenv's; without one the bundle has no Python package and the Python step is skipped.
gpu_python() {
  local p
  for p in "${GPU_PYTHON:-}" "$(command -v python3.12 || true)" \
    "$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12.*/bin/python3.12 2>/dev/null | tail -1)"; do
    # (a pyenv shim exists but fails unless that version is selected: run it to be sure)
    if [[ -n "$p" ]] && "$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
      echo "$p"
      return
    fi
  done
}

build() {
  local python python_flags=() targets=(gapbench gapbench_bench test_cuda)
  python=$(gpu_python)
  if [[ -n "$python" ]]; then
    # nanobind and scikit-build-core pinned as the package's own build (requirements-dev.txt).
    if [[ ! -x build-gpu/venv312/bin/python ]]; then
      "$python" -m venv build-gpu/venv312
      build-gpu/venv312/bin/pip install -q $(grep -E '^(nanobind|scikit-build-core)==' \
        python/requirements-dev.txt)
    fi
    python_flags=(-DGAPBENCH_PYTHON=ON -DPython_EXECUTABLE="$PWD/build-gpu/venv312/bin/python")
    targets+=(_gapbench)
  else
    echo "gpu-check: no Python 3.12 here (set GPU_PYTHON): the bundle has no Python package"
  fi
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DGAPBENCH_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 "${python_flags[@]}" >/dev/null
  cmake --build build-gpu -j"$(nproc)" --target "${targets[@]}"
  rm -rf "$bundle"
  mkdir -p "$bundle/bin" "$bundle/lib" "$bundle/lib-fallback"
  cp build-gpu/bin/gapbench build-gpu/bin/gapbench_bench build-gpu/bin/test_cuda "$bundle/bin/"
  if [[ -n "$python" ]]; then
    mkdir -p "$bundle/python/gapbench"
    cp python/gapbench/*.py python/gapbench/*.pyi "$bundle/python/gapbench/"
    find build-gpu -name "_gapbench.*.so" -not -path "*/venv312/*" -exec cp {} "$bundle/python/gapbench/" \;
  fi
  strip "$bundle"/bin/* "$bundle"/python/gapbench/*.so 2>/dev/null || true
  # Every shared library outside the C library and CUDA's own, under its soname; libstdc++ and
  # libgcc_s go aside, used there only if the machine's own are older than this build needs.
  ldd "$bundle"/bin/* "$bundle"/python/gapbench/*.so 2>/dev/null | awk '/=> \//{print $1, $3}' | sort -u | while read -r soname path; do
    case "$soname" in
      libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so*) ;;
      libcu* | libnv*) ;;
      libstdc++.so* | libgcc_s.so*) cp -L "$path" "$bundle/lib-fallback/$soname" ;;
      *) cp -L "$path" "$bundle/lib/$soname" ;;
    esac
  done
  # The device machine's copy of the checkout may carry older git metadata: say what was built.
  echo "$(git rev-parse --short=12 HEAD)$(git diff --quiet HEAD -- . || echo '+uncommitted')" \
    >"$bundle/BUILD_COMMIT"
  tar -C "$bundle" -cJf "$bundle.tar.xz" bin lib lib-fallback BUILD_COMMIT \
    $([[ -d "$bundle/python" ]] && echo python)
  rm -rf "$bundle/bin" "$bundle/lib" "$bundle/lib-fallback" "$bundle/BUILD_COMMIT" "$bundle/python"
  mv "$bundle.tar.xz" "$bundle/"
  echo "gpu-check: $(du -h "$bundle/$bundle.tar.xz" | cut -f1) in $bundle/ (carry it)"
}

run() {
  # Globals, not locals: the EXIT trap below runs after this function has returned.
  out="${1:?usage: scripts/gpu-check.sh run OUT}"
  work=$(mktemp -d)
  mkdir -p "$out"
  exec > >(tee "$out/gpu-check.log") 2>&1
  tar -C "$work" -xJf "$bundle/$bundle.tar.xz"
  export LD_LIBRARY_PATH="$work/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
  bin="$work/bin"
  res="$work/results"
  mkdir -p "$res"
  start=$SECONDS
  stamp() { echo "== $(date -u +%H:%M:%S) (+$((SECONDS - start)) s) $*"; }
  pack() { tar -C "$res" -czf "$out/results.tar.gz.part" . && mv "$out/results.tar.gz.part" "$out/results.tar.gz"; }
  trap 'pack; stamp packed' EXIT
  export GAPBENCH_REQUIRE_GPU=1  # test_cuda fails, not skips, without a device

  stamp "device"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem \
    --format=csv || true
  if ! "$bin/gapbench" info >/dev/null 2>&1; then
    echo "gpu-check: the binaries do not start with this machine's libstdc++; using the bundled one"
    export LD_LIBRARY_PATH="$work/lib-fallback:$LD_LIBRARY_PATH"
  fi
  ldd "$bin/gapbench" | grep "not found" && echo "gpu-check: missing libraries above" || true
  "$bin/gapbench" info | tee "$res/info.txt"
  echo "$(device_key)" >"$res/device.txt"
  cp "$work/BUILD_COMMIT" "$res/build_commit.txt" 2>/dev/null || true
  if ! grep -q "^device 0:" "$res/info.txt"; then
    echo "gpu-check: FAILED: the CUDA runtime sees no device (driver too old for CUDA 13?)"
    exit 1
  fi

  # Every step runs under its own limit and under what is left of the run's budget
  # (GPU_CHECK_SECONDS, 420 s; the device tool stops a command at 600 s). Sweeps stop between matrices on SIGTERM, so a step
  # gets SIGKILL 10 s after its limit; its rows written so far stay. Steps run cheapest and
  # surest first; one with under 10 s left is skipped.
  deadline=$((start + ${GPU_CHECK_SECONDS:-420}))
  limited() {  # WANTED_S CMD...: CMD under min(WANTED_S, the time left), or skipped
    local want=$1
    shift
    local left=$((deadline - SECONDS - 10))
    if ((left < 10)); then
      echo "gpu-check: skipped, out of time: $*"
      return 1
    fi
    if ((left < want)); then want=$left; fi
    timeout -k 10 "$want" "$@"
  }

  stamp "GPU tests"
  limited 150 "$bin/test_cuda" --gtest_output="json:$res/test_cuda.json" ||
    echo "gpu-check: test_cuda FAILED or timed out"
  pack

  # The Python package's GPU path (issue 18): python/tests/test_gpu.py with the bundled
  # extension, under the machine's python3 (PyTorch there is used where importable).
  stamp "Python package on the GPU"
  if [[ -d "$work/python/gapbench" ]]; then
    PYTHONPATH="$work/python" limited 120 python3 -m pytest -q -p no:cacheprovider -rs \
      --junitxml="$res/python_gpu.xml" python/tests/test_gpu.py ||
      echo "gpu-check: Python GPU tests FAILED or timed out"
  else
    echo "gpu-check: skipped, the bundle has no Python package"
  fi
  pack

  stamp "GPU benchmarks"
  limited 150 "$bin/gapbench_bench" --benchmark_filter='^gpu/' --max-T=32768 \
    --benchmark_out="$res/bench_gpu.json" --benchmark_out_format=json ||
    echo "gpu-check: benchmarks FAILED or timed out"
  # Against this device's stored baseline (results/baselines/<device>/), when there is one.
  local baseline="results/baselines/$(device_key)/baseline.json"
  if [[ -f "$baseline" && -f "$res/bench_gpu.json" ]]; then
    "$bin/gapbench" compare "$baseline" "$res/bench_gpu.json" --json "$res/compare.json" ||
      echo "gpu-check: benchmarks regressed against $baseline (see compare.json)"
  fi
  pack

  local common=(--backend cuda --model markov,attention --precision float32 --d 64)
  stamp "sweep: lanczos, rsvd, xgesvdr at T = 1024 ... 32768, errors against float64 references"
  limited 120 "$bin/gapbench" sweep "${common[@]}" --T 1024:32768:x2 --seeds 2 \
    --solver lanczos,rsvd,xgesvdr --reference auto --out "$res/sweep_iterative" ||
    echo "gpu-check: sweep FAILED or timed out"
  pack
  stamp "sweep: exact and gesvda at T = 1024 ... 8192"
  limited 50 "$bin/gapbench" sweep "${common[@]}" --T 1024:8192:x2 --seeds 1 \
    --solver exact,gesvda --out "$res/sweep_dense" || echo "gpu-check: dense sweep FAILED"
  pack
  # Eigenvalues (issue 16): cuSOLVER's Xgeev against LAPACK's geev on this host's CPU, values
  # only, float64, one markov matrix at T = 4096 (the solve time each prints), and an eigen sweep.
  mkdir -p "$res/eigen"
  local backend
  for backend in cuda cpu; do
    stamp "eigen: exact (geev) at T = 4096 on $backend"
    limited 60 "$bin/gapbench" run --backend "$backend" --spectrum eigen --solver exact \
      --T 4096 --k 4 | tee "$res/eigen/exact_T4096_$backend.txt" ||
      echo "gpu-check: eigen run on $backend FAILED or timed out"
  done
  stamp "sweep: --spectrum eigen, fix none and center, T = 1024 ... 16384"
  limited 60 "$bin/gapbench" sweep --backend cuda --spectrum eigen --fix none,center \
    --T 1024:16384:x2 --seeds 2 --reference auto --out "$res/sweep_eigen" ||
    echo "gpu-check: eigen sweep FAILED or timed out"
  pack

  # Signal propagation's reverse mode (issue 17) on the device and on this host's CPU: the A(X)
  # network with skip and LayerNorm at T = 1024, L = 3, 8 fixed probes (the same draws on both),
  # each printing its per-layer times.
  mkdir -p "$res/propagate"
  for backend in cuda cpu; do
    stamp "propagate --gradient at T = 1024 on $backend"
    limited 60 "$bin/gapbench" propagate --backend "$backend" --attention attention --variant skip \
      --layernorm --init xavier-normal --fix none,center --T 1024 --L 3 --gradient --probes 8 \
      --probes-max 8 --out "$res/propagate/$backend" | tee "$res/propagate/$backend.txt" ||
      echo "gpu-check: propagate on $backend FAILED or timed out"
  done
  pack

  # The matrix-free operator (issue 7): attention, d = dk = 64, float32, top 4. First --logits at
  # T = 65536 (full, tf32, bf16: the effect on s1 and s2) and T = 2^20 with tf32 (the on-chip
  # kernel's tensor cores); then --operator auto (dense while one matrix fits, fused past it)
  # from 1024 to 2^20, its rows written as each T finishes.
  local fused=(--backend cuda --model attention --precision float32 --d 64 --operator fused)
  mkdir -p "$res/logits"
  for logits in full tf32 bf16; do
    stamp "fused operator at T = 65536, --logits $logits"
    limited 60 "$bin/gapbench" run "${fused[@]}" --T 65536 --logits "$logits" |
      tee "$res/logits/fused_T65536_$logits.txt" || echo "gpu-check: fused run FAILED or timed out"
  done
  stamp "fused operator at T = 1048576, --logits tf32"
  limited 90 "$bin/gapbench" run "${fused[@]}" --T 1048576 --logits tf32 |
    tee "$res/logits/fused_T1048576_tf32.txt" || echo "gpu-check: fused run FAILED or timed out"
  pack
  stamp "sweep: --operator auto at T = 1024 ... 262144"
  limited 90 "$bin/gapbench" sweep --backend cuda --model attention --precision float32 --d 64 \
    --T 1024:262144:x2 --seeds 1 --operator auto --out "$res/sweep_auto" ||
    echo "gpu-check: auto sweep FAILED or timed out"
  pack

  # Last, with what time is left: compute-sanitizer's memcheck over the tests of the kernels
  # that read and write tiles (fused, block product, propagation's backward stages, the
  # resident path), where the machine has it.
  local sanitizer=/usr/local/cuda/bin/compute-sanitizer
  if [[ -x "$sanitizer" ]]; then
    stamp "compute-sanitizer memcheck on the kernel tests"
    limited 120 "$sanitizer" --tool memcheck --leak-check no --error-exitcode 3 "$bin/test_cuda" \
      --gtest_filter='FusedOnDevice*:BlockProduct*:ResidentOnDevice*:PropagateOnDevice*:EigenOnDevice*' \
      >"$res/memcheck.txt" 2>&1 && echo "gpu-check: memcheck clean" ||
      echo "gpu-check: memcheck FAILED, found errors or timed out (memcheck.txt)"
    tail -n 5 "$res/memcheck.txt" || true
  fi
  pack
  stamp "done"
}

collect() {
  local from="${1:?usage: scripts/gpu-check.sh collect DIR}"
  local tmp
  tmp=$(mktemp -d)
  tar -C "$tmp" -xzf "$from/results.tar.gz"
  local key
  key=$(cat "$tmp/device.txt")
  # One folder per run's date, so that earlier runs' files stay beside it.
  local dir
  dir="results/gpu/$key/$(date -u +%F)"
  mkdir -p "$dir"
  cp -r "$tmp"/. "$dir/"
  cp "$from/gpu-check.log" "$dir/" 2>/dev/null || true
  rm -rf "$tmp"
  echo "gpu-check: $dir/"
}

case "${1:-}" in
  build) build ;;
  run) run "${2:-}" ;;
  collect) collect "${2:-}" ;;
  *)
    echo "usage: scripts/gpu-check.sh build | run OUT | collect DIR" >&2
    exit 2
    ;;
esac
