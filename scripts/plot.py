#!/usr/bin/python3
"""Figures from gapbench results: sweeps (rows.csv, values.csv, meta.json), signal propagation
(gapbench propagate), benchmark JSON (gapbench_bench --benchmark_out) and `gapbench compare --json`.

Usage:
  /usr/bin/python3 scripts/plot.py [SWEEP_DIR ...] [--bench BENCH.json ...] [--compare CMP.json]
                                   [--out DIR] [--formats png,svg] [--dump-data FILE.json]
                                   [--only NAMES] [--bulk-T T] [--prop-layer N] [--grad-layer L]

Figures (each written as NAME.png and NAME.svg into --out; default: the first sweep directory,
else the directory of the first JSON file):
  gap_vs_T             s1 and s2 of A (fix none) against T, mean +- sd over seeds, with the
                       theory 1 + c^2/(2T) and 2c/sqrt(T) where the model has c (markov)
  ratio_vs_T           s2/s1 (fix none), and sqrt(T) s_edge/(2c) (markov, edge_ratio; theory 1)
  fix_and_stable_rank  ||A_perp||_2 (s1 of fix center) beside s2 of A (fix none), and the stable
                       rank of A and A_perp (theory 1 + c^2 and T/4)
  bulk_histogram       sqrt(T) s_k over every value of values.csv but s1 of fix none (density),
                       per model at the largest T with full spectra (or --bulk-T), against the
                       quarter-circle density sqrt(4c^2 - x^2)/(pi c^2) on [0, 2c]
  solver_error_vs_T    max_rel_err (the largest relative error of the top k against the float64
                       reference of `gapbench sweep --reference auto`) against T, per solver and
                       precision, mean +- sd over seeds; rows that are their own reference
                       (float64 exact up to T = 4096: error 0) are left out
  throughput_vs_T      matrices/s and % of copy bandwidth against T per benchmark series
                       (medians over repetitions; failed/skipped entries left out)
  accuracy_vs_time     rel_err_s2 against the time of one solve, per solver and precision
  regression           the change per benchmark of a `gapbench compare --json` report
  propagation_depth    stable rank of X_l against the layer l, ||X||_F^2/||X||_2^2 and (second
                       panel) sum s_i^4/s_1^4, one line per configuration (variant, fix,
                       attention, LayerNorm, and whatever else differs), mean +- sd over seeds
  propagation_width    the same after --prop-layer N layers (default 1) against T, log-log, with
                       PAPER.md's limits after one layer (plain, no LayerNorm, markov, isometric
                       X0, gamma 1): 4T/27 and 48T/729 with A_perp, 1 + c^2 and 1 with A
  propagation_gradient mean over seeds of log_grad_sq = ln ||dX_L/dW_l||_F^2 (l = --grad-layer,
                       default 1) against T on a log axis, with and without the fix, and the
                       least-squares slope in ln T in the legend (PAPER.md: 2 with A, ~1.1 A_perp)
Directories of `gapbench propagate` (meta.json schema gapbench.propagate/..., or a rows.csv with
a layer column; the seed index is the column run, else index) are given like sweep directories,
mixed with them or not: each figure takes the data it understands.
Several sweep directories or benchmark files are overlaid, each labelled by its device and
commit. Rows that did not converge (converged = 0) are drawn as red crosses and left out of
the means. A figure whose data are absent is skipped with a note. --dump-data writes the data
series of every figure drawn (the exact numbers plotted) as JSON.

Errors (missing or malformed input) print one line "plot.py: error: ..." and exit 2 before any
figure is written. Needs matplotlib and numpy (Debian: python3-matplotlib for /usr/bin/python3;
elsewhere pip install -r scripts/requirements-plot.txt).
"""
import argparse
import csv
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
from collections import OrderedDict, defaultdict

FIGURES = ("gap_vs_T", "ratio_vs_T", "fix_and_stable_rank", "bulk_histogram",
           "solver_error_vs_T", "throughput_vs_T", "accuracy_vs_time", "regression",
           "propagation_depth", "propagation_width", "propagation_gradient")
PROPAGATION_FIGURES = FIGURES[-3:]
FORMATS = ("png", "svg", "pdf")

# rows.csv: the columns every figure needs, and those parsed as numbers when present.
ROW_NEEDED = ("point", "index", "model", "fix", "T", "precision", "solver", "s1", "converged")
ROW_NUMERIC = {"point", "index", "T", "k", "beta", "d", "dk", "tol", "gap", "ratio", "frob",
               "frob_perp_sq", "stable_rank", "c", "s1_excess", "edge_ratio",
               "frob_perp_over_c2", "iterations", "restarts", "passes", "residual",
               "residual_estimate", "converged", "generate_s", "solve_s", "max_rel_err",
               "rel_err_s2"}
VALUES_NEEDED = ("point", "index", "rank", "value")
TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
# Name segments of Google Benchmark that do not tell series apart.
BENCH_NOISE_KEYS = {"T", "repeats", "iterations", "min_time", "threads", "min_warmup_time"}
BENCH_TIME_WORDS = {"manual_time", "real_time", "process_time"}
UNIT_ROUNDOFF = {"float64": 2.0 ** -53, "float32": 2.0 ** -24}
NOT_CONVERGED_LABEL = "not converged (left out of means)"


class InputError(Exception):
    """A missing or malformed input: reported as one line, exit code 2."""


def fail(message):
    print(f"plot.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def note(message):
    print(f"plot.py: {message}")


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints the usage too)
        fail(f"{message} (see --help)")


# ----------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------

def read_json(path, what):
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file ({what})")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: malformed JSON ({what}): {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read ({what}): {e}") from None


