"""Reading the JSON of benchmarks: Google Benchmark files of gapbench_bench (Bench: the median
counters and time of each run) and `gapbench compare --json` reports (Compare), with the
names of Google Benchmark split into the fields that tell series apart (parse_bench_name)."""
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
