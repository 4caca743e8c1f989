#!/usr/bin/python3
"""Regenerates the small fixtures of the plot tests (test_*.py) under tests/python/data/ (checked
in; a few seconds of work, run it by hand after a change of the results formats):

  data/sweep/      gapbench sweep --T 32:128:x2 --seeds 3 --model markov,attention --fix none,center
                   --solver exact --all-values (rows.csv, values.csv, meta.json), with one row edited
                   to converged = 0 (markov, fix none, T = 64, index 1; its s1 and s2 scaled by 1.5
                   so that averaging it in would show)
  data/bench.json  gapbench_bench --min-T=128 --max-T=512 --reps=5, the k = 4 solvers and the
                   apply pass, plus the skipped entries of exact at T = 4096 (past the CPU cap; written
                   by hand in Google Benchmark's format if the harness fails to list them)
  data/compare.json  gapbench compare --json of bench.json against a copy of it with the float64
                   apply pass made 30% slower and exact float32 20% faster,
                   every repetition times a factor in [0.97, 1.03]; base
                   is bench.json (found next to it, so the figure's footer names its device),
                   new.json is not kept (not found: the footer says so)
  data/propagate/  gapbench propagate, one network per call, the rows of every call in one rows.csv:
                   --L 2 --gradient (plain, markov, exponential, isometric, gamma 1), fix none and
                   center, T 16, 32, 64, --index 0, 1, 2; and --variant skip --layernorm --fix center
                   at T 32, --index 0, 1 (no gradient); meta.json is the first call's, with
                   "commands" listing every call

Usage: /usr/bin/python3 tests/python/make_fixtures.py [BUILD_BIN_DIR] [--only sweep,bench,propagate]
       (default build/bin, all fixtures; bench also writes compare.json)
"""
import csv
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(HERE, "data")


def run(cmd, ok=(0,), required=True):
    print("+", " ".join(cmd))
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode not in ok:
        if required:
            sys.exit(f"make_fixtures: {cmd[0]} failed ({r.returncode}):\n{r.stdout}")
        print(f"make_fixtures: {cmd[0]} failed ({r.returncode}): {r.stdout.strip()[-300:]}")
        return False
    return True


def skipped_entries(reps):
    """What Google Benchmark 1.7.1 writes for a benchmark that calls SkipWithError (used when
    the harness cannot produce them itself)."""
    out = []
    for precision in ("float64",):
        name = f"cpu/solve/exact/{precision}/k:4/T:4096/iterations:1/repeats:{reps}/manual_time"
        for i in range(reps):
            out.append({"name": name, "family_index": 99, "per_family_instance_index": 0,
                        "run_name": name, "run_type": "iteration", "repetitions": reps,
                        "repetition_index": i, "threads": 1, "error_occurred": True,
                        "error_message": "T = 4096 is past the CPU exact cap of 2048",
                        "iterations": 0, "real_time": 0.0, "cpu_time": 0.0, "time_unit": "ms"})
    return out


def make_propagate(gapbench, tmp):
    """data/propagate: the rows of several one-network gapbench propagate calls in one file."""
    calls = []
    for fix in ("none", "center"):
        for T in (16, 32, 64):
            for index in (0, 1, 2):
                calls.append(["--T", str(T), "--L", "2", "--fix", fix, "--gradient",
                              "--index", str(index)])
    for index in (0, 1):
        calls.append(["--T", "32", "--L", "2", "--variant", "skip", "--layernorm", "--fix",
                      "center", "--index", str(index)])
    header, lines, meta, commands = None, [], None, []
    for i, args in enumerate(calls):
        d = os.path.join(tmp, f"propagate{i}")
        cmd = [gapbench, "propagate", "--gamma", "1", "--seed", "0", "--threads", "1", *args,
               "--out", d]
        run(cmd)
        commands.append(" ".join(["gapbench", "propagate", *cmd[2:-2]]))
        with open(os.path.join(d, "rows.csv"), newline="") as f:
            text = f.read().splitlines()
        if header is None:
            header = text[0]
            with open(os.path.join(d, "meta.json")) as f:
                meta = json.load(f)
        assert text[0] == header, (text[0], header)
        lines += text[1:]
    meta["commands"] = commands
    meta["command"] = "tests/python/make_fixtures.py (rows of every call in commands)"
    out = os.path.join(DATA, "propagate")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    with open(os.path.join(out, "rows.csv"), "w", newline="") as f:
        f.write("\n".join([header] + lines) + "\n")
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")