def read_csv(path, needed, numeric, what="gapbench sweep file"):
    """Rows of a CSV file as dicts, numbers parsed (empty: None). A torn last line (no newline
    at the end of the file: an interrupted writer) is dropped with a note."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read: {e}") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise InputError(f"{path}: empty file (no header)")
    try:
        table = list(csv.reader(lines))
    except csv.Error as e:
        raise InputError(f"{path}: malformed CSV: {e}") from None
    header = table[0]
    missing = [c for c in needed if c not in header]
    if missing:
        raise InputError(f"{path}: lacks the column(s) {', '.join(missing)} "
                         f"(not a {what}?)")
    if len(set(header)) != len(header):
        raise InputError(f"{path}: repeated column names in the header")
    body = table[1:]
    if body and len(body[-1]) != len(header) and not text.endswith("\n"):
        note(f"{path}: dropped a torn last line (the writer was interrupted)")
        body = body[:-1]
    rows = []
    for number, cells in enumerate(body, start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            raise InputError(f"{path}:{number}: {len(cells)} fields, the header has "
                             f"{len(header)}")
        row = {}
        for key, cell in zip(header, cells):
            if key in numeric or (key.startswith("s") and key[1:].isdigit()):
                if cell == "":
                    row[key] = None
                    continue
                try:
                    row[key] = float(cell)
                except ValueError:
                    raise InputError(f"{path}:{number}: column {key}: {cell!r} is not a "
                                     f"number") from None
            else:
                row[key] = cell
        for key in needed:
            if row[key] is None or row[key] == "":
                raise InputError(f"{path}:{number}: column {key} is empty")
        rows.append(row)
    return rows


def read_values(path):
    """values.csv: {(point, index): [(rank, value)]} (a fast path: it can hold millions of
    lines)."""
    values = defaultdict(list)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read: {e}") from None
    lines = text.split("\n")
    header = lines[0].strip().split(",") if lines else []
    if header[:4] != list(VALUES_NEEDED):
        raise InputError(f"{path}: the header is not {','.join(VALUES_NEEDED)} "
                         f"(not a gapbench values file?)")
    last = len(lines) - 1
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split(",")
        try:
            if len(cells) != len(header):
                raise ValueError
            values[(int(cells[0]), int(cells[1]))].append((int(cells[2]), float(cells[3])))
        except ValueError:
            if number - 1 == last:  # a torn last line without its newline
                note(f"{path}: dropped a torn last line (the writer was interrupted)")
                break
            raise InputError(f"{path}:{number}: malformed line {line[:60]!r}") from None
    return values


def short_commit(commit):
    if not isinstance(commit, str) or not commit:
        return "?"
    return commit[:7] + ("-dirty" if commit.endswith("-dirty") else "")


def disambiguate(labels, paths):
    """Labels made unique by the file or directory name, else the whole path."""
    out = list(labels)
    for i, label in enumerate(labels):
        if labels.count(label) > 1:
            names = [os.path.basename(os.path.normpath(paths[j])) for j in range(len(labels))
                     if labels[j] == label]
            name = os.path.basename(os.path.normpath(paths[i]))
            out[i] = f"{label} ({name if names.count(name) == 1 else os.path.normpath(paths[i])})"
    return out


class Sweep:
    """One sweep directory (load_dir has checked it and read its meta.json)."""

    def __init__(self, directory, meta, need_values):
        self.dir = directory
        self.meta = meta
        rows_path = os.path.join(directory, "rows.csv")
        self.rows = read_csv(rows_path, ROW_NEEDED, ROW_NUMERIC)
        for i, row in enumerate(self.rows, start=2):
            if row["T"] < 1 or row["T"] != int(row["T"]):
                raise InputError(f"{rows_path}:{i}: T = {row['T']:g} is not a positive integer")
            row["T"] = int(row["T"])
            row["ok"] = row["converged"] == 1
        self.values = None  # (point, index) -> list of (rank, value)
        values_path = os.path.join(directory, "values.csv")
        if need_values and os.path.isfile(values_path):
            self.values = read_values(values_path)
        backend = self.meta.get("backend") or {}
        build = self.meta.get("build") or {}
        self.backend = str(backend.get("name", "?"))
        self.device = str(backend.get("device", "?"))
        self.commit = str(build.get("commit", "?"))
        self.started = str(self.meta.get("started", "?"))
        self.label = f"{self.backend} {self.device} @{short_commit(self.commit)}"
        status = self.meta.get("status")
        extra = f", status {status}" if status and status != "complete" else ""
        resumes = self.meta.get("resumes") or []
        extra += f", {len(resumes)} resume(s)" if resumes else ""
        self.footer = (f"sweep {os.path.normpath(directory)}: {self.backend} "
                       f"on {self.device}, commit {self.commit}, started {self.started}, "
                       f"{len(self.rows)} rows{extra}")


def parse_bench_name(name):
    parts = name.split("/")
    info = {"backend": parts[0], "family": parts[1] if len(parts) > 1 else "", "words": [],
            "params": OrderedDict()}
    for part in parts[2:]:
        if ":" in part:
            key, value = part.split(":", 1)
            info["params"][key] = value
        elif part not in BENCH_TIME_WORDS:
            info["words"].append(part)
    try:
        info["T"] = int(info["params"]["T"]) if "T" in info["params"] else None
    except ValueError:
        info["T"] = None
    info["precision"] = next((w for w in info["words"] if w.startswith("float")), None)
    key_params = [f"{k}:{v}" for k, v in info["params"].items() if k not in BENCH_NOISE_KEYS]
    info["series"] = "/".join([info["backend"], info["family"]] + info["words"] + key_params)
    info["short"] = " ".join([info["backend"], info["family"]] + info["words"] + key_params)
    return info


class Bench:
    """One Google Benchmark JSON file: per run, the median counters and time."""

    def __init__(self, path):
        self.path = path
        doc = read_json(path, "benchmark JSON")
        if (not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list)
                or not isinstance(doc.get("context", {}), dict)):
            raise InputError(f"{path}: not Google Benchmark JSON (no benchmarks list)")
        self.context = doc.get("context", {})
        runs = OrderedDict()
        for i, entry in enumerate(doc["benchmarks"]):
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise InputError(f"{path}: benchmarks[{i}] has no name")
            run_name = entry.get("run_name") or entry["name"]
            run = runs.setdefault(run_name, {"reps": [], "median": None, "errors": []})
            if entry.get("error_occurred") or entry.get("skipped"):
                run["errors"].append(entry.get("error_message") or entry.get("skip_message")
                                     or "skipped")
            elif entry.get("run_type") == "aggregate":
                if entry.get("aggregate_name") == "median":
                    run["median"] = entry
            else:
                run["reps"].append(entry)
        self.points = []  # one per run that has data
        self.left_out = []
        for run_name, run in runs.items():
            if run["median"] is None and not run["reps"]:
                self.left_out.append((run_name, run["errors"][0] if run["errors"] else "no data"))
                continue
            info = parse_bench_name(run_name)
            source = [run["median"]] if run["median"] is not None else run["reps"]
            point = {"name": run_name, "info": info,
                     "from": "median aggregate" if run["median"] is not None
                     else f"median of {len(run['reps'])} repetitions"}
            try:
                unit = TIME_UNITS[source[0].get("time_unit", "ns")]
                times = [float(e["real_time"]) * unit for e in source]
            except (KeyError, TypeError, ValueError):
                raise InputError(f"{path}: {run_name}: no usable real_time/time_unit") from None
            point["real_time_s"] = statistics.median(times)
            for counter in ("matrices_per_s", "pct_of_copy_bw", "rel_err_s2", "converged",
                            "passes_over_A", "bytes_per_s"):
                vals = [e[counter] for e in source if isinstance(e.get(counter), (int, float))
                        and math.isfinite(e[counter])]
                if vals:
                    point[counter] = statistics.median(vals)
            self.points.append(point)
        ctx = self.context
        self.commit = str(ctx.get("gapbench_commit", "?"))
        self.date = str(ctx.get("date", "?"))
        self.cpu = str(ctx.get("cpu_device", ctx.get("host_name", "?")))
        gpu_ran = any(p["info"]["backend"] == "gpu" for p in self.points)
        self.cuda = str(ctx.get("cuda_devices", "")) if gpu_ran else ""
        device = self.cuda if self.cuda else self.cpu
        self.label = f"{device[:40]} @{short_commit(self.commit)}"
        cuda = f"; CUDA: {self.cuda[:80]}" if self.cuda else ""
        self.footer = (f"bench {os.path.normpath(path)}: CPU {self.cpu}{cuda}, commit "
                       f"{self.commit}, build {ctx.get('gapbench_build_type', '?')}, "
                       f"{self.date}")


class Compare:
    def __init__(self, path):
        self.path = path
        doc = read_json(path, "gapbench compare --json report")
        if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
            raise InputError(f"{path}: not a gapbench compare --json report (no benchmarks list)")
        for i, b in enumerate(doc["benchmarks"]):
            if (not isinstance(b, dict) or not isinstance(b.get("name"), str)
                    or not isinstance(b.get("change"), (int, float))
                    or b.get("verdict") not in ("regressed", "improved", "same")):
                raise InputError(f"{path}: benchmarks[{i}] lacks name, change or verdict")
        self.doc = doc
        # The contexts of the two files: stored in the report by gapbench compare, or read from
        # the files when they can still be found (older reports).
        self.footers = []
        for side in ("base", "new"):
            name = doc.get(side)
            found = None
            stored = doc.get(f"{side}_context")
            if isinstance(stored, dict) and stored:
                self.footers.append(
                    f"{side} {name}: {stored.get('cpu_device', '?')}, commit "
                    f"{stored.get('gapbench_commit', '?')}, {stored.get('date', '?')}")
                continue
            if isinstance(name, str):
                for candidate in (name, os.path.join(os.path.dirname(path), name)):
                    if os.path.isfile(candidate):
                        found = candidate
                        break
            ctx = None
            if found:
                try:
                    with open(found, encoding="utf-8") as f:
                        ctx = json.load(f).get("context")
                except (OSError, ValueError, AttributeError):
                    ctx = None
            if isinstance(ctx, dict):
                self.footers.append(
                    f"{side} {name}: {ctx.get('cpu_device', '?')}, commit "
                    f"{ctx.get('gapbench_commit', '?')}, {ctx.get('date', '?')}")
            else:
                self.footers.append(f"{side}: {name} (file not found: no device/commit)")
        for d in doc.get("context_differences") or []:
            if isinstance(d, dict):
                self.footers.append(f"context differs: {d.get('key')}: {d.get('base')} -> "
                                    f"{d.get('new')}")


# rows.csv of `gapbench propagate` (one row per layer of one network): the columns the
# propagation figures need (besides run or index, the seed index), and the numeric ones.
PROP_NEEDED = ("T", "variant", "fix", "attention", "layernorm", "layer", "stable_rank")
PROP_NUMERIC = {"point", "run", "index", "T", "d", "gamma", "L", "beta", "dk", "sigma_v", "seed",
                "layer", "log_frob", "stable_rank", "stable_rank4", "mean_cosine",
                "centered_ratio", "log_grad_sq", "layer_seconds", "metric_seconds"}
PROP_FLAGS = {"0": False, "1": True, "false": False, "true": True, "off": False, "on": True}


def is_propagate_dir(directory, meta):
    """A `gapbench propagate` directory: meta.json's schema says so, or rows.csv has a layer
    column."""
    schema = meta.get("schema") if isinstance(meta, dict) else None
    if isinstance(schema, str):
        if schema.startswith("gapbench.propagate"):
            return True
        if schema.startswith("gapbench.sweep"):
            return False
    try:
        with open(os.path.join(directory, "rows.csv"), newline="", encoding="utf-8") as f:
            header = next(csv.reader([f.readline()]), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return "layer" in header


class Propagate:
    """One directory of `gapbench propagate` (rows.csv: one row per layer and network)."""

    def __init__(self, directory, meta):
        self.dir = directory
        self.meta = meta
        rows_path = os.path.join(directory, "rows.csv")
        self.rows = read_csv(rows_path, PROP_NEEDED, PROP_NUMERIC,
                             what="gapbench propagate file")
        if self.rows and "run" not in self.rows[0] and "index" not in self.rows[0]:
            raise InputError(f"{rows_path}: lacks the column run (or index): the seed index")
        seed_key = "run" if self.rows and "run" in self.rows[0] else "index"
        for i, row in enumerate(self.rows, start=2):
            for key, low in (("T", 1), ("layer", 0), (seed_key, 0)):
                v = row.get(key)
                if v is None or v < low or v != int(v):
                    raise InputError(f"{rows_path}:{i}: {key} = {row.get(key)} is not an "
                                     f"integer >= {low}")
                row[key] = int(v)
            flag = PROP_FLAGS.get(str(row["layernorm"]).strip().lower())
            if flag is None:
                raise InputError(f"{rows_path}:{i}: layernorm = {row['layernorm']!r} is not "
                                 f"0 or 1")
            row["layernorm"] = flag
            row["run_index"] = row[seed_key]
            for key in ("stable_rank", "stable_rank4"):
                v = row.get(key)
                if v is not None and math.isfinite(v) and v <= 0:
                    raise InputError(f"{rows_path}:{i}: {key} = {v:g} is not positive")
        backend = meta.get("backend") or "?"
        if isinstance(backend, dict):
            device = backend.get("device")
            backend = f"{backend.get('name', '?')}" + (f" {device}" if device else "")
        self.backend = str(backend)
        self.device = str(meta.get("device") or meta.get("host") or "?")
        self.blas = str(meta.get("blas") or "")
        build = meta.get("build") or {}
        self.commit = str(build.get("commit", "?")) if isinstance(build, dict) else "?"
        self.started = str(meta.get("started", "?"))
        self.label = f"{self.backend} {self.device} @{short_commit(self.commit)}"
        blas = f" ({self.blas.split(' NO_')[0][:40]})" if self.blas else ""
        status = meta.get("status")
        extra = f", status {status}" if status and status != "complete" else ""
        self.footer = (f"propagate {os.path.normpath(directory)}: {self.backend}{blas} on "
                       f"{self.device}, commit {self.commit}, started {self.started}, "
                       f"{len(self.rows)} rows{extra}")


def load_dir(directory, need_values):
    """A sweep or a propagate directory, told apart by meta.json's schema (or a layer column)."""
    if not os.path.isdir(directory):
        raise InputError(f"{directory}: no such directory (give a directory written by "
                         f"gapbench sweep or gapbench propagate)")
    rows_path = os.path.join(directory, "rows.csv")
    if not os.path.isfile(rows_path):
        raise InputError(f"{rows_path}: no such file (give a directory written by "
                         f"gapbench sweep or gapbench propagate)")
    meta_path = os.path.join(directory, "meta.json")
    meta = read_json(meta_path, "results metadata")
    if not isinstance(meta, dict):
        raise InputError(f"{meta_path}: not a JSON object")
    if is_propagate_dir(directory, meta):
        return Propagate(directory, meta)
    return Sweep(directory, meta, need_values)


