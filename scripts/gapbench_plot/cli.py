"""The command line of plot.py: the options and their checks, then every input read and checked
before anything is drawn, the figures built and drawn, and the files written all at once
(through a temporary directory: an error leaves no half-written figure). USAGE is the text of
--help."""
import argparse
import json
import math
import os
import shutil
import tempfile
from collections import OrderedDict

from .bench_figures import fig_accuracy, fig_regression, fig_throughput
from .bench_readers import Bench, Compare, History
from .eigen_figures import fig_eigen_gap_vs_T, fig_eigen_scatter
from .figure_data import Context
from .history_figures import MAX_PANELS, fig_history
from .messages import InputError, fail, note
from .propagation_figures import (PropContext, fig_propagation_depth, fig_propagation_gradient,
                                  fig_propagation_gradient_depth,
                                  fig_propagation_width)
from .readers import Propagate, Sweep, disambiguate, load_dir
from .render import draw, setup_matplotlib
from .sweep_figures import (fig_bulk_histogram, fig_fix_and_stable_rank, fig_gap_vs_T,
                            fig_ratio_vs_T, fig_solver_error_vs_T)

USAGE = f"""\
Figures from gapbench results: sweeps (rows.csv, values.csv, meta.json), signal propagation
(gapbench propagate), benchmark JSON (gapbench_bench --benchmark_out), `gapbench compare --json`
and the performance history (`gapbench history show REGEX --format json`).

Usage:
  /usr/bin/python3 scripts/plot.py [SWEEP_DIR ...] [--bench BENCH.json ...] [--compare CMP.json]
                                   [--history HISTORY.json ...]
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
  eigen_gap_vs_T       eigen rows (schema gapbench.sweep/4): |lambda1| and |lambda2| against T,
                       mean +- sd over seeds, one line style per fix (none: the outlier 1;
                       center: A_perp, whose lambda1 falls into the bulk; deflate), with the
                       circular law c/sqrt(T) (markov); beside it sqrt(T) |lambda_edge|/c
                       (eigen_edge_ratio; theory 1)
  eigen_scatter        eigen rows: the eigenvalues in the complex plane, one panel per model and
                       T (at most 4 T, spread over the range), every fix overlaid, with the
                       circle of radius c/sqrt(T) (markov) and the point 1; from values.csv when
                       it has the rows (all T with --all-values --solver exact), else the top k
                       of rows.csv (each panel's title says which)
  solver_error_vs_T    max_rel_err (the largest relative error of the top k against the float64
                       reference of `gapbench sweep --reference auto`) against T, per solver and
                       precision, mean +- sd over seeds; rows that are their own reference
                       (float64 exact up to T = 4096: error 0) are left out
  throughput_vs_T      matrices/s and % of copy bandwidth against T per benchmark series
                       (medians over repetitions; failed/skipped entries left out)
  accuracy_vs_time     rel_err_s2 against the time of one solve, per solver and precision
  regression           the change per benchmark of a `gapbench compare --json` report
  history              --history FILE (`gapbench history show REGEX --format json`, schema
                       gapbench.history.show/1; repeatable: the series of every file in turn):
                       a panel per series (benchmark and device; the first {MAX_PANELS}, with a
                       note, when there are more) of the metric against the commit (runs in
                       commit order; times in ns, µs, ms or s per panel): every repetition as a
                       small point, the median of each run as a line, dirty and throttled runs
                       circled, each change point a dashed line between the runs either side
                       (red regression, green improvement, grey acknowledged) with its change
                       in % and interval; the footer names the device and the commit range.
                       No series, or a series without points, is an error
  propagation_depth    stable rank of X_l against the layer l, ||X||_F^2/||X||_2^2 and (second
                       panel) sum s_i^4/s_1^4, one line per configuration (variant, fix,
                       attention, LayerNorm, and whatever else differs), mean +- sd over seeds
  propagation_width    the same after --prop-layer N layers (default 1) against T, log-log, with
                       PAPER.md's limits after one layer (plain, no LayerNorm, markov, isometric
                       X0, gamma 1): 4T/27 and 48T/729 with A_perp, 1 + c^2 and 1 with A
  propagation_gradient mean over seeds of log_grad_sq = ln ||dX_L/dW_l||_F^2 (l = --grad-layer,
                       default 1) against T on a log axis, a panel per network (variant,
                       LayerNorm, markov or A(X)), with and without the fix, and the
                       least-squares slope in ln T +- its standard error in the legend
                       (PAPER.md's linear model: 2 with A, ~1.1 A_perp)
  propagation_gradient_depth  the same against the depth L (networks of two or more L), the
                       slope per layer +- its standard error
Directories of `gapbench propagate` (meta.json schema gapbench.propagate/..., or a rows.csv with
a layer column; the seed index is the column run, else index) are given like sweep directories,
mixed with them or not: each figure takes the data it understands.
The singular figures (gap_vs_T to solver_error_vs_T) read the singular rows only, the eigen_*
figures the eigen rows only (column spectrum of schema 4; every row of /1 to /3 is singular).
Several sweep directories or benchmark files are overlaid, each labelled by its device and
commit. Rows that did not converge (converged = 0) are drawn as red crosses and left out of
the means. A figure whose data are absent is skipped with a note. --dump-data writes the data
series of every figure drawn (the exact numbers plotted) as JSON.

Errors (missing or malformed input) print one line "plot.py: error: ..." and exit 2 before any
figure is written. Needs matplotlib and numpy (Debian: python3-matplotlib for /usr/bin/python3;
elsewhere pip install -r scripts/requirements-plot.txt).
"""

