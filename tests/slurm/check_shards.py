#!/usr/bin/python3
"""Checks of the sharded-sweep Slurm test (test_sharded_sweep.sh).

  check_shards.py same REFERENCE MERGED     the merged rows.csv holds exactly the reference's rows:
                                            each key once, every column but the timings equal
                                            as text (bitwise on one thread)
  check_shards.py devices OUT               shards that ran at the same time saw different
                                            CUDA_VISIBLE_DEVICES (meta.json's started/finished)
Exits 1 with the reason on the first difference.
"""
import csv
import json
import sys
from datetime import datetime
from pathlib import Path

TIMINGS = {"generate_s", "solve_s", "layer_seconds", "metric_seconds"}
KEYS = [("point", "run", "layer"), ("point", "index")]  # propagate rows also hold an index


def rows(directory):
    with open(Path(directory) / "rows.csv", newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames
        key = next(k for k in KEYS if all(c in header for c in k))
        out = {}
        for row in reader:
            k = tuple(row[c] for c in key)
            if k in out:
                sys.exit(f"{directory}: key {k} twice")
            out[k] = {c: v for c, v in row.items() if c not in TIMINGS}
        return header, out


def same(reference, merged):
    ref_header, ref = rows(reference)
    header, got = rows(merged)
    if header != ref_header:
        sys.exit(f"{merged}: header differs from the reference's")
    if set(got) != set(ref):
        sys.exit(f"{merged}: keys differ: missing {sorted(set(ref) - set(got))[:5]}, "
                 f"extra {sorted(set(got) - set(ref))[:5]}")
    for k, row in ref.items():
        if got[k] != row:
            diff = [c for c in row if got[k][c] != row[c]]
            sys.exit(f"{merged}: row {k} differs in {diff}: {[got[k][c] for c in diff]} "
                     f"against {[row[c] for c in diff]}")
    print(f"same: {len(ref)} rows of {merged} equal the reference's")


def devices(out):
    def when(text):
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    shards = []
    for meta_path in sorted(Path(out).glob("shard-*/meta.json")):
        meta = json.loads(meta_path.read_text())
        if meta.get("cuda_visible_devices") is None:
            sys.exit(f"{meta_path}: no CUDA_VISIBLE_DEVICES recorded")
        shards.append((meta_path.parent.name, when(meta["started"]), when(meta["finished"]),
                       meta["cuda_visible_devices"]))
    overlapping = 0
    for i, a in enumerate(shards):
        for b in shards[i + 1:]:
            if a[1] < b[2] and b[1] < a[2]:  # ran at the same time
                overlapping += 1
                if a[3] == b[3]:
                    sys.exit(f"{a[0]} and {b[0]} ran at the same time on CUDA_VISIBLE_DEVICES={a[3]}")
    print(f"devices: {len(shards)} shards, {overlapping} pairs ran at the same time, each pair on "
          f"different devices ({', '.join(s[0] + '=' + s[3] for s in shards)})")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "same":
        same(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "devices":
        devices(sys.argv[2])
    else:
        sys.exit(__doc__)
