"""The Python package's overhead over its C++ core (issue 18's speed target: the difference under
50 us plus any copy the input needs). On the same Q, K (float64, C-contiguous: no copy) and flags,
call by call in one process: gapbench.spectrum() timed from Python against the NaN/Inf scan of
Q and K, Backend::check and Backend::run_factors timed in C++ (gapbench._gapbench.time_factors,
what `gapbench run --qk` runs for a one-head file), at small and large T. Prints a table and writes
JSON (--out) with the machine, commit and every timing.

Usage: .venv/bin/python scripts/python-overhead.py [--T 64,1024] [--reps 200] [--out FILE.json]
"""
import argparse
import json
import platform
import statistics
import time

import numpy as np

import gapbench


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", default="64,1024")
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out")
    args = parser.parse_args()
    rows = []
    for T in (int(t) for t in args.T.split(",")):
        rng = np.random.default_rng(T)
        q, k = rng.standard_normal((2, T, 64))
        reps = max(3, args.reps * 64 // T) if T > 64 else args.reps
        flags = ["--model", "attention", "--k", "4", "--threads", "1"]
        gapbench.spectrum(q, k, threads=1)  # warm up: the cached backend, the pages
        # One Python call and one C++ call (timed inside C++) in turn, so drifts of this
        # machine's speed hit both, which one goes first alternating (the second finds the
        # caches the first left); the overhead is the median of the paired differences.
        py, cpp = [], []

        def python_call():
            t0 = time.perf_counter()
            gapbench.spectrum(q, k, k=4, threads=1)
            py.append(time.perf_counter() - t0)

        def cpp_call():
            cpp.append(gapbench._gapbench.time_factors(q, k, flags, 1)[0])
        for i in range(args.rounds * reps):
            for call in ((python_call, cpp_call) if i % 2 == 0 else (cpp_call, python_call)):
                call()
        diffs = [p - c for p, c in zip(py, cpp)]
        diff = statistics.median(diffs)
        rows.append({"T": T, "calls": len(py), "python_s": statistics.median(py),
                     "cpp_s": statistics.median(cpp), "overhead_s": diff,
                     "overhead_q25_s": statistics.quantiles(diffs, n=4)[0],
                     "overhead_q75_s": statistics.quantiles(diffs, n=4)[2]})
        q25, q75 = statistics.quantiles(diffs, n=4)[0], statistics.quantiles(diffs, n=4)[2]
        print(f"T = {T:5d}: python {statistics.median(py) * 1e6:10.1f} us  "
              f"C++ {statistics.median(cpp) * 1e6:10.1f} us  overhead {diff * 1e6:7.1f} us "
              f"(median of {len(py)} paired calls; quartiles {q25 * 1e6:.1f}, {q75 * 1e6:.1f})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"schema": "gapbench.python-overhead/1", "build": gapbench.build_info(),
                       "machine": platform.processor() or platform.machine(),
                       "python": platform.python_version(),
                       "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows},
                      f, indent=1)


if __name__ == "__main__":
    main()