FIGURES = ("gap_vs_T", "ratio_vs_T", "fix_and_stable_rank", "bulk_histogram",
           "eigen_gap_vs_T", "eigen_scatter", "solver_error_vs_T", "throughput_vs_T", "accuracy_vs_time", "regression",
           "history", "propagation_depth", "propagation_width", "propagation_gradient",
           "propagation_gradient_depth")
FORMATS = ("png", "svg", "pdf")


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints the usage too)
        fail(f"{message} (see --help)")


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


def main(argv=None):
    head, rest = USAGE.split("\n\n", 1)  # the description: the first paragraph
    parser = Parser(prog="plot.py", description=" ".join(head.splitlines()),
                    formatter_class=argparse.RawDescriptionHelpFormatter, epilog="\n" + rest)
    parser.add_argument("dirs", nargs="*", metavar="SWEEP_DIR",
                        help="sweep or propagate directories (rows.csv, meta.json; values.csv "
                             "optional)")
    parser.add_argument("--bench", action="append", default=[], metavar="BENCH.json",
                        help="Google Benchmark JSON of gapbench_bench (repeatable)")
    parser.add_argument("--compare", metavar="COMPARE.json",
                        help="a gapbench compare --json report")
    parser.add_argument("--history", action="append", default=[], metavar="HISTORY.json",
                        help="the JSON of gapbench history show REGEX --format json "
                             "(repeatable)")
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
                        help="propagation_gradient(_depth): the gradient for W_L (default 1)")
    args = parser.parse_args(argv)

    if not args.dirs and not args.bench and not args.compare and not args.history:
        fail("nothing to plot: give sweep directories, --bench, --compare or --history "
             "(see --help)")
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
        need_values = "bulk_histogram" in wanted or "eigen_scatter" in wanted
        loaded = [load_dir(d, need_values=need_values) for d in args.dirs]
        benches = [Bench(p) for p in args.bench]
        cmp = Compare(args.compare) if args.compare else None
        histories = [History(p) for p in args.history]
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

    # The singular figures see the singular rows (Sweep.rows), the eigen figures the eigen rows
    # (the sweeps' eigen views); each kind has its own series names and colours.
    pctx = PropContext(props, plt) if props else None
    no_sweep = "no sweep directory" + (" (only propagate directories)" if props else "")
    if not sweeps:
        ctx, no_singular = None, no_sweep
    elif not any(s.rows for s in sweeps):
        ctx, no_singular = None, "no singular rows (the sweeps hold eigen rows only)"
    else:
        ctx, no_singular = Context(sweeps, plt), None
    if sweeps and any(s.eigen_rows for s in sweeps):
        ectx, no_eigen = Context([s.eigen_view() for s in sweeps], plt), None
    else:
        ectx = None
        no_eigen = (no_sweep if not sweeps else
                    "no eigen rows (gapbench sweep --spectrum eigen, schema gapbench.sweep/4)")
    builders = {
        "gap_vs_T": lambda: fig_gap_vs_T(ctx) if ctx else no_singular,
        "ratio_vs_T": lambda: fig_ratio_vs_T(ctx) if ctx else no_singular,
        "fix_and_stable_rank": lambda: fig_fix_and_stable_rank(ctx) if ctx else
        no_singular,
        "bulk_histogram": lambda: fig_bulk_histogram(ctx, np, args.bulk_T) if ctx else
        no_singular,
        "eigen_gap_vs_T": lambda: fig_eigen_gap_vs_T(ectx) if ectx else no_eigen,
        "eigen_scatter": lambda: fig_eigen_scatter(ectx) if ectx else no_eigen,
        "solver_error_vs_T": lambda: fig_solver_error_vs_T(ctx) if ctx else no_singular,
        "throughput_vs_T": lambda: fig_throughput(benches, plt),
        "accuracy_vs_time": lambda: fig_accuracy(benches, plt),
        "regression": lambda: fig_regression(cmp),
        "history": lambda: fig_history(histories),
        "propagation_depth": lambda: fig_propagation_depth(pctx) if pctx else
        "no propagate directory (gapbench propagate --out DIR)",
        "propagation_width": lambda: fig_propagation_width(pctx, args.prop_layer) if pctx else
        "no propagate directory (gapbench propagate --out DIR)",
        "propagation_gradient": lambda: fig_propagation_gradient(pctx, args.grad_layer)
        if pctx else "no propagate directory (gapbench propagate --out DIR --gradient)",
        "propagation_gradient_depth": lambda: fig_propagation_gradient_depth(pctx, args.grad_layer)
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

    json_inputs = args.bench + ([args.compare] if args.compare else []) + args.history
    out = args.out or (args.dirs[0] if args.dirs else
                       os.path.dirname(os.path.abspath(json_inputs[0])))
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
                                           "rows": len(s.rows) + len(s.eigen_rows),
                                           "eigen_rows": len(s.eigen_rows)} for s in sweeps],
                               "propagate": [{"dir": p.dir, "label": p.label,
                                              "device": p.device, "backend": p.backend,
                                              "commit": p.commit, "started": p.started,
                                              "rows": len(p.rows)} for p in props],
                               "bench": [{"path": b.path, "label": b.label, "commit": b.commit,
                                          "date": b.date} for b in benches],
                               "compare": args.compare,
                               "history": [{"path": h.path, "metric": h.metric,
                                            "unit": h.unit, "direction": h.direction,
                                            "series": len(h.series)} for h in histories]},
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
