#!/usr/bin/env bash
# Issue 7's CPU check, one run on this machine: the top 4 of one attention matrix (gaussian
# inputs, d = dk = 64, float64, seed 0, index 0) at T = 16384 (or $1) through the matrix-free
# fused operator and, side by side in the same run, through the dense matrix; each in its own
# process, so that its peak resident memory (getrusage, printed by gapbench run) is its own.
# Target: fused under 2 minutes and under 1 GiB. Then, in float32 through the fused operator,
# the effect of --logits tf32 and bf16 (the logits GEMM's inputs rounded as tensor cores read
# them) on s1 and s2 against full float32 inputs. Writes results/cpu/<device>/fused_T<T>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
T="${1:-16384}"
build_dir="${GAPBENCH_BUILD_DIR:-build}"
source scripts/lib.sh
out_dir="results/cpu/$(device_key)"
mkdir -p "$out_dir" results/tmp
run() {  # NAME ARGS...: one gapbench run, its output and wall time in results/tmp/fused_check_NAME.txt
  local name=$1
  shift
  local start=$EPOCHREALTIME
  "$build_dir/bin/gapbench" run --model attention --d 64 --T "$T" "$@" \
    >"results/tmp/fused_check_$name.txt"
  echo "started $start ended $EPOCHREALTIME" >>"results/tmp/fused_check_$name.txt"
  cat "results/tmp/fused_check_$name.txt"
}
run fused --operator fused
run dense --operator dense
for logits in full tf32 bf16; do
  run "f32_$logits" --operator fused --precision float32 --logits "$logits"
done
/usr/bin/python3 - "$T" "$out_dir/fused_T${T}.json" <<'PY'
import json, re, subprocess, sys, datetime
T, out = int(sys.argv[1]), sys.argv[2]
def parse(op):
    text = open(f"results/tmp/fused_check_{op}.txt").read()
    values = [float(v) for v in re.findall(r"^s\d+\s+(\S+)$", text, re.M)]
    field = lambda name: float(re.search(name + r" (\S+)", text).group(1))
    return {"operator": op, "s": values, "passes": int(field("passes")),
            "generate_s": field("generate"), "solve_s": field("solve"),
            "wall_s": field("ended") - field("started"), "peak_rss_mib": field("peak memory"),
            "converged": "converged yes" in text}
fused, dense = parse("fused"), parse("dense")
f32 = {name: parse(f"f32_{name}") for name in ("full", "tf32", "bf16")}
logits_effect = {
    name: {"s1_rel_change": (r["s"][0] - f32["full"]["s"][0]) / f32["full"]["s"][0],
           "s2_rel_change": (r["s"][1] - f32["full"]["s"][1]) / f32["full"]["s"][1],
           "s": r["s"], "wall_s": r["wall_s"]}
    for name, r in f32.items()}
report = {
    "what": "top 4 of one attention matrix (gaussian inputs, d = dk = 64, float64, seed 0, "
            "index 0), fused (matrix-free) against dense, each in its own process",
    "T": T, "device": subprocess.run(["bash", "-c", "source scripts/lib.sh; device_key"],
                                     capture_output=True, text=True).stdout,
    "commit": subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True).stdout.strip(),
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "fused": fused, "dense": dense,
    "max_rel_diff_top4": max(abs(a - b) / b for a, b in zip(fused["s"], dense["s"])),
    "fused_wall_over_dense": fused["wall_s"] / dense["wall_s"],
    "fused_rss_over_dense": fused["peak_rss_mib"] / dense["peak_rss_mib"],
    "logits_effect_float32_fused": logits_effect,
    "float32_vs_float64_s2_rel": (f32["full"]["s"][1] - fused["s"][1]) / fused["s"][1],
    "target": {"fused_wall_s_below": 120, "fused_peak_rss_mib_below": 1024},
}
report["target"]["met"] = fused["wall_s"] < 120 and fused["peak_rss_mib"] < 1024
json.dump(report, open(out, "w"), indent=2)
print(json.dumps({k: report[k] for k in ("max_rel_diff_top4", "fused_wall_over_dense",
                                         "fused_rss_over_dense", "target",
                                         "logits_effect_float32_fused",
                                         "float32_vs_float64_s2_rel")}, indent=2))
print("wrote", out)
PY
