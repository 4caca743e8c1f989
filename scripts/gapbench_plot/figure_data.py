"""The pieces the figure builders share. A figure is a spec of plain data (panels of series:
what --dump-data writes, and exactly what render.draw draws): here are the statistics and the
axis spec every builder uses, and the series of the sweep figures (Context: names and colours
over the sweeps; rows grouped by T; mean +- sd series; theory lines; the marked points)."""
import math
import statistics
from collections import OrderedDict

NOT_CONVERGED_LABEL = "not converged (left out of means)"


def mean_sd(values):
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, sd


def fmt_num(x):
    return f"{x:g}"


def assign_colors(keys, plt):
    """{key: "#rrggbb"} in the order of keys: tab10, or tab20 past ten keys (cycled past 20)."""
    cmap = plt.get_cmap("tab10" if len(keys) <= 10 else "tab20")
    return {k: "#%02x%02x%02x" % tuple(int(255 * c) for c in cmap(i % cmap.N)[:3])
            for i, k in enumerate(keys)}


def series_key(row):
    model = row["model"]
    if model == "markov":
        label = f"markov {row.get('law') or '?'}"
        if row.get("beta") is not None:  # written only for laws that take it (lognormal, gamma)
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
        keys = OrderedDict()
        for si, s in enumerate(sweeps):
            for r in s.rows:
                keys.setdefault((si, self.name(r)), None)
        self.keys = assign_colors(list(keys), plt)

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


def level_line(Ts, label, y=1.0):
    """A dashed theory line at height y across the T range Ts."""
    return {"kind": "theory", "label": label, "formula": f"{y:g}", "x": [min(Ts), max(Ts)],
            "y": [y, y], "linestyle": "--"}


def ratio_to_one_panel(ctx, quantity, ylabel, title, none_label, center_label, relabel=None):
    """A panel of `quantity` (an edge over its theory, -> 1) against T for fix none (filled
    circles) and center (open diamonds, dashed), the line at 1 and the rows that did not
    converge; None without such rows. relabel(none_series, center_series) may rename them."""
    gn = group_rows(ctx, is_none, quantity)
    gc = group_rows(ctx, is_center, quantity)
    if not (gn or gc):
        return None
    p = T_axis(ylabel, title, yscale="linear")
    sn, bn = stat_series(ctx, gn, none_label, "none", "o")
    sc, bc = stat_series(ctx, gc, center_label, "center", "D", filled=False, linestyle="--")
    if relabel:
        relabel(sn, sc)
    Ts = [T for grp in (gn, gc) for by_T in grp.values() for T in by_T]
    p["series"] = sn + sc + [level_line(Ts, "theory → 1")] + not_converged_series([bn, bc])
    return p


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