# ----------------------------------------------------------------------------------------------
# Figure data (pure: what --dump-data writes, and exactly what is drawn)
# ----------------------------------------------------------------------------------------------

def mean_sd(values):
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, sd


def fmt_num(x):
    return f"{x:g}"


def series_key(row):
    model = row["model"]
    if model == "markov":
        label = f"markov {row.get('law') or '?'}"
        if row.get("law") == "lognormal" and row.get("beta") is not None:
            label += f" β={fmt_num(row['beta'])}"
    elif model == "attention":
        label = f"attention {row.get('input') or '?'}"
        for key, name in (("d", "d"), ("dk", "dk")):
            if row.get(key) is not None:
                label += f" {name}={fmt_num(row[key])}"
        if row.get("beta") is not None:
            label += f" β={fmt_num(row['beta'])}"
        if row.get("init") and row["init"] != "normal":
            label += f" {row['init']}"
        if row.get("causal") == "1":
            label += " causal"
    else:
        label = model
    return label


class Context:
    """What the sweep figures share: series labels and colours over all the sets."""

    def __init__(self, sweeps, plt):
        self.sweeps = sweeps
        all_rows = [r for s in sweeps for r in s.rows]
        self.vary = {key: len({r.get(key) for r in all_rows}) > 1
                     for key in ("solver", "precision", "k", "tol")}
        self.multi = len(sweeps) > 1
        self.keys = OrderedDict()
        for si, s in enumerate(sweeps):
            for r in s.rows:
                self.keys.setdefault((si, self.name(r)), None)
        cmap = plt.get_cmap("tab10" if len(self.keys) <= 10 else "tab20")
        n = cmap.N
        for i, key in enumerate(self.keys):
            self.keys[key] = "#%02x%02x%02x" % tuple(int(255 * c) for c in cmap(i % n)[:3])

    def name(self, row):
        label = series_key(row)
        extra = []
        if self.vary["solver"]:
            extra.append(row["solver"])
        if self.vary["precision"]:
            extra.append(row["precision"])
        if self.vary["k"] and row.get("k") is not None:
            extra.append(f"k={fmt_num(row['k'])}")
        if self.vary["tol"] and row.get("tol") is not None:
            extra.append(f"tol={fmt_num(row['tol'])}")
        return label + (f" ({', '.join(extra)})" if extra else "")

    def label(self, si, name):
        return f"{name} [{self.sweeps[si].label}]" if self.multi else name

    def color(self, si, name):
        return self.keys[(si, name)]


def group_rows(ctx, predicate, quantity):
    """{(set, series): {T: {"ok": [values], "bad": [(value, row)]}}} of rows passing predicate,
    quantity a column name or a function of the row (None: no value)."""
    groups = OrderedDict()
    for si, sweep in enumerate(ctx.sweeps):
        for row in sweep.rows:
            if not predicate(row):
                continue
            value = quantity(row) if callable(quantity) else row.get(quantity)
            if value is None or not math.isfinite(value):
                continue
            by_T = groups.setdefault((si, ctx.name(row)), {})
            cell = by_T.setdefault(row["T"], {"ok": [], "bad": []})
            if row["ok"]:
                cell["ok"].append(value)
            else:
                cell["bad"].append((value, row))
    return groups


def c_of(ctx, si, name, predicate=lambda r: True):
    cs = {r["c"] for r in ctx.sweeps[si].rows
          if ctx.name(r) == name and predicate(r) and r.get("c") is not None}
    return cs.pop() if len(cs) == 1 else None


def stat_series(ctx, groups, quantity, fix, marker, filled=True, linestyle="-"):
    out, bad = [], {"x": [], "y": [], "labels": []}
    for (si, name), by_T in groups.items():
        Ts = sorted(T for T in by_T if by_T[T]["ok"])
        stats = [mean_sd(by_T[T]["ok"]) for T in Ts]
        if Ts:
            out.append({
                "kind": "mean_sd", "label": f"{quantity}: {ctx.label(si, name)}",
                "series_label": ctx.label(si, name), "quantity_label": quantity,
                "set": si, "set_label": ctx.sweeps[si].label, "series": name, "fix": fix,
                "quantity": quantity, "x": Ts, "y": [m for m, _ in stats],
                "yerr": [s for _, s in stats], "n": [len(by_T[T]["ok"]) for T in Ts],
                "color": ctx.color(si, name), "marker": marker, "filled": filled,
                "linestyle": linestyle})
        for T in sorted(by_T):
            for value, row in by_T[T]["bad"]:
                bad["x"].append(T)
                bad["y"].append(value)
                bad["labels"].append(f"{quantity}: {ctx.label(si, name)}, fix={fix}, T={T}, "
                                     f"index={int(row['index'])}, point={int(row['point'])}")
    return out, bad


def not_converged_series(bads):
    merged = {"x": [], "y": [], "labels": []}
    for b in bads:
        for key in merged:
            merged[key] += b[key]
    if not merged["x"]:
        return []
    return [{"kind": "not_converged", "label": NOT_CONVERGED_LABEL, **merged}]


def log_grid(lo, hi, n=64):
    if lo == hi:
        return [float(lo)]
    return [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]


def theory_lines(ctx, groups, formula, fn, label, linestyle, seen):
    """One line per distinct c over the T range of the series that have that c."""
    ranges = OrderedDict()
    for (si, name), by_T in groups.items():
        c = c_of(ctx, si, name)
        if c is None or not by_T:
            continue
        lo, hi = ranges.get(c, (math.inf, -math.inf))
        ranges[c] = (min(lo, min(by_T)), max(hi, max(by_T)))
    out = []
    cs = [c for c in ranges if (formula, c) not in seen]
    label = f"{label} (c = {', '.join(f'{c:.4g}' for c in cs)})"
    for c, (lo, hi) in ranges.items():
        if (formula, c) in seen:
            continue
        seen.add((formula, c))
        xs = log_grid(lo, hi)
        out.append({"kind": "theory", "label": label, "formula": formula,
                    "c": c, "x": xs, "y": [fn(T, c) for T in xs], "linestyle": linestyle})
    return out


def T_axis(ylabel, title, yscale="log"):
    return {"title": title, "xlabel": "context length T (tokens)", "ylabel": ylabel,
            "xscale": "log2", "yscale": yscale, "series": []}


def is_none(r):
    return r["fix"] == "none"


def is_center(r):
    return r["fix"] == "center"


def ratio_of(r):
    if r.get("ratio") is not None:
        return r["ratio"]
    if r.get("s2") is not None and r["s1"]:
        return r["s2"] / r["s1"]
    return None


def sweep_footer(ctx):
    return [s.footer for s in ctx.sweeps]


def fused_boundaries(ctx):
    """One vertical marker per set whose rows switch from the dense to the fused (matrix-free)
    operator as T grows: at the first T computed fused (rows.csv `operator`, schema 2)."""
    out = []
    for si, sweep in enumerate(ctx.sweeps):
        fused = [r["T"] for r in sweep.rows if r.get("operator") == "fused"]
        dense = [r["T"] for r in sweep.rows if r.get("operator") == "dense"]
        if fused:
            first = min(fused)
            where = (f"dense up to T = {fmt_num(max(dense))}, " if dense else "") + \
                f"fused (matrix-free) from T = {fmt_num(first)}"
            out.append({"kind": "vline", "x": [first],
                        "label": where + (f" [{sweep.label}]" if ctx.multi else "")})
    return out


