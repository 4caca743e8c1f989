"""The figures of the eigen rows of gapbench sweep directories (schema gapbench.sweep/4, issue
16): eigen_gap_vs_T (|λ1| and |λ2| against T, per fix, with the circular law c/√T) and
eigen_scatter (the eigenvalues in the complex plane, with the circle of radius c/√T and the
outlier 1). Each fig_* takes a Context over the sweeps' eigen views (Sweep.eigen_view: rows =
the eigen rows, values = their eigenvalues) and returns a figure spec, or a string that says
why the figure is skipped.

A row-stochastic A has the eigenvalue 1 (A·1 = 1); its other eigenvalues fill a disc of radius
about c/√T (c = σ/μ of the markov entries). Fix center (A⊥ = A − (1/T)·11ᵀ) moves the outlier
to 0 and keeps the rest (Brauer), so its λ1 falls into the disc; fix deflate removes s1·u1·v1ᵀ
instead."""
import math
from collections import OrderedDict

from .figure_data import (T_axis, c_of, group_rows, level_line, not_converged_series,
                          ratio_to_one_panel, stat_series, sweep_footer, theory_lines)
from .readers import eigenvalues_of

# fix -> (the matrix analysed, line style, colour in eigen_scatter, marker in eigen_scatter)
FIX_STYLE = OrderedDict([
    ("none", ("A", "-", "#1f77b4", "o")),
    ("center", ("A⊥", "--", "#ff7f0e", "D")),
    ("deflate", ("A − s1·u1·v1ᵀ", "-.", "#2ca02c", "^")),
])
OTHER_STYLE = ("{fix}", ":", "#7f7f7f", "v")  # a fix this module does not know yet
SCATTER_PANELS_PER_SERIES = 4  # T values drawn per series in eigen_scatter, spread over the range
NEAR_ONE = 1e-3  # |z - 1| below this: the outlier 1 (left out when the axes zoom on the bulk)


def fix_style(fix):
    what, linestyle, color, marker = FIX_STYLE.get(fix, OTHER_STYLE)
    return what.format(fix=fix), linestyle, color, marker


def fixes_of(ctx):
    """The fixes of the eigen rows: those of FIX_STYLE first, in its order, then any other."""
    present = {r["fix"] for s in ctx.sweeps for r in s.rows}
    return [f for f in FIX_STYLE if f in present] + sorted(present - set(FIX_STYLE))


def abs_lambda1(r):
    if r.get("lambda1_re") is None:
        return None
    return abs(complex(r["lambda1_re"], r.get("lambda1_im") or 0.0))


def abs_lambda2(r):
    """|λ2|: the column abs_lambda2, else the modulus of the second eigenvalue of the row."""
    if r.get("abs_lambda2") is not None:
        return r["abs_lambda2"]
    zs = eigenvalues_of(r)
    return abs(zs[1]) if len(zs) > 1 else None


def by_fix(s, fix, quantity_label):
    """A mean_sd series of a figure with one model: coloured by its fix (the legend then reads
    one colour per fix, one marker per quantity)."""
    what, _, color, _ = fix_style(fix)
    s.update(color=color, series_label=f"fix {fix}: {what}", quantity_label=quantity_label,
             legend_linestyle="none")


def merged_groups(*groups):
    """group_rows results merged: the T of every quantity, per (set, series)."""
    out = OrderedDict()
    for g in groups:
        for key, by_T in g.items():
            merged = out.setdefault(key, {})
            for T, cell in by_T.items():
                merged.setdefault(T, cell)
    return out


