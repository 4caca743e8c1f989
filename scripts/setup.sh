#!/usr/bin/env bash
# Installs what gapbench needs from Debian's packages (only those missing) and builds it in
# build/ (Release). Idempotent: a second run only rebuilds what changed.
#
# CUDA is not a Debian package: when NVIDIA's CUDA Toolkit (nvcc) is absent this says so and
# builds the CPU backend alone. Environment: GAPBENCH_BUILD_DIR (default build),
# GAPBENCH_WERROR (ON: warnings fail the build; default OFF), GAPBENCH_CMAKE_ARGS (extra configure
# arguments, e.g. -DCMAKE_CUDA_ARCHITECTURES=90). The build's output goes to <build dir>/build.log;
# a failed build prints its error lines and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

packages=(cmake g++ make pkg-config git
          libfmt-dev libcli11-dev nlohmann-json3-dev librandom123-dev
          libopenblas-dev libopenblas0-pthread liblapacke-dev
          libgtest-dev libbenchmark-dev
          libsqlite3-dev sqlite3  # the performance history (gapbench history)
          clang libclang-rt-14-dev libomp-14-dev  # the fuzz preset: libFuzzer (fuzz/README.md)
          python3-numpy python3-scipy python3-matplotlib python3-pandas
          python3-venv python3-dev  # the Python package's .venv (scripts/python-setup.sh)
          slurmctld slurmd slurm-client munge)  # the real single-node Slurm of tests/slurm
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing from Debian: ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# nvcc is often installed without being on PATH.
if ! command -v nvcc >/dev/null 2>&1 && [[ -x /usr/local/cuda/bin/nvcc ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
if command -v nvcc >/dev/null 2>&1; then
  echo "setup: CUDA Toolkit found ($(nvcc --version | tail -n 2 | head -n 1)); building the CUDA backend too"
else
  echo "setup: no CUDA Toolkit (nvcc) found. CUDA is not a Debian package: install NVIDIA's CUDA"
  echo "setup: Toolkit for the GPU backend. Building the CPU backend alone."
fi

build_dir="${GAPBENCH_BUILD_DIR:-build}"
# GAPBENCH_WERROR is passed every time: the cache would otherwise keep the last run's value.
# shellcheck disable=SC2086
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DGAPBENCH_WERROR="${GAPBENCH_WERROR:-OFF}" \
  ${GAPBENCH_CMAKE_ARGS:-} >/dev/null
build_logged "$build_dir" "$build_dir" -j "$(nproc)" || exit 1
echo "setup: built $build_dir/bin/gapbench (log: $build_dir/build.log)"