def main():
    args = sys.argv[1:]
    only = {"sweep", "bench", "propagate"}
    if "--only" in args:
        i = args.index("--only")
        only = set(args[i + 1].split(","))
        del args[i:i + 2]
    bindir = args[0] if args else os.path.join(ROOT, "build", "bin")
    gapbench = os.path.join(bindir, "gapbench")
    bench = os.path.join(bindir, "gapbench_bench")
    os.makedirs(DATA, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="gapbench_fixtures_")
    try:
        if "propagate" in only:
            make_propagate(gapbench, tmp)
        if "sweep" in only:
            make_sweep(gapbench)
        if "bench" in only:
            make_bench(gapbench, bench, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for root, _, files in os.walk(DATA):
        for name in sorted(files):
            path = os.path.join(root, name)
            print(f"{os.path.relpath(path, ROOT)}: {os.path.getsize(path)} bytes")


def make_sweep(gapbench):
    # --- sweep ---
    sweep = os.path.join(DATA, "sweep")
    shutil.rmtree(sweep, ignore_errors=True)
    run([gapbench, "sweep", "--T", "32:128:x2", "--seeds", "3", "--model", "markov,attention",
         "--fix", "none,center", "--solver", "exact", "--all-values", "--threads", "1",
         "--out", sweep])
    lock = os.path.join(sweep, ".gapbench.lock")
    if os.path.exists(lock):
        os.remove(lock)
    rows_path = os.path.join(sweep, "rows.csv")
    with open(rows_path, newline="") as f:
        text = f.read()
    rows = list(csv.DictReader(io.StringIO(text)))
    fields = list(rows[0].keys())
    edited = 0
    for row in rows:
        if (row["model"] == "markov" and row["fix"] == "none" and row["T"] == "64"
                and row["index"] == "1"):
            row["converged"] = "0"
            for key in ("s1", "s2"):
                row[key] = repr(float(row[key]) * 1.5)
            edited += 1
    assert edited == 1, edited
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    with open(rows_path, "w", newline="") as f:
        f.write(out.getvalue())


def make_bench(gapbench, bench, tmp):
    # --- benchmark JSON ---
    main_json = os.path.join(tmp, "main.json")
    skip_json = os.path.join(tmp, "skip.json")
    common = ["--reps=5", "--benchmark_min_time=0.01", "--benchmark_out_format=json"]
    run([bench, "--min-T=128", "--max-T=512", *common,
         "--benchmark_filter=cpu/(solve/(lanczos|exact)/float(32|64)/k:4/|pass/apply/)",
         f"--benchmark_out={main_json}"])
    skipped = run([bench, "--min-T=4096", "--max-T=4096", *common,
                   "--benchmark_filter=cpu/solve/exact/float64",
                   f"--benchmark_out={skip_json}"], required=False)
    with open(main_json) as f:
        doc = json.load(f)
    if skipped:
        with open(skip_json) as f:
            doc["benchmarks"] += json.load(f)["benchmarks"]
    else:
        doc["benchmarks"] += skipped_entries(5)
    bench_path = os.path.join(DATA, "bench.json")
    with open(bench_path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")

    # --- compare JSON ---
    new = json.loads(json.dumps(doc))
    noise = random.Random(5)
    for b in new["benchmarks"]:
        name = b["name"]
        factor = 1.3 if name.startswith("cpu/pass/apply/float64/") else (
            0.8 if name.startswith("cpu/solve/exact/float32/") else 1.0)
        if not b.get("error_occurred") and b.get("run_type") == "iteration":
            factor *= 1 + noise.uniform(-0.03, 0.03)
            for key in ("real_time", "cpu_time"):
                b[key] *= factor
    with open(os.path.join(tmp, "new.json"), "w") as f:
        json.dump(new, f)
    compare_path = os.path.join(DATA, "compare.json")
    # relative names in the report: base "bench.json" is found next to compare.json, new
    # "new.json" is not kept (the figure's footer says so)
    shutil.copy(bench_path, os.path.join(tmp, "bench.json"))
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        run([gapbench, "compare", "bench.json", "new.json", "--json", compare_path], ok=(0, 1))
    finally:
        os.chdir(cwd)


if __name__ == "__main__":
    main()
