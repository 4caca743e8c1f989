#!/usr/bin/python3
"""Slims a Google Benchmark JSON file for storage under results/: keeps the context and the
per-repetition entries (what `gapbench compare` reads), drops the aggregates (mean, median,
stddev, cv: recomputable) and the indentation.

Usage: /usr/bin/python3 scripts/slim-bench-json.py IN.json OUT.json
"""
import json
import sys


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        with open(sys.argv[1]) as f:
            data = json.load(f)  # Python reads Google Benchmark's bare NaN as nan
    except (OSError, ValueError) as e:
        print(f"slim-bench-json.py: error: {sys.argv[1]}: {e}", file=sys.stderr)
        sys.exit(2)
    data["benchmarks"] = [b for b in data.get("benchmarks", [])
                          if b.get("run_type") != "aggregate"]
    with open(sys.argv[2], "w") as f:
        json.dump(data, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