def fig_gap_vs_T(ctx):
    if not any(is_none(r) for s in ctx.sweeps for r in s.rows):
        return "no fix=none rows (the gap is that of A)"
    panel = T_axis("singular value (dimensionless)",
                   "s1 and s2 of A (fix none): mean ± sd over seeds")
    g1 = group_rows(ctx, is_none, "s1")
    g2 = group_rows(ctx, is_none, "s2")
    s1, b1 = stat_series(ctx, g1, "s1", "none", "o")
    s2, b2 = stat_series(ctx, g2, "s2", "none", "s", filled=False)
    seen = set()
    panel["series"] = (s1 + s2
                       + theory_lines(ctx, g1, "1 + c^2/(2T)", lambda T, c: 1 + c * c / (2 * T),
                                      "theory s1 = 1 + c²/(2T)", "--", seen)
                       + theory_lines(ctx, g2, "2c/sqrt(T)", lambda T, c: 2 * c / math.sqrt(T),
                                      "theory s2 = 2c/√T", ":", seen)
                       + not_converged_series([b1, b2]) + fused_boundaries(ctx))
    return {"title": "Spectral gap of random attention matrices: s1 and s2 against T",
            "panels": [panel], "footer": sweep_footer(ctx), "size": (8.0, 5.0),
            "legend": "figure"}


def fig_ratio_vs_T(ctx):
    panels = []
    g = group_rows(ctx, is_none, ratio_of)
    if g:
        p = T_axis("s2 / s1 (dimensionless)", "How fast the gap opens: s2/s1 of A (fix none)")
        s, b = stat_series(ctx, g, "s2/s1", "none", "o")
        p["series"] = (s + theory_lines(ctx, g, "2c/sqrt(T) / (1 + c^2/(2T))",
                                        lambda T, c: 2 * c / math.sqrt(T) / (1 + c * c / (2 * T)),
                                        "theory (2c/√T)/(1 + c²/(2T))", ":", set())
                       + not_converged_series([b]))
        panels.append(p)
    gn = group_rows(ctx, is_none, "edge_ratio")
    gc = group_rows(ctx, is_center, "edge_ratio")
    if gn or gc:
        p = T_axis("√T · s_edge / (2c) (dimensionless)",
                   "How close to theory: bulk edge over 2c/√T", yscale="linear")
        sn, bn = stat_series(ctx, gn, "√T·s2(A)/2c", "none", "o")
        sc, bc = stat_series(ctx, gc, "√T·s1(A⊥)/2c", "center", "D", filled=False,
                             linestyle="--")
        Ts = [T for grp in (gn, gc) for by_T in grp.values() for T in by_T]
        p["series"] = (sn + sc + [{"kind": "theory", "label": "theory → 1", "formula": "1",
                                   "x": [min(Ts), max(Ts)], "y": [1.0, 1.0], "linestyle": "--"}]
                       + not_converged_series([bn, bc]))
        panels.append(p)
    if not panels:
        return "no fix=none rows with s2 and no edge_ratio values"
    return {"title": "Gap ratio s2/s1 and the bulk edge against T", "panels": panels,
            "footer": sweep_footer(ctx), "size": (6.0 * len(panels) + 1.0, 4.8),
            "legend": "figure"}


def fig_fix_and_stable_rank(ctx):
    panels = []
    if any(is_center(r) for s in ctx.sweeps for r in s.rows):
        p = T_axis("singular value (dimensionless)", "With the fix: ‖A⊥‖₂ beside s2 of A")
        gc = group_rows(ctx, is_center, "s1")
        gn = group_rows(ctx, is_none, "s2")
        sc, bc = stat_series(ctx, gc, "‖A⊥‖₂", "center", "D")
        sn, bn = stat_series(ctx, gn, "s2(A)", "none", "s", filled=False, linestyle="--")
        p["series"] = (sc + sn + theory_lines(ctx, OrderedDict(list(gc.items()) + list(gn.items())),
                                             "2c/sqrt(T)", lambda T, c: 2 * c / math.sqrt(T),
                                             "theory 2c/√T", ":", set())
                       + not_converged_series([bc, bn]))
        panels.append(p)
    gn = group_rows(ctx, is_none, "stable_rank")
    gc = group_rows(ctx, is_center, "stable_rank")
    if gn or gc:
        p = T_axis("stable rank ‖M‖²_F / ‖M‖²₂ (dimensionless)",
                   "Stable rank: A collapses, A⊥ grows like T/4")
        sn, bn = stat_series(ctx, gn, "srank(A)", "none", "o")
        sc, bc = stat_series(ctx, gc, "srank(A⊥)", "center", "D", filled=False, linestyle="--")
        seen = set()
        p["series"] = (sn + sc + theory_lines(ctx, gn, "1 + c^2", lambda T, c: 1 + c * c,
                                              "theory srank(A) → 1 + c²", "--", seen)
                       + theory_lines(ctx, gc, "T/4", lambda T, c: T / 4,
                                      "theory srank(A⊥) → T/4", ":", seen)
                       + not_converged_series([bn, bc]))
        panels.append(p)
    if not panels:
        return "no fix=center rows and no stable_rank values"
    return {"title": "Removing the outlier: A⊥ = A − (1/T)·11ᵀ", "panels": panels,
            "footer": sweep_footer(ctx), "size": (6.0 * len(panels) + 1.0, 4.8),
            "legend": "figure"}


def is_own_reference(r):
    """float64 exact rows up to the exact cap are their own reference (error 0 by definition)."""
    return r.get("reference") == f"{r['solver']}/{r['precision']}"


def fig_solver_error_vs_T(ctx):
    def has_error(r):
        return r.get("max_rel_err") is not None and not is_own_reference(r)
    if not any(has_error(r) for s in ctx.sweeps for r in s.rows):
        return "no max_rel_err values (run the sweep with --reference auto)"
    panel = T_axis("largest relative error of s1..sk (dimensionless)",
                   "Each solver against the float64 reference (exact, or lanczos at tol 1e-10)")
    bads = []
    for fix, marker, filled, linestyle in (("none", "o", True, "-"), ("center", "D", False, "--")):
        groups = group_rows(ctx, lambda r, fix=fix: has_error(r) and r["fix"] == fix,
                            "max_rel_err")
        series, bad = stat_series(ctx, groups, f"max_rel_err (fix {fix})", fix, marker,
                                  filled=filled, linestyle=linestyle)
        panel["series"] += series
        bads.append(bad)
    panel["series"] += not_converged_series(bads)
    return {"title": "Accuracy of the solvers against T (gapbench sweep --reference auto)",
            "panels": [panel], "footer": sweep_footer(ctx), "size": (8.0, 5.0),
            "legend": "figure"}


def quarter_circle(x, c):
    return math.sqrt(max(4 * c * c - x * x, 0.0)) / (math.pi * c * c)


def fig_bulk_histogram(ctx, np, bulk_T):
    if not any(s.values is not None for s in ctx.sweeps):
        return "no values.csv (run the sweep with --all-values --solver exact)"
    for s in ctx.sweeps:
        if s.values is None:
            note(f"bulk_histogram: {s.dir} has no values.csv")
    # (set, series) -> T -> fix -> [sqrt(T) s_k], from matrices with a full spectrum
    data = OrderedDict()
    partial = 0
    left_out = defaultdict(int)  # (set, series, T, fix) -> matrices that did not converge
    for si, sweep in enumerate(ctx.sweeps):
        if sweep.values is None:
            continue
        for row in sweep.rows:
            vals = sweep.values.get((int(row["point"]), int(row["index"])))
            if not vals:
                continue
            if not row["ok"]:
                left_out[(si, ctx.name(row), row["T"], row["fix"])] += 1
                continue
            T = row["T"]
            if len(vals) < T:
                partial += 1
                continue
            scale = math.sqrt(T)
            xs = [scale * v for rank, v in vals if not (rank == 1 and row["fix"] == "none")]
            entry = data.setdefault((si, ctx.name(row)), {}).setdefault(T, {})
            cell = entry.setdefault(row["fix"], {"x": [], "matrices": 0, "frob_perp_sq": []})
            cell["x"] += xs
            cell["matrices"] += 1
            if row.get("frob_perp_sq") is not None:
                cell["frob_perp_sq"].append(row["frob_perp_sq"])
    if not data:
        why = (f"values.csv holds only the top k of {partial} matrices (full spectra need "
               f"--solver exact)" if partial else "no values.csv rows match converged rows")
        return why
    panels = []
    for (si, name), by_T in data.items():
        if bulk_T is not None:
            if bulk_T not in by_T:
                continue
            T = bulk_T
        else:
            T = max(by_T)
        cells = by_T[T]
        c = c_of(ctx, si, name)
        everything = [x for cell in cells.values() for x in cell["x"]]
        top = max(everything + ([2.0 * c] if c else []))
        n_bins = int(min(80, max(20, math.sqrt(len(everything)) / 1.5)))
        edges = np.linspace(0.0, top * 1.02, n_bins + 1)
        p = {"title": f"{name}, T = {T}" + (f"\n{ctx.sweeps[si].label}" if ctx.multi else ""),
             "xlabel": "√T · s_k (dimensionless)", "ylabel": "probability density (per unit of √T·s)",
             "xscale": "linear", "yscale": "linear", "series": []}
        for fix, what, style in (("none", "A: s2 … sT", "filled"), ("center", "A⊥: s1 … sT",
                                                                      "step")):
            if fix not in cells:
                continue
            cell = cells[fix]
            density, _ = np.histogram(cell["x"], bins=edges, density=True)
            bad = left_out.get((si, name, T, fix), 0)
            p["series"].append({
                "kind": "hist", "label": f"{what} ({cell['matrices']} matrices, "
                                         f"{len(cell['x'])} values"
                                         + (f"; {bad} not converged, left out" if bad else "")
                                         + ")", "not_converged": bad,
                "set": si, "series": name, "fix": fix, "T": T, "n": len(cell["x"]),
                "matrices": cell["matrices"], "x": [float(e) for e in edges],
                "y": [float(d) for d in density], "style": style,
                "color": ctx.color(si, name)})
        xs = list(np.linspace(0.0, 2.0 * c, 201)) if c else None
        if c:
            p["series"].append({"kind": "theory", "label": f"quarter circle √(4c²−x²)/(πc²), "
                                                           f"c={c:.4g}",
                                "formula": "sqrt(4c^2 - x^2)/(pi c^2)", "c": c,
                                "x": [float(x) for x in xs],
                                "y": [quarter_circle(x, c) for x in xs], "linestyle": "-"})
        else:
            f2 = [v for cell in cells.values() for v in cell["frob_perp_sq"]]
            if f2:
                ce = math.sqrt(statistics.fmean(f2))
                xs = np.linspace(0.0, 2.0 * ce, 201)
                p["series"].append({
                    "kind": "theory", "label": f"quarter circle with c² = mean ‖A⊥‖²_F = "
                                               f"{ce * ce:.3g} (reference, no theorem)",
                    "formula": "sqrt(4c^2 - x^2)/(pi c^2), c^2 = mean frob_perp_sq", "c": ce,
                    "x": [float(x) for x in xs], "y": [quarter_circle(x, ce) for x in xs],
                    "linestyle": "--"})
        panels.append(p)
    if not panels:
        return f"no full spectra at T = {bulk_T} (--bulk-T)"
    if partial:
        note(f"bulk_histogram: left out {partial} matrices with partial spectra in values.csv")
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    return {"title": "The bulk: singular values of √T·A against the quarter-circle law",
            "panels": panels, "footer": sweep_footer(ctx), "grid": (rows, cols),
            "size": (4.6 * cols + 0.6, 3.9 * rows + 1.0)}


