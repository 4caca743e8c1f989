"""Drawing a figure spec with matplotlib: the style (setup_matplotlib, which imports matplotlib
and numpy once every input has been read, and says what to install when they are missing), the
axes of each panel and their legend, and the figure with its footer."""
import math
from collections import OrderedDict

from .messages import fail


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
    changes = 0  # the change points drawn: their annotations are staggered
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
        elif kind == "scatter":
            # thousands of points: rasterised inside the SVG, which stays small and fast
            # filled small points, or open larger ones drawn over them (an overlay shows both)
            filled = s.get("filled", True)
            look = ({"ms": 2.2, "mew": 0, "alpha": 0.6} if filled else
                    {"ms": 3.6, "mew": 0.6, "mfc": "none", "alpha": 0.8})
            ax.plot(s["x"], s["y"], ls="none", marker=s["marker"], color=s["color"],
                    zorder=3, rasterized=len(s["x"]) > 2000, **look)
            from matplotlib.lines import Line2D
            handle = Line2D([], [], ls="none", marker=s["marker"], color=s["color"],
                            **dict(look, ms=6, alpha=1))  # the legend's marker, larger
        elif kind == "circle":
            handle, = ax.plot(s["x"], s["y"], color="black", ls=s["linestyle"], lw=1.1,
                              zorder=4)
        elif kind == "mark":
            handle, = ax.plot(s["x"], s["y"], ls="none", marker=s.get("marker", "*"), ms=11,
                              mfc="none", mec="black", mew=1.0, zorder=5)
            xlim = panel.get("xlim")
            for x, y in zip(s["x"], s["y"]):
                if xlim and not xlim[0] <= x <= xlim[1]:  # off the axes: say where it is
                    ax.annotate(f"λ = {x:g} off the axes →", xy=(1.0, 1.0),
                                xycoords="axes fraction", xytext=(-3, -3),
                                textcoords="offset points", ha="right", va="top", fontsize=7,
                                color="0.2", bbox={"fc": "white", "ec": "0.6", "pad": 1.5})
        elif kind == "history_values":  # every repetition: small points under the medians
            drawn, = ax.plot(s["x"], s["y"], ls="none", marker="o", ms=2.4, mew=0,
                             color=s["color"], alpha=0.5, zorder=3)
            drawn.gapbench_series = s  # the series an artist of the history draws (for tests)
            from matplotlib.lines import Line2D
            handle = Line2D([], [], ls="none", marker="o", ms=4, mew=0, color=s["color"],
                            alpha=0.6)  # the legend's marker, larger
        elif kind == "history_median":
            handle, = ax.plot(s["x"], s["y"], color=s["color"], lw=1.3, marker="o", ms=3,
                              zorder=4)
            handle.gapbench_series = s
        elif kind == "history_flagged":  # dirty or throttled runs: hollow, around the median
            handle, = ax.plot(s["x"], s["y"], ls="none", marker=s["marker"], ms=8.5,
                              mfc="none", mec=s["color"], mew=1.3, zorder=5)
            handle.gapbench_series = s
        elif kind == "change":  # a change point between two runs, with its size
            handle = ax.axvline(s["x"][0], color=s["color"], ls="--", lw=1.2, zorder=2)
            handle.gapbench_series = s
            lo, hi = panel.get("xlim") or ax.get_xlim()
            left = s["x"][0] > lo + 0.7 * (hi - lo)  # the text left of a line near the right
            ax.annotate(s["text"], xy=(s["x"][0], 1.0), xycoords=ax.get_xaxis_transform(),
                        xytext=(-3 if left else 3, -3 - 10 * (changes % 3)),
                        textcoords="offset points", ha="right" if left else "left", va="top",
                        fontsize=6.5, color=s["color"], zorder=6,
                        bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 0.3})
            changes += 1
        if kind == "mean_sd":
            # compact legend: one colour per series, one black marker per quantity
            from matplotlib.lines import Line2D
            entries.append((0, len(entries), Line2D([], [], color=s["color"], lw=2.5),
                            s["series_label"]))
            entries.append((1, len(entries), Line2D(
                [], [], color="black", marker=s["marker"], ms=5, lw=1.2,
                ls=s.get("legend_linestyle", s["linestyle"]),
                mfc="black" if s["filled"] else "white"), s["quantity_label"]))
        elif handle is not None and kind != "barh":
            order = {"theory": 2, "vline": 2, "circle": 2, "mark": 3, "floor": 3,
                     "not_converged": 4, "history_flagged": 3, "change": 4}.get(kind, 0)
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
    if panel.get("xticks") is not None:  # labelled ticks (commits of the history figure)
        ax.set_xticks(panel["xticks"])
        ax.set_xticklabels(panel["xticklabels"], rotation=35, ha="right",
                           rotation_mode="anchor", fontsize=6.5)
    if panel.get("integer_x"):
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    if panel["yscale"] == "log":
        format_log_axis(ax.yaxis, *ax.get_ylim(), ticker)
    if panel.get("xlim"):
        ax.set_xlim(*panel["xlim"])
    if panel.get("ylim"):
        ax.set_ylim(*panel["ylim"])
    if panel.get("aspect"):
        ax.set_aspect(panel["aspect"], adjustable="box")
        ax.xaxis.set_major_locator(ticker.MaxNLocator(5))
        ax.yaxis.set_major_locator(ticker.MaxNLocator(5))
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
    title_h = spec.get("title_in", 0.0) / height  # room kept under the title (tall figures)
    fig.tight_layout(rect=(0, footer_h + legend_h, 1, 1 - title_h))
    if legend_h:
        fig.legend(list(handles.values()), list(handles.keys()), loc="upper center",
                   ncol=ncol, bbox_to_anchor=(0.5, footer_h + legend_h),
                   bbox_transform=fig.transFigure, frameon=False, columnspacing=1.5)
    return fig
