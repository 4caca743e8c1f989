# Shared shell helpers for gapbench's scripts (sourced, not run).

# A file-name-safe key for the device this machine benchmarks on: the first GPU's name when
# nvidia-smi sees one, else the CPU model and its thread count (e.g. AMD_EPYC_2t). Results and
# baselines are stored per key, so numbers are only compared with numbers of the same device.
device_key() {
  local name=""
  if command -v nvidia-smi >/dev/null 2>&1; then
    name=$(nvidia-smi --query-gpu=name --format=csv,noheader -i 0 2>/dev/null | head -n 1 || true)
  fi
  if [[ -z "$name" ]]; then
    name="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)_$(nproc)t"
  fi
  printf '%s' "${name:-unknown}" | tr -c 'A-Za-z0-9_.-' '_' | tr -s '_'
}

# Builds `cmake --build "$@"` with its output in <build dir>/build.log ($1 is the build directory;
# with --preset, pass the preset's directory first and the preset's arguments after: see .ci/run).
# On failure prints the error lines with their context (the log's end when none matches) and
# returns 1; otherwise prints the warning lines, if any.
build_logged() {
  local dir=$1
  shift
  mkdir -p "$dir"
  local log="$dir/build.log"
  if ! cmake --build "$@" >"$log" 2>&1; then
    echo "${0##*/}: BUILD FAILED; its errors (the whole output: $log):" >&2
    grep -E -B2 -A6 "error:|Error:|Error [0-9]+|undefined reference" "$log" >&2 ||
      tail -n 40 "$log" >&2
    echo "${0##*/}: BUILD FAILED (see $log)" >&2
    return 1
  fi
  grep -E "warning:" "$log" >&2 || true
}
