#!/usr/bin/python3
"""Plots a gapbench sweep: s1 and s2 against T (log-log), mean +- sd over seeds, with the theory
of PAPER.md (1 + c^2/(2T) and 2c/sqrt(T)) where the model has one.

Usage: /usr/bin/python3 scripts/plot.py SWEEP_DIR [SWEEP_DIR ...] [--out DIR]

Reads rows.csv and meta.json from each directory; writes gap_vs_T.png and .svg into --out
(default: the first directory). Rows that did not converge are drawn as red crosses and left
out of the means. Needs matplotlib (Debian: python3-matplotlib, for /usr/bin/python3).
"""
import argparse
import csv
import json
import math
import os
import sys
from collections import defaultdict


def fail(message):
    print(f"plot.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def load(directory):
    rows_path = os.path.join(directory, "rows.csv")
    meta_path = os.path.join(directory, "meta.json")
    for path in (rows_path, meta_path):
        if not os.path.isfile(path):
            fail(f"{path} is missing: give a directory written by gapbench sweep")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
        with open(rows_path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (json.JSONDecodeError, csv.Error, UnicodeDecodeError) as e:
        fail(f"cannot read {directory}: {e}")
    needed = {"T", "s1", "s2", "model", "fix", "converged"}
    if rows and not needed <= set(rows[0]):
        fail(f"{rows_path} lacks columns {sorted(needed - set(rows[0]))}")
    return meta, rows


def series_label(row):
    if row["model"] == "markov":
        label = f"markov {row['law']}" + (f" β={row['beta']}" if row["beta"] else "")
    else:
        label = (f"attention {row['input']} d={row['d']} dk={row['dk']} β={row['beta']}"
                 + (" causal" if row["causal"] == "1" else ""))
    return f"{label}, fix={row['fix']}, {row['solver']} {row['precision']}"


def mean_sd(values):
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, sd


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", help="sweep directories (rows.csv + meta.json)")
    parser.add_argument("--out", help="where to write the figures (default: the first dir)")
    args = parser.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        fail("matplotlib is missing: apt-get install python3-matplotlib (for /usr/bin/python3)")

    fig, ax = plt.subplots(figsize=(8, 5.5))
    footer = []
    theory_drawn = set()
    for directory in args.dirs:
        meta, rows = load(directory)
        backend = meta.get("backend", {})
        footer.append(f"{backend.get('name', '?')}: {backend.get('device', '?')}, "
                      f"commit {meta.get('build', {}).get('commit', '?')}, "
                      f"{meta.get('started', '?')[:10]}")
        groups = defaultdict(lambda: defaultdict(lambda: {"s1": [], "s2": []}))
        bad = {"T": [], "s": []}
        c_of = {}
        for row in rows:
            if not row["s2"]:
                continue
            label = series_label(row)
            T = int(row["T"])
            if row["converged"] != "1":
                bad["T"] += [T, T]
                bad["s"] += [float(row["s1"]), float(row["s2"])]
                continue
            groups[label][T]["s1"].append(float(row["s1"]))
            groups[label][T]["s2"].append(float(row["s2"]))
            if row.get("c"):
                c_of[label] = (float(row["c"]), row["fix"])
        for label, by_T in groups.items():
            Ts = sorted(by_T)
            for key, marker in (("s1", "o"), ("s2", "s")):
                stats = [mean_sd(by_T[T][key]) for T in Ts]
                line = ax.errorbar(Ts, [m for m, _ in stats], yerr=[s for _, s in stats],
                                   marker=marker, ms=4, capsize=3, lw=1.2,
                                   label=f"{key}: {label}")
            if label in c_of:
                c, fix = c_of[label]
                grid = [Ts[0] * (Ts[-1] / Ts[0]) ** (i / 100) for i in range(101)]
                if fix == "none" and ("s1", c) not in theory_drawn:
                    ax.plot(grid, [1 + c * c / (2 * T) for T in grid], "k--", lw=0.8,
                            label=f"theory s1 = 1 + c²/2T (c={c:.3g})")
                    theory_drawn.add(("s1", c))
                if ("s2", c) not in theory_drawn:
                    ax.plot(grid, [2 * c / math.sqrt(T) for T in grid], "k:", lw=1.0,
                            label=f"theory bulk edge 2c/√T (c={c:.3g})")
                    theory_drawn.add(("s2", c))
        if bad["T"]:
            ax.plot(bad["T"], bad["s"], "rx", ms=7, label="not converged (left out)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("context length T (tokens)")
    ax.set_ylabel("singular value (dimensionless)")
    ax.set_title("Spectral gap of random attention matrices: s1 and s2 against T")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.text(0.01, 0.01, " | ".join(footer), fontsize=6, color="0.4")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    out = args.out or args.dirs[0]
    os.makedirs(out, exist_ok=True)
    for ext in ("png", "svg"):
        path = os.path.join(out, f"gap_vs_T.{ext}")
        fig.savefig(path, dpi=150)
        print(f"plot: wrote {path}")


if __name__ == "__main__":
    main()
