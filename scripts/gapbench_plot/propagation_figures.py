"""The figures of gapbench propagate directories (signal propagation): propagation_depth,
propagation_width and propagation_gradient, with PAPER.md's limits where they apply. Each
fig_* returns a figure spec, or a string that says why the figure is skipped."""
import math
from collections import OrderedDict

from .figure_data import T_axis, assign_colors, log_grid, mean_sd
from .messages import note

# Columns that tell configurations apart besides variant, fix, attention and layernorm: shown in
# the series name only when they differ between rows (T only where it is not the x axis).
PROP_EXTRA = (("input", "{}"), ("law", "{}"), ("beta", "β={:g}"), ("gamma", "γ={:g}"),
              ("sigma_v", "σ_V={:g}"), ("init", "W_Q,W_K {}"), ("L", "L={:g}"), ("T", "T={:g}"))
PROP_QUANTITY = {"none": "with A: mean ± sd over seeds", "center": "with A⊥: mean ± sd over seeds"}
PROP_STYLE = {"none": ("o", True, "-"), "center": ("D", False, "--")}


def markov_c(row):
    """c (sigma/mu of the markov entries) of a propagate row: its `c` column (schema 3, from the
    law table of laws.hpp); for schema 2 rows, which have none, from the law: exponential 1,
    uniform 1/sqrt(3), lognormal sqrt(exp(beta^2) - 1). None when unknown."""
    law = row.get("law")
    if row.get("attention") != "markov" or not law:
        return None
    if row.get("c") is not None:
        return row["c"]
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

    def name(self, row, with_T, with_L=True, variant=True):
        fix = {"none": "A", "center": "A⊥"}.get(row["fix"], f"fix={row['fix']}")
        parts = ([row["variant"]] if variant else []) + [fix] + (
            [row["attention"]] + (["LayerNorm"] if row["layernorm"] else []) if variant else [])
        extra = []
        for key, form in PROP_EXTRA:
            if (self.vary[key] and row.get(key) is not None and (key != "T" or with_T)
                    and (key != "L" or with_L)):
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
            self.colors[(si, name)] = None  # a new series: the palette is that of them all
            self.colors.update(assign_colors(list(self.colors), self.plt))
        return self.colors[(si, name)]


