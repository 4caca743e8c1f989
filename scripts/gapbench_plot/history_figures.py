"""The figure of the performance history, history: from `gapbench history show REGEX --format
json` (bench_readers.History), one panel per series (a benchmark on a device) of its metric
against the commit: every repetition as small points, the median of each run as a line, dirty
and throttled runs circled, and each change point as a dashed line between the runs on either
side of it, annotated with the change and its interval. fig_history returns a figure spec, or a
string that says why the figure is skipped."""
import math
import os
import re
import statistics
from collections import OrderedDict
from datetime import datetime, timezone

from .messages import note

MAX_PANELS = 12
DATA_COLOR = "#1f77b4"
FLAGS = (("dirty", "o", "#ff7f0e", "dirty run (uncommitted changes)"),
         ("throttled", "s", "#9467bd", "throttled run"))
CHANGE_LOOKS = OrderedDict((("regression", ("#d62728", "regression (change point)")),
                            ("improvement", ("#2ca02c", "improvement (change point)")),
                            ("acknowledged", ("#8c8c8c", "acknowledged change point"))))
# (times below, unit, factor): a typical time shown as a number from 1 to 1000
TIME_SCALES = ((1e-6, "ns", 1e9), (1e-3, "µs", 1e6), (1.0, "ms", 1e3), (math.inf, "s", 1.0))


def time_scale(seconds):
    """(unit, factor) that show the time `seconds` as a number from 1 to 1000 (s past that)."""
    if not seconds > 0:
        return "s", 1.0
    return next((unit, factor) for below, unit, factor in TIME_SCALES if seconds < below)


# Google Benchmark's run settings in a name (min_time, repetitions, iterations, manual or real time):
# the same for every run of a series, and what would push its parameters (T, k) out of a title.
RUN_SETTINGS = re.compile(r"/(?:min_time:[^/]*|repeats:\d+|iterations:\d+|manual_time|real_time"
                          r"|process_time|threads:\d+)(?=/|$)")


def shorten(name, width):
    """name without Google Benchmark's run settings, and then its head and tail around an
    ellipsis when it is longer than width."""
    name = RUN_SETTINGS.sub("", name) or name
    if len(name) <= width:
        return name
    head = (width - 1) * 2 // 5
    return name[:head] + "…" + name[len(name) - (width - 1 - head):]


def percent(x):
    return f"{100 * x:+.1f}"


def change_text(c):
    """The annotation of a change point: the change in % and its interval, when it has one."""
    text = f"{percent(c['change'])}%"
    if c["low"] is not None and c["high"] is not None:
        text += f" [{percent(c['low'])}, {percent(c['high'])}]"
    return text


def commit_ticks(points, most):
    """Tick positions and labels (short commits), at most `most` of them, evenly spaced from
    the last run (the newest commit is always labelled; the first when not too near)."""
    n = len(points)
    step = max(1, math.ceil((n - 1) / max(1, most - 1)))
    ticks = list(range(n - 1, -1, -step))[::-1]
    if ticks[0] != 0 and ticks[0] * 4 >= step * 3:
        ticks.insert(0, 0)
    return ticks, [points[i]["commit"][:7] for i in ticks]