# --- signal propagation (gapbench propagate) ---

# Columns that tell configurations apart besides variant, fix, attention and layernorm: shown in
# the series name only when they differ between rows (T only where it is not the x axis).
PROP_EXTRA = (("input", "{}"), ("law", "{}"), ("beta", "β={:g}"), ("gamma", "γ={:g}"),
              ("sigma_v", "σ_V={:g}"), ("L", "L={:g}"), ("T", "T={:g}"))
PROP_QUANTITY = {"none": "with A: mean ± sd over seeds", "center": "with A⊥: mean ± sd over seeds"}
PROP_STYLE = {"none": ("o", True, "-"), "center": ("D", False, "--")}


def markov_c(row):
    """c of a markov row from its law (model.hpp): exponential 1, uniform 1/sqrt(3), lognormal
    sqrt(exp(beta^2) - 1); None when unknown."""
    law = row.get("law")
    if row.get("attention") != "markov" or not law:
        return None
    if law == "exponential":
        return 1.0
    if law == "uniform":
        return 1 / math.sqrt(3)
    if law == "lognormal" and row.get("beta") is not None:
        return math.sqrt(math.expm1(row["beta"] ** 2))
    return None


def paper_case(row):
    """The setting of PAPER.md's propagation statements: plain, no LayerNorm, markov, isometric
    X0, gamma = 1."""
    return (row.get("variant") == "plain" and not row.get("layernorm")
            and row.get("attention") == "markov" and row.get("input") == "isometric"
            and row.get("gamma") is not None and abs(row["gamma"] - 1) < 1e-9)


class PropContext:
    """What the propagation figures share: configuration names and colours."""

    def __init__(self, props, plt):
        self.props = props
        rows = [r for p in props for r in p.rows]
        self.vary = {key: len({r.get(key) for r in rows}) > 1 for key, _ in PROP_EXTRA}
        self.dk_shown = any(r.get("dk") is not None and r.get("d") is not None
                            and r["dk"] != r["d"] for r in rows)
        self.multi = len(props) > 1
        self.plt = plt
        self.colors = OrderedDict()

    def name(self, row, with_T):
        fix = {"none": "A", "center": "A⊥"}.get(row["fix"], f"fix={row['fix']}")
        parts = [row["variant"], fix, row["attention"]] + (["LayerNorm"] if row["layernorm"]
                                                           else [])
        extra = []
        for key, form in PROP_EXTRA:
            if self.vary[key] and row.get(key) is not None and (key != "T" or with_T):
                if key == "law" and row.get("attention") != "markov":
                    continue
                extra.append(form.format(row[key]))
        if self.dk_shown and row.get("dk") is not None:
            extra.append(f"dk={row['dk']:g}")
        return " · ".join(parts) + (f" ({', '.join(extra)})" if extra else "")

    def label(self, si, name):
        return f"{name} [{self.props[si].label}]" if self.multi else name

    def color(self, si, name):
        if (si, name) not in self.colors:
            self.colors[(si, name)] = None
            keys = list(self.colors)
            cmap = self.plt.get_cmap("tab10" if len(keys) <= 10 else "tab20")
            for i, key in enumerate(keys):
                self.colors[key] = "#%02x%02x%02x" % tuple(int(255 * c)
                                                           for c in cmap(i % cmap.N)[:3])
        return self.colors[(si, name)]


def prop_groups(pctx, predicate, x_key, quantity, with_T):
    """{(set, series): {"rows": first row, "by_x": {x: [values]}}} over the rows passing predicate
    with a finite value of the column quantity."""
    groups = OrderedDict()
    for si, prop in enumerate(pctx.props):
        for row in prop.rows:
            value = row.get(quantity)
            if not predicate(row) or value is None or not math.isfinite(value):
                continue
            g = groups.setdefault((si, pctx.name(row, with_T)),
                                  {"row": row, "by_x": {}, "with_T": with_T})
            g["by_x"].setdefault(row[x_key], []).append(value)
    return groups


def prop_series(pctx, groups, quantity):
    out = []
    for (si, name), g in groups.items():
        row = g["row"]
        xs = sorted(g["by_x"])
        stats = [mean_sd(g["by_x"][x]) for x in xs]
        marker, filled, linestyle = PROP_STYLE.get(row["fix"], ("s", True, ":"))
        out.append({
            "kind": "mean_sd", "label": f"{quantity}: {pctx.label(si, name)}",
            "series_label": pctx.label(si, name),
            "quantity_label": PROP_QUANTITY.get(row["fix"], "mean ± sd over seeds"),
            "set": si, "set_label": pctx.props[si].label, "series": name,
            "variant": row["variant"], "fix": row["fix"], "attention": row["attention"],
            "layernorm": row["layernorm"], "T": row["T"] if g["with_T"] else None,
            "quantity": quantity, "x": xs,
            "y": [m for m, _ in stats], "yerr": [s for _, s in stats],
            "n": [len(g["by_x"][x]) for x in xs], "color": pctx.color(si, name),
            "marker": marker, "filled": filled, "linestyle": linestyle})
    return out


SRANK_LABELS = {"stable_rank": "stable rank ‖X‖²_F / ‖X‖²₂ (dimensionless)",
                "stable_rank4": "stable rank Σσᵢ⁴ / σ₁⁴ (dimensionless)"}


def prop_footer(pctx):
    return [p.footer for p in pctx.props]


def has_column(pctx, column, predicate=lambda r: True):
    return any(r.get(column) is not None and math.isfinite(r[column])
               for p in pctx.props for r in p.rows if predicate(r))


def fig_propagation_depth(pctx):
    pctx.colors = OrderedDict()  # colours are per figure
    if not any(p.rows for p in pctx.props):
        return "the propagate directories have no rows"
    panels = []
    for column, title in (("stable_rank", "‖X_ℓ‖²_F / ‖X_ℓ‖²₂"),
                          ("stable_rank4", "Σσᵢ⁴/σ₁⁴ (the authors' code)")):
        if not has_column(pctx, column):
            note(f"propagation_depth: no {column} values (panel left out)")
            continue
        groups = prop_groups(pctx, lambda r: True, "layer", column, with_T=True)
        panels.append({"title": f"Stable rank {title} against depth",
                       "xlabel": "layer ℓ (0: the input X₀)",
                       "ylabel": SRANK_LABELS[column], "xscale": "linear", "yscale": "log",
                       "integer_x": True, "series": prop_series(pctx, groups, column)})
    return {"title": "Rank collapse in depth: stable rank of X_ℓ per layer, A against A⊥",
            "panels": panels, "footer": prop_footer(pctx),
            "size": (6.0 * len(panels) + 1.0, 4.8), "legend": "figure"}


PROP_THEORY = {  # (column, fix) -> (formula, function of T and c, label, line style)
    ("stable_rank", "center"): ("4T/27", lambda T, c: 4 * T / 27, "srank(A⊥X₀W_V) → 4T/27", ":"),
    ("stable_rank", "none"): ("1 + c^2", lambda T, c: 1 + c * c, "srank(A X₀W_V) → 1 + c²", "--"),
    ("stable_rank4", "center"): ("48T/729", lambda T, c: 48 * T / 729,
                                 "Σσ⁴/σ₁⁴(A⊥X₀W_V) → 48T/729", ":"),
    ("stable_rank4", "none"): ("1", lambda T, c: 1.0, "Σσ⁴/σ₁⁴(A X₀W_V) → 1", "--"),
}


def prop_theory(groups, column, layer):
    """PAPER.md's limits after one layer (plain, no LayerNorm, markov, isometric X0, gamma 1,
    Gaussian W_V), over the T range of the series they apply to."""
    if layer != 1:
        return []
    ranges = OrderedDict()  # (formula, c) -> (lo, hi)
    for g in groups.values():
        row = g["row"]
        if not paper_case(row) or (column, row["fix"]) not in PROP_THEORY:
            continue
        c = markov_c(row) if row["fix"] == "none" else None
        if row["fix"] == "none" and c is None:
            continue
        key = (row["fix"], c)
        lo, hi = ranges.get(key, (math.inf, -math.inf))
        ranges[key] = (min(lo, min(g["by_x"])), max(hi, max(g["by_x"])))
    out = []
    for (fix, c), (lo, hi) in ranges.items():
        formula, fn, label, linestyle = PROP_THEORY[(column, fix)]
        cs = f" (c = {c:.4g})" if c is not None and formula == "1 + c^2" else ""
        xs = log_grid(lo, hi)
        out.append({"kind": "theory", "label": f"theory (PAPER.md): {label}{cs}",
                    "formula": formula, "c": c, "fix": fix, "x": xs,
                    "y": [fn(T, c) for T in xs], "linestyle": linestyle})
    return out


