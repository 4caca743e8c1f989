#!/usr/bin/python3
"""Writes corpus/fuzz_results/: real sweep directories of the current schema, joined at NUL bytes
(meta.json, rows.csv, values.csv) as fuzz_results.cpp splits them, whole and damaged.

    /usr/bin/python3 fuzz/make_results_corpus.py build/bin/gapbench

Rerun it when the sweep schema changes (the files name the schema they were made with in their
meta.json) and commit the files with it. The sweeps are tiny (T = 16, 24) and run on the CPU.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.realpath(__file__))
OUT = os.path.join(HERE, "corpus", "fuzz_results")
COMMON = ["--model", "markov", "--T", "16,24", "--seeds", "2", "--backend", "cpu", "--threads", "1"]


def sweep(gapbench, directory, *flags):
    subprocess.run([gapbench, "sweep", *COMMON, *flags, "--out", directory], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = []
    for name in ("meta.json", "rows.csv", "values.csv"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                parts.append(f.read())
    return parts


def joined(parts):
    return b"\0".join(parts)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_results_corpus.py GAPBENCH")
    gapbench = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        plain = sweep(gapbench, os.path.join(tmp, "plain"), "--k", "4")
        values = sweep(gapbench, os.path.join(tmp, "values"), "--k", "2", "--solver", "exact",
                       "--all-values")
        eigen = sweep(gapbench, os.path.join(tmp, "eigen"), "--k", "2", "--spectrum",
                      "singular,eigen", "--solver", "exact", "--fix", "none,center",
                      "--all-values")
    meta, rows = plain[0], plain[1]
    lines = rows.split(b"\n")
    header, first = lines[0], lines[1]
    wrong_types = json.loads(meta)
    wrong_types["threads"] = "one"
    wrong_types["plan"]["seeds"] = -2
    files = {
        "complete": joined(plain),
        "all_values": joined(values),
        "eigen_pairs_and_values": joined(eigen),
        "garbage_meta": joined([b"{ not json ,,,", rows]),
        "header_only": joined([meta, header[:20]]),
        # An s2 of nan and the first row again.
        "nan_and_duplicate": joined(
            [meta, rows.replace(first, first.replace(first.split(b",")[22], b"nan", 1), 1) + first
             + b"\n"]),
        # The last line cut in half.
        "torn": joined([meta, rows[: len(rows) - len(lines[-2]) // 2 - 1]]),
        "values_inf_and_a_fourth_part": joined(
            values[:2] + [values[2] + b"0,9,1,inf,\nx,y\n", b"a fourth part"]),
        "wrong_types": joined([json.dumps(wrong_types).encode(), rows]),
    }
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        os.remove(os.path.join(OUT, old))
    for name, data in sorted(files.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(files)} files to {OUT}")


if __name__ == "__main__":
    main()