def history_panel(history, s, cols, multi_device):
    points = s["points"]
    if history.unit == "s":
        unit, factor = time_scale(statistics.median(p["median"] for p in points))
    else:
        unit, factor = history.unit, 1.0
    direction = history.direction.replace("_", " ")
    vx, vy = [], []
    for i, p in enumerate(points):
        vx += [i] * len(p["values"])
        vy += [v * factor for v in p["values"]]
    medians = [p["median"] * factor for p in points]
    series = [
        {"kind": "history_values", "label": "every repetition", "x": vx, "y": vy,
         "color": DATA_COLOR},
        {"kind": "history_median", "label": "median of each run", "x": list(range(len(points))),
         "y": medians, "y_raw": [p["median"] for p in points],
         "commits": [p["commit"] for p in points], "run_ids": [p["run_id"] for p in points],
         "color": DATA_COLOR}]
    for flag, marker, color, label in FLAGS:
        idx = [i for i, p in enumerate(points) if p[flag]]
        if idx:
            series.append({"kind": "history_flagged", "label": label, "flag": flag, "x": idx,
                           "y": [medians[i] for i in idx],
                           "commits": [points[i]["commit"] for i in idx],
                           "marker": marker, "color": color})
    for c in s["changes"]:
        color, label = CHANGE_LOOKS["acknowledged" if c["acknowledged"] else c["kind"]]
        series.append({"kind": "change", "label": label, "x": [c["index"] - 0.5],
                       "change_kind": c["kind"], "color": color, "text": change_text(c),
                       **{k: c[k] for k in ("index", "commit", "previous_commit", "before",
                                            "after", "change", "low", "high", "p_value",
                                            "acknowledged")}})
    lo, hi = min(vy + medians), max(vy + medians)
    span = (hi - lo) or (abs(hi) * 0.1 or 1.0)
    headroom = 0.35 if s["changes"] else 0.1  # room for the annotations of the change points
    ticks, labels = commit_ticks(points, 14 if cols == 1 else 10)
    title = shorten(s["benchmark"], 90 if cols == 1 else 62)  # 8.5 or 5.6 in wide
    if multi_device:
        title += f"\n{s['device']}"
    return {"title": title, "xlabel": "commit (runs in commit order)",
            "ylabel": f"{history.metric}" + (f" ({unit})" if unit else "") + f", {direction}",
            "xscale": "linear", "yscale": "linear", "benchmark": s["benchmark"],
            "device": s["device"], "fingerprint": s["fingerprint"], "unit": unit,
            "scale": factor, "xlim": [-0.5, len(points) - 0.5],
            "ylim": [lo - 0.08 * span, hi + headroom * span], "xticks": ticks,
            "xticklabels": labels, "series": series}


def parsed_date(text):
    try:
        d = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def commit_range(series):
    """The first and the last point over the series by commit date (those of the first series
    when a date is missing or malformed)."""
    firsts = [s["points"][0] for s in series]
    lasts = [s["points"][-1] for s in series]
    if all(parsed_date(p["commit_date"]) for p in firsts + lasts):
        return (min(firsts, key=lambda p: parsed_date(p["commit_date"])),
                max(lasts, key=lambda p: parsed_date(p["commit_date"])))
    return firsts[0], lasts[0]


def history_footer(histories, entries):
    lines = []
    for h in histories:
        unit = f" in {h.unit}" if h.unit else " (a counter)"
        lines.append(f"history {os.path.normpath(h.path)}: {h.metric}{unit}, "
                     f"{h.direction.replace('_', ' ')}, {len(h.series)} series")
    devices = OrderedDict()
    for _, s in entries:
        devices.setdefault((s["device"], s["fingerprint"]), []).append(s)
    for (key, fingerprint), series in devices.items():
        description = next((s["device_description"] for s in series
                            if s["device_description"]), "")
        first, last = commit_range(series)
        lines.append(f"device {key}" + (f" ({fingerprint})" if fingerprint else "")
                     + (f": {description}" if description else "")
                     + f"; commits {first['commit']}..{last['commit']} "
                       f"({first['commit_date'] or '?'} .. {last['commit_date'] or '?'}), "
                       f"{sum(len(s['points']) for s in series)} runs")
    return lines


def fig_history(histories):
    if not histories:
        return "no history report (--history: gapbench history show REGEX --format json)"
    entries = [(h, s) for h in histories for s in h.series]
    total = len(entries)
    if total > MAX_PANELS:
        note(f"history: drawing the first {MAX_PANELS} of {total} series (narrow the REGEX of "
             f"gapbench history show for the others)")
        entries = entries[:MAX_PANELS]
    cols = 1 if len(entries) == 1 else 2 if len(entries) <= 4 else 3
    rows = math.ceil(len(entries) / cols)
    multi_device = len({(s["device"], s["fingerprint"]) for _, s in entries}) > 1
    panels = [history_panel(h, s, cols, multi_device) for h, s in entries]
    metrics = OrderedDict.fromkeys(f"{h.metric} ({h.direction.replace('_', ' ')})"
                                   for h in histories)
    title = f"Performance history: {'; '.join(metrics)} per commit"
    if total > MAX_PANELS:
        title += f" (the first {MAX_PANELS} of {total} series)"
    return {"title": title, "panels": panels, "footer": history_footer(histories, entries),
            "grid": (rows, cols), "size": (8.5 if cols == 1 else 5.6 * cols, 3.6 * rows + 0.5),
            "legend": "figure", "title_in": 0.07 * (rows - 1)}