def fig_eigen_gap_vs_T(ctx):
    rows = [r for s in ctx.sweeps for r in s.rows]
    if not rows:
        return "no eigen rows (gapbench sweep --spectrum eigen, schema gapbench.sweep/4)"
    panel = T_axis("|eigenvalue| (dimensionless)",
                   "|λ1| and |λ2| per fix: mean ± sd over seeds")
    series, bads, all_groups, none_l1 = [], [], [], None
    one_series = len({(si, ctx.name(r)) for si, s in enumerate(ctx.sweeps) for r in s.rows}) == 1
    for fix in fixes_of(ctx):
        what, linestyle, _, _ = fix_style(fix)
        g1 = group_rows(ctx, lambda r, fix=fix: r["fix"] == fix, abs_lambda1)
        g2 = group_rows(ctx, lambda r, fix=fix: r["fix"] == fix, abs_lambda2)
        s1, b1 = stat_series(ctx, g1, f"|λ1({what})| (fix {fix})", fix, "o",
                             linestyle=linestyle)
        s2, b2 = stat_series(ctx, g2, f"|λ2({what})| (fix {fix})", fix, "s", filled=False,
                             linestyle=linestyle)
        for s, eigen in [(s, "abs_lambda1") for s in s1] + [(s, "abs_lambda2") for s in s2]:
            s["eigen"] = eigen
            if one_series:
                by_fix(s, fix, "|λ1|" if eigen == "abs_lambda1" else "|λ2|")
        series += s1 + s2
        bads += [b1, b2]
        all_groups += [g1, g2]
        if fix == "none":
            none_l1 = g1
    theory = theory_lines(ctx, merged_groups(*all_groups), "c/sqrt(T)",
                          lambda T, c: c / math.sqrt(T), "theory: circular law c/√T", ":", set())
    if none_l1:
        Ts = [T for by_T in none_l1.values() for T in by_T]
        theory.append(level_line(Ts, "λ1(A) = 1 (A·1 = 1)"))
    panel["series"] = series + theory
    panels = [panel]

    def relabel(sn, sc):
        if one_series:
            for s in sn:
                by_fix(s, "none", "√T·|λ2(A)|/c")
            for s in sc:
                by_fix(s, "center", "√T·|λ1(A⊥)|/c")
    p = ratio_to_one_panel(ctx, "eigen_edge_ratio", "√T · |λ_edge| / c (dimensionless)",
                           "How close to the circular law: the edge over c/√T", "√T·|λ2(A)|/c",
                           "√T·|λ1(A⊥)|/c", relabel)
    if p:
        panels.append(p)
    panel["series"] += not_converged_series(bads)
    if not series:
        return "no eigen rows with λ1"
    return {"title": "Eigenvalues of random attention matrices: the outlier λ1 and the bulk "
                     "|λ2| against T",
            "panels": panels, "footer": sweep_footer(ctx),
            "size": (6.5 * len(panels) + 1.5, 5.0), "legend": "figure"}


def spread(values, n):
    """At most n of the sorted values, spread over the range (always the first and last)."""
    values = sorted(values)
    if len(values) <= n:
        return values
    picks = sorted({round(i * (len(values) - 1) / (n - 1)) for i in range(n)})
    return [values[i] for i in picks]


def bulk_limit(zs, radius):
    """Half the side of the square axes of one eigen_scatter panel: the bulk (every value but the
    outlier 1) and the circle, with the point 1 inside when it is not far out; else the axes
    zoom on the bulk and render points an arrow to 1."""
    bulk = max([abs(z) for z in zs if abs(z - 1) > NEAR_ONE] + [radius or 0.0])
    if bulk == 0.0:
        return 1.15
    return max(1.15, 1.15 * bulk) if bulk >= 0.4 else 1.15 * bulk


