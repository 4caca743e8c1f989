#!/usr/bin/python3
"""Side-by-side CPU comparison on one dumped matrix: gapbench's lanczos against SciPy's
scipy.sparse.linalg.svds (ARPACK) and LAPACK's values-only gesdd.

Usage: /usr/bin/python3 scripts/cpu_peers.py MATRIX.npy --bench BENCH.json [--tols 1e-6,1e-10]
                                             [--repeat 3] [--json OUT.json]

BENCH.json is gapbench_bench's output for the same matrix (--matrix=MATRIX.npy). SciPy runs
here, in the same session, on the same .npy: svds(k=4, tol) is timed (median of --repeat) with its
products counted through a LinearOperator; scipy.linalg.svdvals (LAPACK gesdd) gives the
reference values. Errors are relative, against that reference, over the top 4. A tool, not a
build dependency (Debian: python3-scipy for /usr/bin/python3, on OpenBLAS via
libopenblas0-pthread).
"""
import argparse
import json
import statistics
import sys
import time


def fail(message):
    print(f"cpu_peers.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def blas_name():
    """The BLAS library this process loaded (numpy links Debian's libblas.so.3 alternative)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line and "/" in line}
    except OSError:
        return "unknown"
    return ", ".join(sorted(libs)) or "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("matrix")
    parser.add_argument("--bench", required=True, help="gapbench_bench JSON for this matrix")
    parser.add_argument("--tols", default="1e-6,1e-8,1e-10")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="write the comparison here")
    args = parser.parse_args()
    try:
        import numpy as np
        import scipy
        import scipy.linalg
        from scipy.sparse.linalg import LinearOperator, svds
    except ImportError as e:
        fail(f"{e}: apt-get install python3-scipy python3-numpy (for /usr/bin/python3)")
    try:
        A = np.load(args.matrix)
        with open(args.bench) as f:
            bench = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"cannot read input: {e}")
    T = A.shape[0]

    t0 = time.perf_counter()
    reference = scipy.linalg.svdvals(A, check_finite=False)[:4]
    gesdd_s = time.perf_counter() - t0

    def rel_errors(values):
        values = sorted(values, reverse=True)
        errs = [abs(v - r) / r for v, r in zip(values, reference)]
        return max(errs), errs[1]

    peers = []
    for tol in [float(t) for t in args.tols.split(",")]:
        times, products = [], 0
        for _ in range(args.repeat):
            count = [0]

            def matvec(x):
                count[0] += 1
                return A @ x

            def rmatvec(x):
                count[0] += 1
                return A.T @ x

            op = LinearOperator(A.shape, matvec=matvec, rmatvec=rmatvec, dtype=A.dtype)
            t0 = time.perf_counter()
            values = svds(op, k=4, tol=tol, return_singular_vectors=False)
            times.append(time.perf_counter() - t0)
            products = count[0]
        err, err_s2 = rel_errors(values)
        peers.append({"name": f"scipy svds (ARPACK) tol={tol:g}", "tol": tol,
                      "seconds": statistics.median(times), "products": products,
                      "max_rel_err": err, "rel_err_s2": err_s2})

    ours = []
    for b in bench["benchmarks"]:
        name = b["name"]
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        seconds = b["real_time"] * {"ms": 1e-3, "us": 1e-6, "ns": 1e-9, "s": 1.0}[b["time_unit"]]
        entry = {"name": name, "seconds": seconds}
        for key in ("passes_over_A", "max_rel_err", "rel_err_s2", "converged", "bytes_per_s",
                    "tol"):
            if key in b:
                entry[key] = b[key]
        ours.append(entry)

    def find(prefix):
        return [o for o in ours if o["name"].startswith(prefix)]

    print(f"matrix {args.matrix}: {T} x {T} {A.dtype}; numpy {np.__version__} on "
          f"{blas_name()}, scipy {scipy.__version__}")
    print(f"scipy.linalg.svdvals (LAPACK gesdd, reference): {gesdd_s:.2f} s")
    header = f"{'method':<46} {'time s':>8} {'passes':>7} {'max rel err':>12} {'rel err s2':>11}"
    print(header)
    for o in ours:
        if "passes_over_A" in o or o["name"].startswith("cpu/exact"):
            print(f"{o['name']:<46} {o['seconds']:>8.3f} {o.get('passes_over_A', 0):>7.0f} "
                  f"{o.get('max_rel_err', 0):>12.2e} {o.get('rel_err_s2', 0):>11.2e}")
    for p in peers:
        print(f"{p['name']:<46} {p['seconds']:>8.3f} {p['products']:>7} "
              f"{p['max_rel_err']:>12.2e} {p['rel_err_s2']:>11.2e}")
    passes = find("cpu/pass/")
    if passes:
        print(f"one pass over A (dgemv): {passes[0]['seconds'] * 1e3:.2f} ms, "
              f"{passes[0].get('bytes_per_s', 0) / 1e9:.1f} GB/s")

    ratios = {}
    exact = find("cpu/exact/")
    for o in find("cpu/lanczos/"):
        tol = o.get("tol")
        same_tol = [p for p in peers if tol is not None and abs(p["tol"] - tol) <= 1e-3 * tol]
        for p in same_tol:
            ratios[f"svds(tol={p['tol']:g}) / {o['name']}"] = p["seconds"] / o["seconds"]
        if exact:
            ratios[f"{exact[0]['name']} / {o['name']}"] = exact[0]["seconds"] / o["seconds"]
        if passes:
            ratios[f"{o['name']} / (passes x one pass)"] = (
                o["seconds"] / (o["passes_over_A"] * passes[0]["seconds"]))
    print("ratios (how many times faster; the last: time over the pass floor):")
    for k, v in ratios.items():
        print(f"  {k}: {v:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"matrix": args.matrix, "T": T, "context": bench.get("context", {}),
                       "scipy_gesdd_seconds": gesdd_s, "reference_top4": list(reference),
                       "gapbench": ours, "peers": peers, "ratios": ratios}, f, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
