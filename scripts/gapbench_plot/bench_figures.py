"""The figures of benchmark JSON: throughput_vs_T and accuracy_vs_time (Google Benchmark files
of gapbench_bench) and regression (a `gapbench compare --json` report). Each fig_* returns a
figure spec, or a string that says why the figure is skipped."""
import math
import os
from collections import OrderedDict

from .bench_readers import parse_bench_name
from .figure_data import T_axis, assign_colors
from .readers import disambiguate

UNIT_ROUNDOFF = {"float64": 2.0 ** -53, "float32": 2.0 ** -24}


def bench_labels(benches):
    return disambiguate([b.label for b in benches], [b.path for b in benches])


def color_key(info):
    """Benchmark series told apart by colour: all but the precision (told by the line style)."""
    return info["series"].replace(f"/{info['precision']}", "") if info["precision"] else \
        info["series"]


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