def fig_propagation_width(pctx, layer):
    pctx.colors = OrderedDict()
    at = [r for p in pctx.props for r in p.rows if r["layer"] == layer]
    if not at:
        layers = sorted({r["layer"] for p in pctx.props for r in p.rows})
        return (f"no rows at layer {layer} (--prop-layer; the data have layers "
                f"{', '.join(map(str, layers)) or 'none'})")
    panels = []
    for column, title in (("stable_rank", "‖X‖²_F / ‖X‖²₂"), ("stable_rank4", "Σσᵢ⁴/σ₁⁴")):
        if not has_column(pctx, column, lambda r: r["layer"] == layer):
            continue
        groups = prop_groups(pctx, lambda r: r["layer"] == layer, "T", column, with_T=False)
        p = T_axis(SRANK_LABELS[column], f"Stable rank {title} after {layer} layer(s)")
        p["series"] = prop_series(pctx, groups, column) + prop_theory(groups, column, layer)
        panels.append(p)
    return {"title": f"Rank collapse in width: stable rank of X_{layer} against T, A against A⊥",
            "panels": panels, "footer": prop_footer(pctx),
            "size": (6.0 * len(panels) + 1.0, 4.8), "legend": "figure"}


def least_squares_slope(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return slope, my - slope * mx


def fig_propagation_gradient(pctx, layer):
    pctx.colors = OrderedDict()

    def chosen(r):
        return r["layer"] == layer
    if not has_column(pctx, "log_grad_sq", chosen):
        return (f"no log_grad_sq values at layer {layer} (run gapbench propagate with "
                f"--gradient: linear model only, plain, no LayerNorm, markov)")
    groups = prop_groups(pctx, chosen, "T", "log_grad_sq", with_T=False)
    series = prop_series(pctx, groups, "log_grad_sq")
    for s, g in zip(series, groups.values()):
        row = g["row"]
        slope = intercept = None
        if len(s["x"]) >= 2:
            slope, intercept = least_squares_slope([math.log(T) for T in s["x"]], s["y"])
        paper = ""
        if (paper_case(row) and layer == 1 and row.get("L") == 2
                and row.get("law") == "exponential"):
            paper = {"none": "; PAPER.md: 2", "center": "; PAPER.md: ≈ 1.1"}.get(row["fix"], "")
        s["slope"], s["intercept"] = slope, intercept
        fit = (f"slope {slope:.2f}" if slope is not None else "one T: no slope") + paper
        s["series_label"] = f"{s['series_label']}: {fit}"
        s["label"] = f"log_grad_sq: {s['series_label']}"
    p = T_axis(f"mean ln ‖∂X_L/∂W_{layer}‖²_F over seeds (natural log)",
               f"Gradient norm against T (least-squares slope in ln T)", yscale="linear")
    p["series"] = series
    return {"title": "Gradient explosion: ln ‖∂X_L/∂W_ℓ‖²_F against ln T, with and without "
                     "the fix", "panels": [p], "footer": prop_footer(pctx), "size": (8.0, 5.0),
            "legend": "figure"}


def bench_labels(benches):
    return disambiguate([b.label for b in benches], [b.path for b in benches])


def color_key(info):
    """Benchmark series told apart by colour: all but the precision (told by the line style)."""
    return info["series"].replace(f"/{info['precision']}", "") if info["precision"] else \
        info["series"]


def assign_colors(keys, plt):
    cmap = plt.get_cmap("tab10" if len(keys) <= 10 else "tab20")
    return {k: "#%02x%02x%02x" % tuple(int(255 * c) for c in cmap(i % cmap.N)[:3])
            for i, k in enumerate(keys)}


def fig_throughput(benches, plt):
    if not benches:
        return "no benchmark JSON (--bench)"
    labels = bench_labels(benches)
    multi = len(benches) > 1
    markers = "os^Dv<>p"
    colors = assign_colors(list(OrderedDict.fromkeys(
        (bi, color_key(p["info"])) for bi, b in enumerate(benches) for p in b.points)), plt)
    panels = []
    for counter, ylabel, title in (
            ("matrices_per_s", "throughput (matrices / s)", "Matrices per second"),
            ("pct_of_copy_bw", "bytes moved / copy bandwidth (%)",
             "Fraction of the copy bandwidth")):
        by_series = OrderedDict()
        bad = {"x": [], "y": [], "labels": []}
        for bi, bench in enumerate(benches):
            for p in bench.points:
                T = p["info"]["T"]
                if T is None or counter not in p:
                    continue
                by_series.setdefault((bi, p["info"]["series"]), []).append(p)
        if not by_series:
            continue
        panel = T_axis(ylabel, title)
        for (bi, series), points in by_series.items():
            points.sort(key=lambda q: q["info"]["T"])
            info = points[0]["info"]
            label = info["short"] + (f" [{labels[bi]}]" if multi else "")
            panel["series"].append({
                "kind": "points", "label": label, "bench": bi, "series": series,
                "counter": counter, "x": [q["info"]["T"] for q in points],
                "y": [q[counter] for q in points], "labels": [q["name"] for q in points],
                "from": [q["from"] for q in points],
                "color": colors[(bi, color_key(info))],
                "marker": markers[bi % len(markers)],
                "linestyle": "--" if info["precision"] == "float32" else "-"})
            for q in points:
                if q.get("converged") is not None and q["converged"] < 1:
                    bad["x"].append(q["info"]["T"])
                    bad["y"].append(q[counter])
                    bad["labels"].append(q["name"])
        panel["series"] += ([{"kind": "not_converged", "label": "not converged", **bad}]
                            if bad["x"] else [])
        panels.append(panel)
    if not panels:
        return "no benchmark with T and matrices_per_s or pct_of_copy_bw"
    return {"title": "Throughput against T (median over repetitions)", "panels": panels,
            "footer": [b.footer for b in benches], "size": (13.0, 5.0),
            "legend": "figure"}


def fig_accuracy(benches, plt):
    if not benches:
        return "no benchmark JSON (--bench)"
    labels = bench_labels(benches)
    multi = len(benches) > 1
    markers = "os^Dv<>p"
    chosen = []
    for bi, bench in enumerate(benches):
        for p in bench.points:
            if "rel_err_s2" in p and p["info"]["T"] is not None:
                chosen.append((bi, p))
    if any(p["info"]["family"] == "solve" for _, p in chosen):
        chosen = [(bi, p) for bi, p in chosen if p["info"]["family"] == "solve"]
    if not chosen:
        return "no benchmark with rel_err_s2 (the solve family, T <= 2048)"
    positive = [p["rel_err_s2"] for _, p in chosen if p["rel_err_s2"] > 0]
    floor = 10 ** math.floor(math.log10(min(positive + [1e-16]) / 10))
    by_series = OrderedDict()
    for bi, p in chosen:
        by_series.setdefault((bi, p["info"]["series"]), []).append(p)
    colors = assign_colors(list(OrderedDict.fromkeys((bi, color_key(p["info"]))
                                                     for bi, p in chosen)), plt)
    panel = {"title": "", "xlabel": "time of one solve (s, median)",
             "ylabel": "relative error of s2 against LAPACK float64", "xscale": "log",
             "yscale": "log", "series": []}
    zero = {"x": [], "y": [], "labels": []}
    bad = {"x": [], "y": [], "labels": []}
    for (bi, series), points in by_series.items():
        points.sort(key=lambda q: q["info"]["T"])
        info = points[0]["info"]
        ys = [q["rel_err_s2"] for q in points]
        panel["series"].append({
            "kind": "points", "label": info["short"] + (f" [{labels[bi]}]" if multi else ""),
            "bench": bi, "series": series, "x": [q["real_time_s"] for q in points],
            "y": [y if y > 0 else floor for y in ys], "y_raw": ys,
            "labels": [f"T={q['info']['T']}" for q in points], "annotate": True,
            "color": colors[(bi, color_key(info))], "marker": markers[bi % len(markers)],
            "linestyle": "--" if info["precision"] == "float32" else "-"})
        for q in points:
            if q["rel_err_s2"] <= 0:
                zero["x"].append(q["real_time_s"])
                zero["y"].append(floor)
                zero["labels"].append(q["name"])
            if q.get("converged") is not None and q["converged"] < 1:
                bad["x"].append(q["real_time_s"])
                bad["y"].append(q["rel_err_s2"] if q["rel_err_s2"] > 0 else floor)
                bad["labels"].append(q["name"])
    xs = [x for s in panel["series"] for x in s["x"]]
    for precision, u in UNIT_ROUNDOFF.items():
        if any(p["info"]["precision"] == precision for _, p in chosen):
            panel["series"].append({"kind": "theory", "label": f"{precision} unit roundoff "
                                                               f"{u:.2g}",
                                    "formula": "unit roundoff", "x": [min(xs), max(xs)],
                                    "y": [u, u], "linestyle": ":", "inline": True})
    if zero["x"]:
        panel["series"].append({"kind": "floor", "label": f"error 0 (drawn at {floor:.0e}: "
                                                          f"the reference itself)", **zero})
    if bad["x"]:
        panel["series"].append({"kind": "not_converged", "label": "not converged", **bad})
    return {"title": "Accuracy against time: the cost of each digit (one point per T)",
            "panels": [panel], "footer": [b.footer for b in benches], "size": (9.0, 5.6),
            "legend": "figure"}


def short_bench_name(name):
    info = parse_bench_name(name)
    T = f" T={info['T']}" if info["T"] is not None else ""
    return info["short"] + T


def fig_regression(cmp):
    if cmp is None:
        return "no compare report (--compare)"
    doc = cmp.doc
    bench = doc["benchmarks"]
    if not bench:
        return "the compare report has no common benchmarks"
    threshold = float(doc.get("threshold", 0.05))
    colors = {"regressed": "#d62728", "improved": "#2ca02c", "same": "#9a9a9a"}
    labels, values, verdicts, notes = [], [], [], []
    for b in bench:
        labels.append(short_bench_name(b["name"]))
        values.append(100.0 * b["change"])
        verdicts.append(b["verdict"])
        p = b.get("p_value")
        notes.append(f"p={p:.2g}" if isinstance(p, (int, float)) else
                     f"no U test (n={b.get('n_base', '?')}/{b.get('n_new', '?')})")
    metric = doc.get("metric", "real_time")
    direction = str(doc.get("direction", "")).replace("_", " ")
    v = doc.get("verdict") or {}
    counts = {}
    for key in ("regressed", "improved", "same"):
        entry = v.get(key, verdicts.count(key))
        counts[key] = len(entry) if isinstance(entry, list) else entry  # names, or older counts
    extra = []
    for key, what in (("only_in_base", "only in base"), ("only_in_new", "only in new")):
        if doc.get(key):
            extra.append(f"{what}: {len(doc[key])}")
    if doc.get("skipped"):
        extra.append(f"skipped: {len(doc['skipped'])}")
    panel = {"title": f"{counts['regressed']} regressed, {counts['improved']} improved, "
                      f"{counts['same']} same (threshold ±{100 * threshold:g}%, alpha "
                      f"{doc.get('alpha', '?')})" + (f"; {', '.join(extra)}" if extra else ""),
             "xlabel": f"change of the median {metric}, new vs base (%)"
                       + (f"; {direction}" if direction else ""),
             "ylabel": "benchmark", "xscale": "linear", "yscale": "linear",
             "series": [{"kind": "barh", "label": "change", "labels": labels, "x": values,
                         "y": list(range(len(values))), "verdicts": verdicts, "notes": notes,
                         "colors": [colors[v] for v in verdicts]},
                        {"kind": "vline", "label": f"threshold ±{100 * threshold:g}%",
                         "x": [-100 * threshold, 100 * threshold]}]}
    height = max(3.5, 0.26 * len(values) + 2.2)
    return {"title": f"Performance regression check: {os.path.basename(str(doc.get('new')))} "
                     f"vs {os.path.basename(str(doc.get('base')))}",
            "panels": [panel], "footer": cmp.footers, "size": (10.0, height),
            "verdict_colors": colors}


# ----------------------------------------------------------------------------------------------
# Drawing
# ----------------------------------------------------------------------------------------------

def setup_matplotlib():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
    except ImportError as e:
        fail(f"{e.name or 'matplotlib'} is missing: apt-get install python3-matplotlib "
             f"(for /usr/bin/python3) or pip install -r scripts/requirements-plot.txt")
    matplotlib.rcParams.update({
        "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 7.5,
        "figure.titlesize": 12, "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.6,
        "savefig.bbox": "tight", "svg.hashsalt": "gapbench", "svg.fonttype": "path"})
    return matplotlib, plt, np


def format_log_axis(axis, lo, hi, ticker):
    """Readable ticks on a log axis: plain numbers over a narrow range, powers of ten else."""
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 99
    if decades < 1.3:
        axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 4.0, 5.0,
                                                                 6.0, 8.0)))
    elif decades < 2.6:
        axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    else:
        axis.set_major_formatter(ticker.LogFormatterSciNotation())
        return
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:.4g}"))
    axis.set_minor_formatter(ticker.NullFormatter())


