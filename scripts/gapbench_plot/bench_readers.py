"""Reading the JSON of benchmarks: Google Benchmark files of gapbench_bench (Bench: the median
counters and time of each run), `gapbench compare --json` reports (Compare) and the performance
history of `gapbench history show REGEX --format json` (History), with the names of Google
Benchmark split into the fields that tell series apart (parse_bench_name)."""
import json
import math
import os
import statistics
from collections import OrderedDict

from .messages import InputError
from .readers import read_json, short_commit

TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
# Name segments of Google Benchmark that do not tell series apart.
BENCH_NOISE_KEYS = {"T", "repeats", "iterations", "min_time", "threads", "min_warmup_time"}
BENCH_TIME_WORDS = {"manual_time", "real_time", "process_time"}


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



HISTORY_SCHEMA = "gapbench.history.show/1"
HISTORY_HOW = "give the output of `gapbench history show REGEX --format json`"
HISTORY_DIRECTIONS = ("lower_is_better", "higher_is_better")
HISTORY_CHANGE_KINDS = ("regression", "improvement")
REQUIRED = object()  # a field without a default


def is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def is_integer(x):
    return isinstance(x, int) and not isinstance(x, bool)


def is_text(x):
    return isinstance(x, str) and x != ""


def is_str(x):
    return isinstance(x, str)


def is_str_or_null(x):
    return x is None or isinstance(x, str)


def is_bool(x):
    return isinstance(x, bool)


def is_list(x):
    return isinstance(x, list)


def is_values(x):
    return isinstance(x, list) and len(x) > 0 and all(map(is_number, x))


class History:
    """One `gapbench history show REGEX --format json` report (schema gapbench.history.show/1):
    the metric, its unit ("s": seconds; "": a counter) and direction, and per series (benchmark
    and device) the runs in commit order (points: every repetition and their median, the commit
    and its date, dirty and throttled) and the change points found in them (changes: index is
    the first point after the change). Every field the figure reads is checked here: a missing
    or mistyped one is an InputError naming the file and the field; optional ones (run_id, the
    dates, fingerprint, device_description, dirty, throttled, acknowledged, low, high, p_value,
    changes) may be absent or null."""

    def __init__(self, path):
        self.path = path
        doc = read_json(path, "gapbench history show --format json")

        def bad(where, what):
            raise InputError(f"{path}: {where}{what}; {HISTORY_HOW}")

        def field(obj, where, key, check, what, default=REQUIRED):
            if default is not REQUIRED and obj.get(key) is None:
                return default
            if key not in obj:
                bad(where, f"{key} is missing (expected {what})")
            if not check(obj[key]):
                bad(where, f"{key} is {json.dumps(obj[key])[:40]} (expected {what})")
            return obj[key]

        def obj_at(value, where):
            if not isinstance(value, dict):
                bad(where, "not a JSON object")
            return value

        obj_at(doc, "")
        schema = doc.get("schema")
        if schema != HISTORY_SCHEMA:
            newer = isinstance(schema, str) and schema.startswith("gapbench.history.show/")
            bad("", f"schema {json.dumps(schema)[:60]} is not {HISTORY_SCHEMA}"
                    + (" (another version: update scripts/gapbench_plot)" if newer else ""))
        self.metric = field(doc, "", "metric", is_text, "a metric name")
        self.unit = field(doc, "", "unit", is_str, '"s" for times, "" for counters')
        self.direction = field(doc, "", "direction", lambda v: v in HISTORY_DIRECTIONS,
                               " or ".join(HISTORY_DIRECTIONS))
        series = field(doc, "", "series", is_list, "a list")
        if not series:
            raise InputError(f"{path}: no series: no benchmark of the history matches the "
                             f"REGEX given to gapbench history show (widen it, or record runs "
                             f"with gapbench history first)")
        self.series = []
        for si, s in enumerate(series):
            where = f"series[{si}]: "
            obj_at(s, where)
            benchmark = field(s, where, "benchmark", is_text, "a benchmark name")
            where = f"series[{si}] ({benchmark}): "
            entry = {
                "benchmark": benchmark,
                "device": field(s, where, "device", is_text, "a device key"),
                "fingerprint": field(s, where, "fingerprint", is_str, "a hex string", ""),
                "device_description": field(s, where, "device_description", is_str,
                                            "a string", ""),
                "points": [], "changes": []}
            points = field(s, where, "points", is_list, "a list of runs")
            if not points:
                raise InputError(f"{path}: {where}no points (a series holds one run at "
                                 f"least); {HISTORY_HOW}")
            for pi, p in enumerate(points):
                at = f"{where}points[{pi}]: "
                obj_at(p, at)
                entry["points"].append({
                    "run_id": field(p, at, "run_id", is_integer, "an integer", None),
                    "commit": field(p, at, "commit", is_text, "a commit hash"),
                    "commit_date": field(p, at, "commit_date", is_str, "an ISO 8601 date", ""),
                    "run_date": field(p, at, "run_date", is_str, "an ISO 8601 date", ""),
                    "dirty": field(p, at, "dirty", is_bool, "true or false", False),
                    "throttled": field(p, at, "throttled", is_bool, "true or false", False),
                    "values": [float(v) for v in field(
                        p, at, "values", is_values,
                        "a non-empty list of finite numbers: every repetition")],
                    "median": float(field(p, at, "median", is_number,
                                          "a finite number: the median of values"))})
            n = len(points)
            for ci, c in enumerate(field(s, where, "changes", is_list, "a list", [])):
                at = f"{where}changes[{ci}]: "
                obj_at(c, at)
                entry["changes"].append({
                    "index": field(c, at, "index", lambda v: is_integer(v) and 0 < v < n,
                                   f"the index of the first point after the change: 1 to "
                                   f"{n - 1}"),
                    "commit": field(c, at, "commit", is_str, "a commit hash", ""),
                    "previous_commit": field(c, at, "previous_commit", is_str, "a commit hash",
                                             ""),
                    "before": float(field(c, at, "before", is_number, "a finite number")),
                    "after": float(field(c, at, "after", is_number, "a finite number")),
                    "change": float(field(c, at, "change", is_number,
                                          "a finite number: after / before - 1")),
                    "low": field(c, at, "low", is_number, "a finite number or null", None),
                    "high": field(c, at, "high", is_number, "a finite number or null", None),
                    "p_value": field(c, at, "p_value", is_number, "a number or null", None),
                    "kind": field(c, at, "kind", lambda v: v in HISTORY_CHANGE_KINDS,
                                  " or ".join(HISTORY_CHANGE_KINDS)),
                    "acknowledged": field(c, at, "acknowledged", is_bool, "true or false",
                                          False)})
            self.series.append(entry)
