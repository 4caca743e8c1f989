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
