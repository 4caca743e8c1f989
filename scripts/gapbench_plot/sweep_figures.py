"""The figures of gapbench sweep directories: gap_vs_T, ratio_vs_T, fix_and_stable_rank,
solver_error_vs_T and bulk_histogram. Each fig_* returns a figure spec, or a string that says
why the figure is skipped."""
import math
import statistics
from collections import OrderedDict, defaultdict

from .figure_data import (T_axis, c_of, fused_boundaries, group_rows, is_center, is_none,
                          not_converged_series, ratio_of, ratio_to_one_panel, stat_series,
                          sweep_footer, theory_lines)
from .messages import note


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
    p = ratio_to_one_panel(ctx, "edge_ratio", "√T · s_edge / (2c) (dimensionless)",
                           "How close to theory: bulk edge over 2c/√T", "√T·s2(A)/2c",
                           "√T·s1(A⊥)/2c")
    if p:
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
             "xlabel": "√T · s_k (dimensionless)",
             "ylabel": "probability density (per unit of √T·s)",
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