def draw_axis(ax, panel, ticker, spec):
    # scales first: set_*scale resets the tick locators and formatters
    if panel["xscale"] == "log2":
        ax.set_xscale("log", base=2)
    else:
        ax.set_xscale(panel["xscale"])
    ax.set_yscale(panel["yscale"])
    entries = []  # (order, handle, label): data first, then theory, then the marked points
    for s in panel["series"]:
        kind = s["kind"]
        handle = None
        if kind == "mean_sd":
            handle = ax.errorbar(s["x"], s["y"], yerr=s["yerr"], color=s["color"],
                                 marker=s["marker"], ms=4.5,
                                 mfc=s["color"] if s["filled"] else "white", mew=1.1,
                                 capsize=2.5, lw=1.3, ls=s["linestyle"], zorder=3)
        elif kind == "theory":
            inline = s.get("inline")
            line, = ax.plot(s["x"], s["y"], color="black", ls=s["linestyle"], lw=1.0,
                            alpha=0.8, zorder=2)
            handle = None if inline else line
            if inline:
                ax.annotate(s["label"], (s["x"][0], s["y"][0]), textcoords="offset points",
                            xytext=(2, 3), fontsize=7, color="0.2")
        elif kind == "not_converged":
            handle, = ax.plot(s["x"], s["y"], ls="none", marker="x", color="red", ms=8, mew=2,
                              zorder=5)
        elif kind == "floor":
            handle, = ax.plot(s["x"], s["y"], ls="none", marker="v", color="0.3", ms=7,
                              mfc="none", zorder=4)
        elif kind == "points":
            handle, = ax.plot(s["x"], s["y"], color=s["color"], marker=s["marker"], ms=5,
                              lw=1.3, ls=s["linestyle"], zorder=3)
            if s.get("annotate"):
                for x, y, text in zip(s["x"], s["y"], s["labels"]):
                    ax.annotate(text, (x, y), textcoords="offset points", xytext=(4, 4),
                                fontsize=6.5, color=s["color"])
        elif kind == "hist":
            if s["style"] == "filled":
                handle = ax.stairs(s["y"], s["x"], fill=True, color=s["color"], alpha=0.35)
            else:
                handle = ax.stairs(s["y"], s["x"], color=s["color"], lw=1.4)
        elif kind == "barh":
            ax.barh(s["y"], s["x"], color=s["colors"], height=0.7, zorder=3)
            ax.set_yticks(s["y"])
            ax.set_yticklabels(s["labels"], fontsize=7)
            ax.set_ylim(len(s["y"]) - 0.5, -0.5)  # first benchmark on top
            span = max([abs(x) for x in s["x"]] + [1.0])
            for y, x, text in zip(s["y"], s["x"], s["notes"]):
                ax.annotate(f"{x:+.1f}%  {text}", (x, y), textcoords="offset points",
                            xytext=(4 if x >= 0 else -4, 0), ha="left" if x >= 0 else "right",
                            va="center", fontsize=6.5, zorder=4,
                            bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 0.3})
            ax.set_xlim(-span * 1.7, span * 1.7)
            ax.axvline(0, color="black", lw=0.8)
        elif kind == "vline":
            for x in s["x"]:
                handle = ax.axvline(x, color="black", ls="--", lw=0.8)
        if kind == "mean_sd":
            # compact legend: one colour per series, one black marker per quantity
            from matplotlib.lines import Line2D
            entries.append((0, len(entries), Line2D([], [], color=s["color"], lw=2.5),
                            s["series_label"]))
            entries.append((1, len(entries), Line2D(
                [], [], color="black", marker=s["marker"], ms=5, lw=1.2, ls=s["linestyle"],
                mfc="black" if s["filled"] else "white"), s["quantity_label"]))
        elif handle is not None and kind != "barh":
            order = {"theory": 2, "vline": 2, "floor": 3, "not_converged": 4}.get(kind, 0)
            entries.append((order, len(entries), handle, s["label"]))
    entries.sort(key=lambda e: e[:2])
    ax.gapbench_entries = entries
    ax.gapbench_legend = OrderedDict()
    for _, _, handle, label in entries:
        ax.gapbench_legend.setdefault(label, handle)
    if panel["xscale"] == "log2":
        ax.xaxis.set_major_locator(ticker.LogLocator(base=2, numticks=12))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    elif panel["xscale"] == "log":
        format_log_axis(ax.xaxis, *ax.get_xlim(), ticker)
    if panel.get("integer_x"):
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    if panel["yscale"] == "log":
        format_log_axis(ax.yaxis, *ax.get_ylim(), ticker)
    ax.set_xlabel(panel["xlabel"])
    ax.set_ylabel(panel["ylabel"])
    if panel["title"]:
        ax.set_title(panel["title"])
    if any(s["kind"] == "barh" for s in panel["series"]):
        from matplotlib.patches import Patch
        handles = [Patch(color=c) for c in spec["verdict_colors"].values()]
        labels = list(spec["verdict_colors"])
        ax.legend(handles + list(ax.gapbench_legend.values()),
                  labels + list(ax.gapbench_legend), loc="lower right", framealpha=0.9)
        ax.grid(True, axis="x")
        ax.grid(False, axis="y")
    elif spec.get("legend") != "figure":
        n = len(ax.gapbench_legend)
        ax.legend(list(ax.gapbench_legend.values()), list(ax.gapbench_legend),
                  loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2 if n > 4 else 1,
                  frameon=False)


