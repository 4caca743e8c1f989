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
  data/sweep_eigen/  a gapbench.sweep/4 sweep of eigen rows only, made here with numpy (the C++ writer
                   of schema 4 came later; the same models, not gapbench's Philox draws): markov
                   lognormal beta 1 (c = sqrt(e - 1)), fix none and center of the same draw, T 256,
                   512, 1024, seeds 3, solver exact (numpy.linalg.eigvals = LAPACK geev), k 4 (a
                   row whose 4th value opens a conjugate pair holds 5), --all-values (values.csv:
                   all T eigenvalues with value_im); the columns as gapbench writes them
                   (s1 ... s4 empty, lambda1 ... lambda5: J = k + 1 always); one row
                   edited to converged = 0 (fix none, T = 512, index 1; its eigenvalues and metrics
                   scaled by 1.5 so that averaging it in would show)
  data/sweep_mixed/  gapbench.sweep/4 with singular and eigen rows: the rows and values of
                   data/sweep in the /4 columns (spectrum singular, status ok, operator dense),
                   then eigen rows made as above: markov lognormal beta 1, fix none, center and
                   deflate (A - s1 u1 v1^T), T 32, 64, 128, seeds 2, points after data/sweep's
  data/sweep_writer4/  gapbench sweep --model markov,attention --T 16,32 --seeds 2 --k 4 --spectrum
                   singular,eigen --solver exact --fix none,center --all-values (the C++ writer of
                   schema 4 itself, against which the numpy fixtures above are checked)
  data/propagate/  gapbench propagate, one network per call, the rows of every call in one rows.csv:
                   --L 2 --gradient (plain, markov, exponential, isometric, gamma 1), fix none and
                   center, T 16, 32, 64, --index 0, 1, 2; and --variant skip --layernorm --fix center
                   at T 32, --index 0, 1 (no gradient); meta.json is the first call's, with
                   "commands" listing every call

Usage: /usr/bin/python3 tests/python/make_fixtures.py [BUILD_BIN_DIR]
                                          [--only sweep,bench,propagate,eigen,writer4]
       (default build/bin, all fixtures; bench also writes compare.json; eigen writes
       sweep_eigen and sweep_mixed, needs numpy and no build, and reads data/sweep)
"""
import csv
import io
import json
import math
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
    only = {"sweep", "bench", "propagate", "eigen", "writer4"}
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
        if "eigen" in only:
            make_eigen()
        if "writer4" in only:
            make_writer4(gapbench)
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


# --- schema 4 with eigen rows (made with numpy) ---

def lognormal_markov(rng, T, beta):
    """Markov lognormal: entries exp(beta N(0, 1)), each row divided by its sum."""
    import numpy as np
    e = np.exp(beta * rng.standard_normal((T, T)))
    return e / e.sum(axis=1, keepdims=True)


def by_modulus(eigs):
    """Eigenvalues in the order of rows.csv: by modulus, descending, a conjugate pair adjacent
    (positive imaginary part first), as units that are never split."""
    units = []
    for z in eigs:
        if z.imag > 0:
            units.append((abs(z), [complex(z.real, z.imag), complex(z.real, -z.imag)]))
        elif z.imag == 0:
            units.append((abs(z), [complex(z.real, 0.0)]))
    units.sort(key=lambda u: -u[0])
    assert sum(len(u) for _, u in units) == len(eigs), "LAPACK pairs conjugates exactly"
    return units


def eigen_row(A, fix, T, c, k):
    """rows.csv fields of one eigen row and all its eigenvalues (values.csv)."""
    import numpy as np
    perp = A - 1.0 / T
    if fix == "none":
        M = A
    elif fix == "center":
        M = perp
    else:  # deflate: A - s1 u1 v1^T
        u, s, vt = np.linalg.svd(A)
        M = A - s[0] * np.outer(u[:, 0], vt[0])
    units = by_modulus(np.linalg.eigvals(M))
    top = []
    for _, unit in units:
        if len(top) >= k:
            break
        top += unit
    every = [z for _, unit in units for z in unit]
    l1, l2 = top[0], top[1]
    fields = {"frob": np.linalg.norm(M), "frob_perp_sq": np.sum(perp * perp), "c": c,
              "frob_perp_over_c2": np.sum(perp * perp) / (c * c),
              "lambda1_dist": abs(l1 - 1), "abs_lambda2": abs(l2), "eigen_gap": 1 - abs(l2),
              "eigen_edge_ratio": {"none": math.sqrt(T) * abs(l2) / c,
                                   "center": math.sqrt(T) * abs(l1) / c}.get(fix)}
    return fields, top, every


def num(x):
    return "" if x is None else format(float(x), ".17g")


def eigen_rows(points, seeds, k, base_point):
    """(rows as dicts of text, values lines, J) for markov lognormal beta 1 at points
    [(T, fix)], T outermost, the same draw for every fix of a (T, index)."""
    import numpy as np
    beta = 1.0
    c = math.sqrt(math.exp(beta * beta) - 1)
    rows, values, J = [], [], 0
    for p, (T, fix) in enumerate(points, start=base_point):
        for index in range(seeds):
            A = lognormal_markov(np.random.default_rng([T, index]), T, beta)
            fields, top, every = eigen_row(A, fix, T, c, k)
            J = max(J, len(top))
            row = {"point": str(p), "index": str(index), "seed": "0", "model": "markov",
                   "law": "lognormal", "beta": num(beta), "fix": fix, "T": str(T),
                   "precision": "float64", "solver": "exact", "k": str(k), "backend": "cpu",
                   "operator": "dense", "spectrum": "eigen", "iterations": "0",
                   "restarts": "0", "passes": "0", "converged": "1", "status": "ok",
                   "generate_s": "0", "solve_s": "0"}
            for j, z in enumerate(top, start=1):
                row[f"lambda{j}_re"], row[f"lambda{j}_im"] = num(z.real), num(z.imag)
            row.update({key: num(v) for key, v in fields.items()})
            rows.append(row)
            values += [(p, index, rank, z) for rank, z in enumerate(every, start=1)]
    return rows, values, J


def columns_4(kmax, jmax):
    """The rows.csv columns of schema 4 (src/gapbench/sweep/rows.cpp row_columns, plus
    spectrum, the lambda columns and the eigen metrics)."""
    c = ["point", "index", "seed", "model", "law", "beta", "d", "dk", "input", "init", "causal",
         "logits", "fix", "T", "precision", "solver", "k", "tol", "backend", "operator",
         "spectrum"]
    c += [f"s{i}" for i in range(1, kmax + 1)]
    c += [f"lambda{j}_{part}" for j in range(1, jmax + 1) for part in ("re", "im")]
    c += ["gap", "ratio", "frob", "frob_perp_sq", "stable_rank", "c", "s1_excess", "edge_ratio",
          "frob_perp_over_c2", "lambda1_dist", "abs_lambda2", "eigen_gap", "eigen_edge_ratio",
          "iterations", "restarts", "passes", "residual", "residual_estimate", "converged",
          "status", "generate_s", "solve_s"]
    return c


def write_sweep_4(out, columns, rows, values, meta, plan, command):
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    with open(os.path.join(out, "rows.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, lineterminator="\n", restval="")
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(out, "values.csv"), "w", newline="") as f:
        f.write("point,index,rank,value,value_im\n")
        for p, index, rank, z in values:
            im = num(z.imag) if isinstance(z, complex) else ""
            f.write(f"{p},{index},{rank},{num(z.real)},{im}\n")
    meta = json.loads(json.dumps(meta))
    meta["schema"] = "gapbench.sweep/4"
    meta["plan"].update(plan)
    meta["command"] = command
    meta["rows"] = len(rows)
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")


def make_eigen():
    with open(os.path.join(DATA, "sweep", "meta.json")) as f:
        meta = json.load(f)
    k = 4
    eigen_plan = {"models": ["markov"], "laws": ["lognormal"], "betas": [1.0], "k": [k],
                  "solvers": ["exact"], "spectra": ["eigen"], "all_values": True}

    # data/sweep_eigen: eigen rows only
    Ts, fixes, seeds = (256, 512, 1024), ("none", "center"), 3
    rows, values, J = eigen_rows([(T, fix) for T in Ts for fix in fixes], seeds, k, 0)
    pairs = sum(1 for r in rows if r.get(f"lambda{k + 1}_re"))
    assert pairs >= 1, "no row took a conjugate pair whole at k: choose other draws"
    edited = 0
    for r in rows:
        if (r["fix"], r["T"], r["index"]) == ("none", "512", "1"):
            r["converged"] = "0"
            for key in [key for key in r if key.startswith("lambda") or key in (
                    "abs_lambda2", "eigen_edge_ratio")]:
                if r[key]:
                    r[key] = num(1.5 * float(r[key]))
            r["lambda1_dist"] = num(abs(complex(float(r["lambda1_re"]),
                                                float(r["lambda1_im"])) - 1))
            r["eigen_gap"] = num(1 - float(r["abs_lambda2"]))
            edited += 1
    assert edited == 1, edited
    assert J == k + 1, J
    write_sweep_4(os.path.join(DATA, "sweep_eigen"), columns_4(k, J), rows, values, meta,
                  dict(eigen_plan, T=list(Ts), fixes=list(fixes), seeds=seeds),
                  "tests/python/make_fixtures.py --only eigen (numpy: gapbench sweep --spectrum "
                  "eigen --T 256:1024:x2 --seeds 3 --model markov --law lognormal --beta 1 "
                  "--fix none,center --solver exact --k 4 --all-values)")
    print(f"sweep_eigen: {len(rows)} rows, J = {J}, {pairs} rows with a pair taken whole")

    # data/sweep_mixed: data/sweep's singular rows in the /4 columns, then eigen rows
    with open(os.path.join(DATA, "sweep", "rows.csv"), newline="") as f:
        singular = list(csv.DictReader(f))
    for r in singular:
        r.update({"logits": "full" if r["model"] == "attention" else "", "operator": "dense",
                  "spectrum": "singular", "status": "ok"})
    with open(os.path.join(DATA, "sweep", "values.csv"), newline="") as f:
        singular_values = [(int(r["point"]), int(r["index"]), int(r["rank"]),
                            float(r["value"])) for r in csv.DictReader(f)]
    kmax = max(int(key[1:]) for key in singular[0] if key.startswith("s") and key[1:].isdigit())
    base = max(int(r["point"]) for r in singular) + 1
    Ts, fixes, seeds = (32, 64, 128), ("none", "center", "deflate"), 2
    rows, values, _ = eigen_rows([(T, fix) for T in Ts for fix in fixes], seeds, k, base)
    J = k + 1  # the writer's count: room for a pair taken whole, used or not
    write_sweep_4(os.path.join(DATA, "sweep_mixed"), columns_4(kmax, J), singular + rows,
                  singular_values + values, meta,
                  dict(eigen_plan, models=["markov", "attention"], spectra=["singular", "eigen"],
                       fixes=["none", "center", "deflate"]),
                  "tests/python/make_fixtures.py --only eigen (the rows of data/sweep as schema "
                  "4, then numpy eigen rows: markov lognormal beta 1, fix none, center, deflate, "
                  "T 32, 64, 128, seeds 2, exact, k 4, --all-values)")
    print(f"sweep_mixed: {len(singular)} singular and {len(rows)} eigen rows, J = {J}")


def make_writer4(gapbench):
    out = os.path.join(DATA, "sweep_writer4")
    shutil.rmtree(out, ignore_errors=True)
    run([gapbench, "sweep", "--model", "markov,attention", "--T", "16,32", "--seeds", "2",
         "--backend", "cpu", "--threads", "1", "--k", "4", "--spectrum", "singular,eigen",
         "--solver", "exact", "--fix", "none,center", "--all-values", "--out", out])
    lock = os.path.join(out, ".gapbench.lock")
    if os.path.exists(lock):
        os.remove(lock)


if __name__ == "__main__":
    main()