def fig_eigen_scatter(ctx):
    # (set, series) -> T -> fix -> the eigenvalues of its converged rows and where they came from
    data = OrderedDict()
    for si, view in enumerate(ctx.sweeps):
        for row in view.rows:
            cell = data.setdefault((si, ctx.name(row)), {}).setdefault(row["T"], {}).setdefault(
                row["fix"], {"z": [], "matrices": 0, "values_csv": 0, "rows_csv": 0, "bad": 0,
                             "k": set()})
            if not row["ok"]:
                cell["bad"] += 1
                continue
            vals = view.values.get((int(row["point"]), int(row["index"]))) if view.values \
                else None
            if vals:
                zs = [z for _, z in sorted(vals, key=lambda v: v[0])]
                cell["values_csv"] += 1
            else:
                zs = eigenvalues_of(row)
                cell["rows_csv"] += 1
            cell["z"] += zs
            cell["k"].add(len(zs))
            cell["matrices"] += 1
    if not data:
        return "no eigen rows (gapbench sweep --spectrum eigen, schema gapbench.sweep/4)"
    panels = []
    cols = 1
    for (si, name), by_T in data.items():
        Ts = spread([T for T in by_T if any(c["matrices"] for c in by_T[T].values())],
                    SCATTER_PANELS_PER_SERIES)
        cols = max(cols, len(Ts))
        c = c_of(ctx, si, name)
        for T in Ts:
            cells = by_T[T]
            radius = c / math.sqrt(T) if c else None
            from_values = sum(cell["values_csv"] for cell in cells.values())
            from_rows = sum(cell["rows_csv"] for cell in cells.values())
            counts = sorted({k for cell in cells.values() for k in cell["k"]})
            many = "all " if counts == [T] else ""
            if from_values and not from_rows:
                source = f"values.csv: {many}{'/'.join(map(str, counts))} eigenvalues per matrix"
            elif from_rows and not from_values:
                source = (f"rows.csv: the top {'/'.join(map(str, counts))} (lambda columns; "
                          f"no values.csv)")
            else:
                source = f"values.csv ({from_values} matrices) and rows.csv ({from_rows})"
            p = {"title": f"{name}, T = {T}" + (f"\n{ctx.sweeps[si].label}" if ctx.multi
                                                  else "") + f"\n{source}",
                 "xlabel": "Re λ", "ylabel": "Im λ", "xscale": "linear", "yscale": "linear",
                 "aspect": "equal", "series": []}
            everything = []
            for fix in fixes_of(ctx):
                cell = cells.get(fix)
                if not cell or not cell["matrices"]:
                    continue
                what, _, color, marker = fix_style(fix)
                everything += cell["z"]
                p["series"].append({
                    "kind": "scatter", "label": f"fix {fix}: eigenvalues of {what}",
                    "set": si, "series": name, "fix": fix, "T": T, "source": source,
                    "matrices": cell["matrices"], "not_converged": cell["bad"],
                    "n": len(cell["z"]), "x": [z.real for z in cell["z"]],
                    "y": [z.imag for z in cell["z"]], "color": color, "marker": marker,
                    "filled": fix == "none"})
            if radius:
                angles = [2 * math.pi * i / 256 for i in range(257)]
                p["series"].append({
                    "kind": "circle", "label": "circular law: |λ| = c/√T", "formula": "c/sqrt(T)",
                    "c": c, "T": T, "radius": radius, "center": [0.0, 0.0],
                    "x": [radius * math.cos(a) for a in angles],
                    "y": [radius * math.sin(a) for a in angles], "linestyle": ":"})
            p["series"].append({"kind": "mark", "label": "λ = 1 (the outlier of A: A·1 = 1)",
                                "x": [1.0], "y": [0.0], "marker": "*"})
            if "center" in cells:
                p["series"].append({"kind": "mark", "label": "λ = 0: where fix center moves the "
                                                             "outlier", "x": [0.0], "y": [0.0],
                                    "marker": "P"})
            lim = bulk_limit(everything, radius)
            p["xlim"] = [-lim, lim]
            p["ylim"] = [-lim, lim]
            panels.append(p)
    rows = math.ceil(len(panels) / cols)  # one row per series when each has as many T
    left_out = sum(cell["bad"] for by_T in data.values() for cells in by_T.values()
                   for cell in cells.values())
    title = "Eigenvalues in the complex plane: the outlier 1 and the disc of radius c/√T"
    if left_out:
        title += f" ({left_out} not converged, left out)"
    return {"title": title, "panels": panels, "footer": sweep_footer(ctx),
            "grid": (rows, cols), "size": (4.2 * cols + 0.6, 4.9 * rows + 0.6),
            "legend": "figure"}