def draw(spec, plt, ticker):
    rows, cols = spec.get("grid", (1, len(spec["panels"])))
    fig, axes = plt.subplots(rows, cols, figsize=spec["size"], squeeze=False)
    flat = [a for row in axes for a in row]
    for ax, panel in zip(flat, spec["panels"]):
        draw_axis(ax, panel, ticker, spec)
    for ax in flat[len(spec["panels"]):]:
        ax.set_visible(False)
    fig.suptitle(spec["title"], fontweight="bold")
    width, height = spec["size"]
    legend_h = 0.0
    if spec.get("legend") == "figure":
        # one legend for all panels, below them, in as many columns as the labels allow
        entries = [(order, pi, i, h, label) for pi, ax in enumerate(flat[:len(spec["panels"])])
                   for order, i, h, label in ax.gapbench_entries]
        handles = OrderedDict()
        for *_, h, label in sorted(entries, key=lambda e: e[:3]):
            handles.setdefault(label, h)
        longest = max([len(label) for label in handles] + [10])
        ncol = int(max(1, min(4, (0.96 * width) // (0.058 * longest + 0.55))))
        n_rows = math.ceil(len(handles) / ncol)
        legend_in = 0.17 * n_rows + 0.2
        height += legend_in  # the legend adds to the figure, the axes keep their size
        fig.set_size_inches(width, height)
        legend_h = legend_in / height
    footer = spec["footer"]
    footer_h = (0.15 * len(footer) + 0.1) / height
    fig.text(0.005, 0.003, "\n".join(footer), fontsize=6.5, color="0.35", va="bottom",
             ha="left")
    fig.tight_layout(rect=(0, footer_h + legend_h, 1, 1))
    if legend_h:
        fig.legend(list(handles.values()), list(handles.keys()), loc="upper center",
                   ncol=ncol, bbox_to_anchor=(0.5, footer_h + legend_h),
                   bbox_transform=fig.transFigure, frameon=False, columnspacing=1.5)
    return fig


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def jsonable(x):
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if hasattr(x, "item"):  # numpy scalars
        return jsonable(x.item())
    return x


# ----------------------------------------------------------------------------------------------

def main(argv=None):
    parser = Parser(prog="plot.py", description=" ".join(__doc__.splitlines()[:2]),
                    formatter_class=argparse.RawDescriptionHelpFormatter,
                    epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("dirs", nargs="*", metavar="SWEEP_DIR",
                        help="sweep or propagate directories (rows.csv, meta.json; values.csv "
                             "optional)")
    parser.add_argument("--bench", action="append", default=[], metavar="BENCH.json",
                        help="Google Benchmark JSON of gapbench_bench (repeatable)")
    parser.add_argument("--compare", metavar="COMPARE.json",
                        help="a gapbench compare --json report")
    parser.add_argument("--out", help="where to write the figures (default: the first sweep "
                                      "directory, else the directory of the first JSON file)")
    parser.add_argument("--formats", default="png,svg", help="comma list of png, svg, pdf")
    parser.add_argument("--dump-data", metavar="FILE.json",
                        help="write the data series of every figure drawn as JSON")
    parser.add_argument("--only", metavar="NAMES",
                        help=f"comma list of figures to draw (of {', '.join(FIGURES)})")
    parser.add_argument("--bulk-T", type=int, metavar="T",
                        help="bulk_histogram: this T (default the largest with full spectra)")
    parser.add_argument("--prop-layer", type=int, default=1, metavar="N",
                        help="propagation_width: the stable rank after N layers (default 1)")
    parser.add_argument("--grad-layer", type=int, default=1, metavar="L",
                        help="propagation_gradient: the gradient for W_L (default 1)")
    args = parser.parse_args(argv)

    if not args.dirs and not args.bench and not args.compare:
        fail("nothing to plot: give sweep directories, --bench or --compare (see --help)")
    formats = [f.strip().lower() for f in args.formats.split(",") if f.strip()]
    if not formats or any(f not in FORMATS for f in formats):
        fail(f"--formats {args.formats!r}: choose from {', '.join(FORMATS)}")
    if args.prop_layer < 0:
        fail(f"--prop-layer {args.prop_layer}: give a layer >= 0")
    if args.grad_layer < 1:
        fail(f"--grad-layer {args.grad_layer}: give a layer >= 1")
    wanted = list(FIGURES)
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in FIGURES]
        if unknown or not wanted:
            fail(f"--only: unknown figure(s) {', '.join(unknown) or '(none)'}; choose from "
                 f"{', '.join(FIGURES)}")

    # Every input is read and checked before anything is drawn or written.
    try:
        loaded = [load_dir(d, need_values="bulk_histogram" in wanted) for d in args.dirs]
        benches = [Bench(p) for p in args.bench]
        cmp = Compare(args.compare) if args.compare else None
    except InputError as e:
        fail(str(e))
    _, plt, np = setup_matplotlib()
    import matplotlib.ticker as ticker
    for s, label in zip(loaded, disambiguate([s.label for s in loaded], [s.dir for s in loaded])):
        s.label = label
    sweeps = [s for s in loaded if isinstance(s, Sweep)]
    props = [s for s in loaded if isinstance(s, Propagate)]
    for bench in benches:
        for name, why in bench.left_out:
            note(f"{os.path.basename(bench.path)}: left out {name}: {why}")

    ctx = Context(sweeps, plt) if sweeps else None
    pctx = PropContext(props, plt) if props else None
    no_sweep = "no sweep directory" + (" (only propagate directories)" if props else "")
    builders = {
        "gap_vs_T": lambda: fig_gap_vs_T(ctx) if ctx else no_sweep,
        "ratio_vs_T": lambda: fig_ratio_vs_T(ctx) if ctx else no_sweep,
        "fix_and_stable_rank": lambda: fig_fix_and_stable_rank(ctx) if ctx else
        no_sweep,
        "bulk_histogram": lambda: fig_bulk_histogram(ctx, np, args.bulk_T) if ctx else
        no_sweep,
        "solver_error_vs_T": lambda: fig_solver_error_vs_T(ctx) if ctx else no_sweep,
        "throughput_vs_T": lambda: fig_throughput(benches, plt),
        "accuracy_vs_time": lambda: fig_accuracy(benches, plt),
        "regression": lambda: fig_regression(cmp),
        "propagation_depth": lambda: fig_propagation_depth(pctx) if pctx else
        "no propagate directory (gapbench propagate --out DIR)",
        "propagation_width": lambda: fig_propagation_width(pctx, args.prop_layer) if pctx else
        "no propagate directory (gapbench propagate --out DIR)",
        "propagation_gradient": lambda: fig_propagation_gradient(pctx, args.grad_layer)
        if pctx else "no propagate directory (gapbench propagate --out DIR --gradient)",
    }
    specs = OrderedDict()
    skipped = OrderedDict()
    for name in wanted:
        result = builders[name]()
        if isinstance(result, str):
            skipped[name] = result
            note(f"skipped {name}: {result}")
        else:
            result["name"] = name
            specs[name] = result
    if not specs:
        fail("no figure has data: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))

    out = args.out or (args.dirs[0] if args.dirs else
                       os.path.dirname(os.path.abspath((args.bench or [args.compare])[0])))
    try:
        os.makedirs(out, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".plot-", dir=out)
    except OSError as e:
        fail(f"--out {out}: cannot write there: {e}")
    written, dump_tmp = [], None
    try:
        for name, spec in specs.items():
            fig = draw(spec, plt, ticker)
            for ext in formats:
                fig.savefig(os.path.join(tmp, f"{name}.{ext}"), dpi=150,
                            metadata={"Date": None} if ext == "svg" else None)
            plt.close(fig)
        if args.dump_data:
            dump = {"schema": "gapbench.plot-data/1",
                    "inputs": {"sweeps": [{"dir": s.dir, "label": s.label, "device": s.device,
                                           "commit": s.commit, "started": s.started,
                                           "rows": len(s.rows)} for s in sweeps],
                               "propagate": [{"dir": p.dir, "label": p.label,
                                              "device": p.device, "backend": p.backend,
                                              "commit": p.commit, "started": p.started,
                                              "rows": len(p.rows)} for p in props],
                               "bench": [{"path": b.path, "label": b.label, "commit": b.commit,
                                          "date": b.date} for b in benches],
                               "compare": args.compare},
                    "figures": {k: {"title": v["title"], "footer": v["footer"],
                                    "panels": v["panels"]} for k, v in specs.items()},
                    "skipped": skipped}
            dump_dir = os.path.dirname(os.path.abspath(args.dump_data))
            os.makedirs(dump_dir, exist_ok=True)
            fd, dump_tmp = tempfile.mkstemp(prefix=".plot-dump-", dir=dump_dir)
            os.fchmod(fd, 0o666 & ~current_umask())
            with os.fdopen(fd, "w") as f:
                json.dump(jsonable(dump), f, indent=1, allow_nan=False)
                f.write("\n")
        for name in specs:
            for ext in formats:
                final = os.path.join(out, f"{name}.{ext}")
                os.replace(os.path.join(tmp, f"{name}.{ext}"), final)
                written.append(final)
        if dump_tmp:
            os.replace(dump_tmp, args.dump_data)
    except Exception as e:  # a bug or a full disk: nothing half-written is left behind
        shutil.rmtree(tmp, ignore_errors=True)
        if dump_tmp and os.path.exists(dump_tmp):
            os.remove(dump_tmp)
        fail(f"drawing failed: {type(e).__name__}: {e}")
    shutil.rmtree(tmp, ignore_errors=True)
    for path in written:
        note(f"wrote {path}")
    if args.dump_data:
        note(f"wrote {args.dump_data}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