def prop_groups(pctx, predicate, x_key, quantity, with_T, with_L=True, variant=True):
    """{(set, series): {"rows": first row, "by_x": {x: [values]}}} over the rows passing predicate
    with a finite value of the column quantity."""
    groups = OrderedDict()
    for si, prop in enumerate(pctx.props):
        for row in prop.rows:
            value = row.get(quantity)
            if not predicate(row) or value is None or not math.isfinite(value):
                continue
            g = groups.setdefault((si, pctx.name(row, with_T, with_L, variant)),
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
    """Stable ranks against the layer; with networks of several depths, the deepest ones."""
    pctx.colors = OrderedDict()  # colours are per figure
    if not any(p.rows for p in pctx.props):
        return "the propagate directories have no rows"
    # Networks of several depths L share their layers (layer l's draws do not depend on L):
    # each configuration is drawn from its deepest networks.
    deepest_L = {}
    for si, p in enumerate(pctx.props):
        for r in p.rows:
            key = (si, pctx.name(r, True, with_L=False))
            deepest_L[key] = max(deepest_L.get(key, 0), r.get("L") or 0)
    kept = {id(r) for si, p in enumerate(pctx.props) for r in p.rows
            if (r.get("L") or 0) == deepest_L[(si, pctx.name(r, True, with_L=False))]}

    def deepest(r):
        return id(r) in kept
    panels = []
    for column, title in (("stable_rank", "‖X_ℓ‖²_F / ‖X_ℓ‖²₂"),
                          ("stable_rank4", "Σσᵢ⁴/σ₁⁴ (the authors' code)")):
        if not has_column(pctx, column):
            note(f"propagation_depth: no {column} values (panel left out)")
            continue
        groups = prop_groups(pctx, deepest, "layer", column, with_T=True, with_L=False)
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
    """The least-squares line through (xs, ys): slope, intercept and the slope's standard error
    (from the residuals; None with fewer than 3 points)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    intercept = my - slope * mx
    se = None
    if n > 2:
        rss = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys))
        se = math.sqrt(rss / (n - 2) / sxx)
    return slope, intercept, se


def network_key(row):
    """The network a gradient panel shows: variant, LayerNorm, source of A."""
    return (row["variant"], row["layernorm"], row["attention"])


def network_title(key):
    variant, layernorm, attention = key
    return f"{variant}{' + LayerNorm' if layernorm else ''}, {attention}"


def gradient_panels(pctx, chosen, x_key, with_T, with_L, log_x, axis):
    """One panel per network (variant, LayerNorm, source), a series per fix and whatever else
    differs, each with the least-squares slope of log_grad_sq in x (ln x when log_x) over every
    run's value, with its standard error, in the legend; axis(title) makes the empty panel."""
    keys = []
    for p in pctx.props:
        for r in p.rows:
            if chosen(r) and r.get("log_grad_sq") is not None and network_key(r) not in keys:
                keys.append(network_key(r))
    panels = []
    for key in keys:
        def in_panel(r, key=key):
            return chosen(r) and network_key(r) == key
        groups = prop_groups(pctx, in_panel, x_key, "log_grad_sq", with_T=with_T, with_L=with_L,
                             variant=len(keys) == 1)
        series = prop_series(pctx, groups, "log_grad_sq")
        for s, g in zip(series, groups.values()):
            xs = [math.log(x) if log_x else x for x in s["x"] for _ in g["by_x"][x]]
            ys = [v for x in s["x"] for v in g["by_x"][x]]
            slope = intercept = se = None
            if len(s["x"]) >= 2:
                slope, intercept, se = least_squares_slope(xs, ys)
            s["slope"], s["intercept"], s["slope_se"] = slope, intercept, se
            s["row"] = g["row"]
        p = axis(network_title(key))
        p["series"] = series
        panels.append(p)
    return panels


def slope_text(s, per):
    if s["slope"] is None:
        return "one point: no slope"
    return f"slope {s['slope']:.2f}" + (f" ± {s['slope_se']:.2f}" if s["slope_se"] else "") + per


def fig_propagation_gradient(pctx, layer):
    pctx.colors = OrderedDict()

    def chosen(r):
        return r["layer"] == layer
    if not has_column(pctx, "log_grad_sq", chosen):
        return (f"no log_grad_sq values at layer {layer} (run gapbench propagate with "
                f"--gradient)")
    panels = gradient_panels(
        pctx, chosen, "T", with_T=False, with_L=True, log_x=True,
        axis=lambda title: T_axis(f"mean ln ‖∂X_L/∂W_{layer}‖²_F over seeds (natural log)",
                                  f"{title}: least-squares slope in ln T ± its standard error",
                                  yscale="linear"))
    for p in panels:
        for s in p["series"]:
            row = s.pop("row")
            paper = ""
            if (paper_case(row) and layer == 1 and row.get("L") == 2
                    and row.get("law") == "exponential"):
                paper = {"none": "; PAPER.md: 2", "center": "; PAPER.md: ≈ 1.1"}.get(row["fix"], "")
            s["series_label"] = f"{s['series_label']}: {slope_text(s, '')}{paper}"
            s["label"] = f"log_grad_sq: {s['series_label']}"
    return {"title": f"Gradient norm against T: ln ‖∂X_L/∂W_{layer}‖²_F, with and without the "
                     "fix", "panels": panels, "footer": prop_footer(pctx),
            "size": (7.0 * len(panels) + 1.0, 5.0), "legend": "figure"}


def fig_propagation_gradient_depth(pctx, layer):
    """ln ||dX_L/dW_layer||_F^2 against the depth L (networks of every L in the data)."""
    pctx.colors = OrderedDict()

    def chosen(r):
        return r["layer"] == layer and r.get("L") is not None
    Ls = {r["L"] for p in pctx.props for r in p.rows
          if chosen(r) and r.get("log_grad_sq") is not None}
    if len(Ls) < 2:
        return (f"no log_grad_sq values at layer {layer} for two or more depths L (run gapbench "
                f"propagate --gradient with --L 1,2,...)")
    panels = gradient_panels(
        pctx, chosen, "L", with_T=True, with_L=False, log_x=False,
        axis=lambda title: {"title": f"{title}: least-squares slope per layer ± its standard "
                                     f"error", "xlabel": "depth L (layers)",
                            "ylabel": f"mean ln ‖∂X_L/∂W_{layer}‖²_F over seeds (natural log)",
                            "xscale": "linear", "yscale": "linear", "series": []})
    for p in panels:
        for s in p["series"]:
            s.pop("row")
            s["series_label"] = f"{s['series_label']}: {slope_text(s, ' per layer')}"
            s["label"] = f"log_grad_sq: {s['series_label']}"
    return {"title": f"Gradient norm against depth: ln ‖∂X_L/∂W_{layer}‖²_F, with and without "
                     "the fix", "panels": panels, "footer": prop_footer(pctx),
            "size": (7.0 * len(panels) + 1.0, 5.0), "legend": "figure"}
