"""Tests of scripts/plot.py on the small fixtures of tests/python/data (see make_fixtures.py).

Every figure is drawn from the fixtures; the series the script says it plotted (--dump-data)
are checked against numbers computed here, independently, from rows.csv, values.csv and the
JSON files; bad input must give one line on stderr, exit code 2 and no figure file.

Run: /usr/bin/python3 -m unittest discover -s tests/python -v
"""
import csv
import json
import math
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import unittest
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PLOT = os.path.join(ROOT, "scripts", "plot.py")
DATA = os.path.join(HERE, "data")
SWEEP = os.path.join(DATA, "sweep")
BENCH = os.path.join(DATA, "bench.json")
COMPARE = os.path.join(DATA, "compare.json")
PROPAGATE = os.path.join(DATA, "propagate")
FIGURES = ("gap_vs_T", "ratio_vs_T", "fix_and_stable_rank", "bulk_histogram", "throughput_vs_T",
           "accuracy_vs_time", "regression", "propagation_depth", "propagation_width",
           "propagation_gradient")  # solver_error_vs_T: with --reference rows only (below)
SWEEP_FIGURES = FIGURES[:4]
PROPAGATION_FIGURES = FIGURES[-3:]
TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def run_plot(*args, env=None):
    return subprocess.run([sys.executable, PLOT, *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env, timeout=120)


def read_rows(directory=SWEEP):
    with open(os.path.join(directory, "rows.csv"), newline="") as f:
        return list(csv.DictReader(f))


def mean_sd(values):
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def expected_stats(rows, fix, column, model):
    """{T: (mean, sd, n)} over converged rows, computed here from the CSV text."""
    by_T = defaultdict(list)
    for r in rows:
        if r["fix"] == fix and r["model"] == model and r["converged"] == "1" and r[column]:
            by_T[int(r["T"])].append(float(r[column]))
    return {T: (*mean_sd(v), len(v)) for T, v in sorted(by_T.items())}


def figure_files(directory):
    if not os.path.isdir(directory):
        return []
    return sorted(f for f in os.listdir(directory) if f.endswith((".png", ".svg", ".pdf")))


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", head[16:24])


class PlotTestCase(unittest.TestCase):
    def series(self, dump, figure, panel=None, **match):
        out = []
        panels = dump["figures"][figure]["panels"]
        for i, p in enumerate(panels):
            if panel is not None and i != panel:
                continue
            for s in p["series"]:
                if all(s.get(k) == v or (k == "series" and str(s.get(k, "")).startswith(v))
                       for k, v in match.items()):
                    out.append(s)
        return out

    def one(self, dump, figure, panel=None, **match):
        found = self.series(dump, figure, panel, **match)
        self.assertEqual(len(found), 1, f"{figure} {match}: {[s.get('label') for s in found]}")
        return found[0]

    def assertClose(self, a, b, rel=1e-12, msg=None):
        self.assertEqual(len(a), len(b), msg)
        for x, y in zip(a, b):
            self.assertTrue(math.isclose(x, y, rel_tol=rel, abs_tol=1e-300),
                            f"{msg}: {x} != {y}")


class TestAllFigures(PlotTestCase):
    """One run over every fixture: sweep, two benchmark files (one without median aggregates,
    another device and commit), the compare report."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="plot_test_")
        cls.out = os.path.join(cls.tmp, "figures")
        cls.dump_path = os.path.join(cls.tmp, "dump.json")
        # a second benchmark file: repetitions only (no aggregates), another device/commit
        with open(BENCH) as f:
            doc = json.load(f)
        doc["benchmarks"] = [b for b in doc["benchmarks"] if b.get("run_type") != "aggregate"]
        doc["context"]["cpu_device"] = "Other CPU (8 threads)"
        doc["context"]["gapbench_commit"] = "0123456789ab"
        cls.bench2 = os.path.join(cls.tmp, "reps_only.json")
        with open(cls.bench2, "w") as f:
            json.dump(doc, f)
        cls.result = run_plot(SWEEP, PROPAGATE, "--bench", BENCH, "--bench", cls.bench2,
                              "--compare", COMPARE, "--out", cls.out, "--dump-data",
                              cls.dump_path)
        with open(cls.dump_path) as f:
            cls.dump = json.load(f)
        cls.rows = read_rows()
        with open(os.path.join(SWEEP, "meta.json")) as f:
            cls.meta = json.load(f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_exit_status_and_notes(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        self.assertEqual(self.result.stderr, "")
        self.assertIn("left out cpu/solve/exact/float64/k:4/T:4096", self.result.stdout)

    def test_every_figure_written_in_both_formats(self):
        self.assertEqual(figure_files(self.out),
                         sorted(f"{n}.{e}" for n in FIGURES for e in ("png", "svg")))
        for name in FIGURES:
            png = os.path.join(self.out, f"{name}.png")
            svg = os.path.join(self.out, f"{name}.svg")
            width, height = png_size(png)
            self.assertGreater(width, 600, name)
            self.assertGreater(height, 400, name)
            self.assertGreater(os.path.getsize(png), 20000, name)
            self.assertGreater(os.path.getsize(svg), 20000, name)
            with open(svg) as f:
                text = f.read()
            self.assertIn("<svg", text)
            self.assertIn("</svg>", text)
        self.assertEqual([f for f in os.listdir(self.out) if f.startswith(".")], [])

    def test_titles_labels_footers(self):
        for name in FIGURES:
            fig = self.dump["figures"][name]
            self.assertTrue(fig["title"], name)
            self.assertTrue(fig["footer"], name)
            for p in fig["panels"]:
                self.assertTrue(p["xlabel"] and p["ylabel"], name)
                self.assertTrue(any(s.get("label") for s in p["series"]), name)
        for name in SWEEP_FIGURES:
            footer = " ".join(self.dump["figures"][name]["footer"])
            self.assertIn(self.meta["backend"]["device"], footer)
            self.assertIn(self.meta["build"]["commit"], footer)
            self.assertIn(self.meta["started"], footer)
            self.assertNotIn("propagate", footer)
        with open(os.path.join(PROPAGATE, "meta.json")) as f:
            pmeta = json.load(f)
        for name in PROPAGATION_FIGURES:
            footer = self.dump["figures"][name]["footer"]
            self.assertEqual(len(footer), 1, name)  # the propagate directory only
            for value in (pmeta["backend"], pmeta["host"], pmeta["build"]["commit"],
                          pmeta["started"]):
                self.assertIn(value, footer[0], name)
        with open(BENCH) as f:
            ctx = json.load(f)["context"]
        for name in ("throughput_vs_T", "accuracy_vs_time"):
            footer = " ".join(self.dump["figures"][name]["footer"])
            for key in ("cpu_device", "gapbench_commit", "date"):
                self.assertIn(ctx[key], footer)
            self.assertIn("Other CPU (8 threads)", footer)
            self.assertIn("0123456789ab", footer)
        footer = " ".join(self.dump["figures"]["regression"]["footer"])
        self.assertIn(ctx["gapbench_commit"], footer)  # base = bench.json, found next to it
        self.assertIn("not found", footer)  # new: a temporary file of make_fixtures.py

    def check_stats(self, figure, panel, quantity, fix, column):
        for model in ("markov", "attention"):
            want = expected_stats(self.rows, fix, column, model)
            s = self.one(self.dump, figure, panel, kind="mean_sd", quantity=quantity, fix=fix,
                         series=model)
            self.assertEqual(s["x"], list(want), f"{figure} {quantity} {model}")
            self.assertClose(s["y"], [m for m, _, _ in want.values()], msg=f"{quantity} mean")
            self.assertClose(s["yerr"], [sd for _, sd, _ in want.values()], msg=f"{quantity} sd")
            self.assertEqual(s["n"], [n for _, _, n in want.values()])

    def test_gap_vs_T_means_and_sds(self):
        self.check_stats("gap_vs_T", 0, "s1", "none", "s1")
        self.check_stats("gap_vs_T", 0, "s2", "none", "s2")

    def test_ratio_and_edge_ratio(self):
        self.check_stats("ratio_vs_T", 0, "s2/s1", "none", "ratio")
        want = expected_stats(self.rows, "none", "edge_ratio", "markov")
        s = self.one(self.dump, "ratio_vs_T", 1, kind="mean_sd", fix="none", series="markov")
        self.assertClose(s["y"], [m for m, _, _ in want.values()])
        want = expected_stats(self.rows, "center", "edge_ratio", "markov")
        s = self.one(self.dump, "ratio_vs_T", 1, kind="mean_sd", fix="center", series="markov")
        self.assertClose(s["y"], [m for m, _, _ in want.values()])
        # attention has no c, hence no edge ratio
        self.assertEqual(self.series(self.dump, "ratio_vs_T", 1, series="attention"), [])
        line = self.one(self.dump, "ratio_vs_T", 1, kind="theory")
        self.assertEqual(set(line["y"]), {1.0})

    def test_fix_and_stable_rank(self):
        self.check_stats("fix_and_stable_rank", 0, "‖A⊥‖₂", "center", "s1")
        self.check_stats("fix_and_stable_rank", 0, "s2(A)", "none", "s2")
        self.check_stats("fix_and_stable_rank", 1, "srank(A)", "none", "stable_rank")
        self.check_stats("fix_and_stable_rank", 1, "srank(A⊥)", "center", "stable_rank")

    def test_theory_lines(self):
        c = {float(r["c"]) for r in self.rows if r["model"] == "markov"}
        self.assertEqual(len(c), 1)
        c = c.pop()
        s1 = self.one(self.dump, "gap_vs_T", 0, kind="theory", formula="1 + c^2/(2T)")
        self.assertClose(s1["y"], [1 + c * c / (2 * T) for T in s1["x"]])
        s2 = self.one(self.dump, "gap_vs_T", 0, kind="theory", formula="2c/sqrt(T)")
        self.assertClose(s2["y"], [2 * c / math.sqrt(T) for T in s2["x"]])
        self.assertEqual((min(s2["x"]), max(s2["x"])), (32, 128))
        a = self.one(self.dump, "fix_and_stable_rank", 1, kind="theory", formula="1 + c^2")
        self.assertClose(a["y"], [1 + c * c] * len(a["x"]))
        perp = self.one(self.dump, "fix_and_stable_rank", 1, kind="theory", formula="T/4")
        self.assertClose(perp["y"], [T / 4 for T in perp["x"]])

    def test_non_converged_row_excluded_and_marked(self):
        bad = [r for r in self.rows if r["converged"] == "0"]
        self.assertEqual(len(bad), 1)
        bad = bad[0]
        T = int(bad["T"])
        good = [float(r["s1"]) for r in self.rows
                if r["model"] == bad["model"] and r["fix"] == bad["fix"] and int(r["T"]) == T
                and r["converged"] == "1"]
        self.assertEqual(len(good), 2)
        s = self.one(self.dump, "gap_vs_T", 0, kind="mean_sd", quantity="s1", series="markov")
        i = s["x"].index(T)
        self.assertEqual(s["n"][i], 2)
        self.assertAlmostEqual(s["y"][i], statistics.fmean(good), delta=1e-15)
        self.assertNotAlmostEqual(s["y"][i], statistics.fmean(good + [float(bad["s1"])]))
        marked = self.one(self.dump, "gap_vs_T", 0, kind="not_converged")
        pairs = set(zip(marked["x"], marked["y"]))
        self.assertEqual(pairs, {(T, float(bad["s1"])), (T, float(bad["s2"]))})
        self.assertTrue(all(f"index={bad['index']}" in label for label in marked["labels"]))
        for figure in ("ratio_vs_T", "fix_and_stable_rank"):
            self.assertTrue(self.series(self.dump, figure, kind="not_converged"), figure)

    def test_bulk_histogram_from_values(self):
        import numpy as np
        values = defaultdict(list)
        with open(os.path.join(SWEEP, "values.csv"), newline="") as f:
            for r in csv.DictReader(f):
                values[(r["point"], r["index"])].append((int(r["rank"]), float(r["value"])))
        Tmax = max(int(r["T"]) for r in self.rows)
        for model in ("markov", "attention"):
            for fix, n_expected in (("none", 3 * (Tmax - 1)), ("center", 3 * Tmax)):
                xs = []
                for r in self.rows:
                    if (r["model"], r["fix"], int(r["T"]), r["converged"]) != (model, fix, Tmax,
                                                                               "1"):
                        continue
                    xs += [math.sqrt(Tmax) * v for rank, v in values[(r["point"], r["index"])]
                           if not (fix == "none" and rank == 1)]
                s = self.one(self.dump, "bulk_histogram", kind="hist", fix=fix, series=model)
                self.assertEqual(s["T"], Tmax)
                self.assertEqual(s["n"], n_expected)
                self.assertEqual(len(xs), n_expected)
                density, _ = np.histogram(xs, bins=np.array(s["x"]), density=True)
                self.assertClose(s["y"], list(density), rel=1e-9)
                widths = np.diff(s["x"])
                self.assertAlmostEqual(float(np.sum(np.array(s["y"]) * widths)), 1.0, places=9)
        qc = self.one(self.dump, "bulk_histogram", kind="theory",
                      formula="sqrt(4c^2 - x^2)/(pi c^2)")
        self.assertEqual(qc["c"], 1.0)
        x, y = np.array(qc["x"]), np.array(qc["y"])
        self.assertAlmostEqual(float(np.trapz(y, x)), 1.0, places=3)
        self.assertAlmostEqual(max(x), 2.0)

    def bench_expectations(self, path, counter):
        """{(series, T): value} from the median aggregate, else the median of repetitions."""
        with open(path) as f:
            doc = json.load(f)
        reps, medians = defaultdict(list), {}
        for b in doc["benchmarks"]:
            if b.get("error_occurred"):
                continue
            if b.get("run_type") == "aggregate":
                if b["aggregate_name"] == "median":
                    medians[b["run_name"]] = b
            else:
                reps[b["run_name"]].append(b)
        out = {}
        for run in set(reps) | set(medians):
            src = [medians[run]] if run in medians else reps[run]
            if counter == "real_time":
                vals = [e["real_time"] * TIME_UNITS[e["time_unit"]] for e in src]
            else:
                vals = [e[counter] for e in src if counter in e]
            if vals:
                out[run] = statistics.median(vals)
        return out

    def test_throughput_series(self):
        for bi, path in enumerate((BENCH, self.bench2)):
            for panel, counter in ((0, "matrices_per_s"), (1, "pct_of_copy_bw")):
                want = self.bench_expectations(path, counter)
                got = {}
                for s in self.series(self.dump, "throughput_vs_T", panel, kind="points",
                                     bench=bi):
                    self.assertEqual(s["counter"], counter)
                    self.assertEqual(s["x"], sorted(s["x"]))
                    for name, T, y in zip(s["labels"], s["x"], s["y"]):
                        self.assertIn(f"/T:{T}/", name)
                        got[name] = y
                self.assertEqual(set(got), set(want), f"{path} {counter}")
                for name in want:
                    self.assertTrue(math.isclose(got[name], want[name], rel_tol=1e-12), name)
                self.assertFalse(any("T:4096" in n for n in got))  # skipped entries left out
        for panel in (0, 1):
            labels = [s["label"] for s in self.series(self.dump, "throughput_vs_T", panel,
                                                      kind="points")]
            self.assertEqual(len(labels), len(set(labels)))
            self.assertTrue(any("Other CPU" in label for label in labels))

    def test_accuracy_series(self):
        times = self.bench_expectations(BENCH, "real_time")
        errors = self.bench_expectations(BENCH, "rel_err_s2")
        found = 0
        for s in self.series(self.dump, "accuracy_vs_time", kind="points", bench=0):
            self.assertTrue(s["series"].startswith("cpu/solve/"))
            for x, y_raw, y, label in zip(s["x"], s["y_raw"], s["y"], s["labels"]):
                T = int(label.split("=")[1])
                name = next(n for n in errors if n.startswith(s["series"].rsplit("/k:", 1)[0])
                            and f"/T:{T}/" in n and "/k:4/" in n)
                self.assertTrue(math.isclose(x, times[name], rel_tol=1e-12))
                self.assertEqual(y_raw, errors[name])
                self.assertEqual(y, y_raw if y_raw > 0 else y)
                found += 1
        self.assertEqual(found, len(errors))
        floor = self.one(self.dump, "accuracy_vs_time", kind="floor")  # exact float64: 0
        self.assertTrue(floor["labels"])

    def test_regression_bars(self):
        with open(COMPARE) as f:
            doc = json.load(f)
        bars = self.one(self.dump, "regression", kind="barh")
        self.assertClose(bars["x"], [100 * b["change"] for b in doc["benchmarks"]])
        self.assertEqual(bars["verdicts"], [b["verdict"] for b in doc["benchmarks"]])
        colour = {"regressed": "#d62728", "improved": "#2ca02c", "same": "#9a9a9a"}
        self.assertEqual(bars["colors"], [colour[b["verdict"]] for b in doc["benchmarks"]])
        for b, note in zip(doc["benchmarks"], bars["notes"]):
            if b["p_value"] is not None:
                self.assertEqual(note, f"p={b['p_value']:.2g}")
        self.assertIn("regressed", bars["verdicts"])
        self.assertIn("improved", bars["verdicts"])
        lines = self.one(self.dump, "regression", kind="vline")
        self.assertClose(lines["x"], [-100 * doc["threshold"], 100 * doc["threshold"]])


def prop_expected(rows, column, x_key, predicate, key_fields):
    """{config: {x: (mean, sd, n)}} of the propagate fixture's rows, computed here from the CSV
    text (config: the values of key_fields)."""
    groups = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if predicate(r) and r[column] != "":
            key = tuple(r[k] for k in key_fields)
            groups[key][int(r[x_key])].append(float(r[column]))
    return {k: {x: (*mean_sd(v), len(v)) for x, v in sorted(by_x.items())}
            for k, by_x in groups.items()}


class TestPropagation(PlotTestCase):
    """The propagation figures from tests/python/data/propagate (rows of gapbench propagate)."""

    KEY = ("variant", "fix", "layernorm")

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="plot_test_")
        cls.out = os.path.join(cls.tmp, "figures")
        cls.dump_path = os.path.join(cls.tmp, "dump.json")
        cls.result = run_plot(PROPAGATE, "--out", cls.out, "--dump-data", cls.dump_path)
        with open(cls.dump_path) as f:
            cls.dump = json.load(f)
        cls.rows = read_rows(PROPAGATE)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def find(self, dump, figure, panel, quantity, key, T=None):
        variant, fix, layernorm = key
        return self.one(dump, figure, panel, kind="mean_sd", quantity=quantity, variant=variant,
                        fix=fix, layernorm=layernorm == "1", **({"T": T} if T else {}))

    def check(self, s, want, msg):
        self.assertEqual(s["x"], list(want), msg)
        self.assertClose(s["y"], [m for m, _, _ in want.values()], msg=f"{msg} mean")
        self.assertClose(s["yerr"], [sd for _, sd, _ in want.values()], msg=f"{msg} sd")
        self.assertEqual(s["n"], [n for _, _, n in want.values()], msg)

    def test_written_with_notes_for_the_absent_sweep_figures(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        self.assertEqual(self.result.stderr, "")
        self.assertEqual(figure_files(self.out), sorted(f"{n}.{e}" for n in PROPAGATION_FIGURES
                                                        for e in ("png", "svg")))
        for name in FIGURES[:7]:
            self.assertIn(f"skipped {name}:", self.result.stdout)
        for name in PROPAGATION_FIGURES:
            width, height = png_size(os.path.join(self.out, f"{name}.png"))
            self.assertGreater(width, 600, name)
            self.assertGreater(height, 400, name)
            fig = self.dump["figures"][name]
            self.assertTrue(fig["title"] and fig["footer"], name)
            for p in fig["panels"]:
                self.assertTrue(p["xlabel"] and p["ylabel"] and p["title"], name)
        self.assertEqual(len(self.dump["figures"]["propagation_depth"]["panels"]), 2)
        self.assertEqual(self.dump["inputs"]["propagate"][0]["rows"], len(self.rows))

    def test_depth_means_over_seeds(self):
        key = self.KEY + ("T",)
        for panel, column in ((0, "stable_rank"), (1, "stable_rank4")):
            want = prop_expected(self.rows, column, "layer", lambda r: True, key)
            self.assertEqual(len(want), 7)  # 2 fixes x 3 T (plain) + skip with LayerNorm
            self.assertEqual(len(self.series(self.dump, "propagation_depth", panel,
                                             kind="mean_sd")), 7)
            for k, by_layer in want.items():
                s = self.find(self.dump, "propagation_depth", panel, column, k[:3], int(k[3]))
                self.check(s, by_layer, f"depth {column} {k}")
                self.assertEqual(s["x"], [0, 1, 2])
                self.assertEqual(set(s["n"]), {2 if k[0] == "skip" else 3})

    def test_width_at_layer_1_with_theory(self):
        for panel, column in ((0, "stable_rank"), (1, "stable_rank4")):
            want = prop_expected(self.rows, column, "T", lambda r: r["layer"] == "1", self.KEY)
            for k, by_T in want.items():
                self.check(self.find(self.dump, "propagation_width", panel, column, k), by_T,
                           f"width {column} {k}")
        lines = {s["formula"]: s for s in self.series(self.dump, "propagation_width",
                                                      kind="theory")}
        self.assertEqual(set(lines), {"4T/27", "1 + c^2", "48T/729", "1"})
        for formula, fn in (("4T/27", lambda T: 4 * T / 27), ("48T/729", lambda T: 48 * T / 729),
                            ("1 + c^2", lambda T: 2.0), ("1", lambda T: 1.0)):
            s = lines[formula]
            self.assertIn("PAPER.md", s["label"])
            self.assertEqual((min(s["x"]), max(s["x"])), (16, 64))
            self.assertClose(s["y"], [fn(T) for T in s["x"]], msg=formula)

    def test_width_at_another_layer(self):
        dump_path = os.path.join(self.tmp, "layer2.json")
        r = run_plot(PROPAGATE, "--out", os.path.join(self.tmp, "l2"), "--only",
                     "propagation_width", "--prop-layer", "2", "--dump-data", dump_path,
                     "--formats", "png")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(dump_path) as f:
            dump = json.load(f)
        want = prop_expected(self.rows, "stable_rank", "T", lambda r: r["layer"] == "2",
                             self.KEY)
        for k, by_T in want.items():
            self.check(self.find(dump, "propagation_width", 0, "stable_rank", k), by_T,
                       f"width layer 2 {k}")
        self.assertEqual(self.series(dump, "propagation_width", kind="theory"), [])
        r = run_plot(PROPAGATE, "--out", os.path.join(self.tmp, "l9"), "--only",
                     "propagation_width,propagation_depth", "--prop-layer", "9")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("skipped propagation_width: no rows at layer 9", r.stdout)

    def test_gradient_means_and_slopes(self):
        want = prop_expected(self.rows, "log_grad_sq", "T", lambda r: r["layer"] == "1",
                             self.KEY)
        self.assertEqual(set(want), {("plain", "none", "0"), ("plain", "center", "0")})
        self.assertEqual(len(self.series(self.dump, "propagation_gradient", kind="mean_sd")), 2)
        slopes = {}
        for k, by_T in want.items():
            s = self.find(self.dump, "propagation_gradient", 0, "log_grad_sq", k)
            self.check(s, by_T, f"gradient {k}")
            fit = statistics.linear_regression([math.log(T) for T in by_T],
                                               [m for m, _, _ in by_T.values()])
            self.assertAlmostEqual(s["slope"], fit.slope, delta=1e-12)
            self.assertAlmostEqual(s["intercept"], fit.intercept, delta=1e-10)
            self.assertIn(f"slope {fit.slope:.2f}", s["series_label"])
            slopes[k[1]] = fit.slope
        # the paper's picture, even on this tiny fixture: ~2 with A, ~1.1 with A_perp
        self.assertAlmostEqual(slopes["none"], 2.0, delta=0.3)
        self.assertAlmostEqual(slopes["center"], 1.1, delta=0.3)

    def test_run_column_instead_of_index(self):
        # the sweep version of gapbench propagate: leading point and run columns, no index
        d = os.path.join(self.tmp, "with_run")
        shutil.copytree(PROPAGATE, d)
        fields = ["point", "run"] + [f for f in self.rows[0] if f != "index"]
        with open(os.path.join(d, "rows.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
            w.writeheader()
            for i, r in enumerate(self.rows):
                w.writerow(dict(r, point=i // 3, run=r["index"]))
        with open(os.path.join(d, "meta.json")) as f:
            meta = json.load(f)
        meta["schema"] = "gapbench.propagate/2"
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(meta, f)
        dump_path = os.path.join(self.tmp, "run.json")
        r = run_plot(d, "--out", os.path.join(self.tmp, "run_out"), "--formats", "png",
                     "--dump-data", dump_path)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(dump_path) as f:
            dump = json.load(f)
        for name in PROPAGATION_FIGURES:
            for a, b in zip(dump["figures"][name]["panels"],
                            self.dump["figures"][name]["panels"]):
                self.assertEqual(a["series"], b["series"], name)

    def test_recognised_by_the_layer_column_and_mixed_with_a_sweep(self):
        d = os.path.join(self.tmp, "no_schema")
        shutil.copytree(PROPAGATE, d)
        with open(os.path.join(d, "meta.json")) as f:
            meta = json.load(f)
        del meta["schema"]
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(meta, f)
        dump_path = os.path.join(self.tmp, "mixed.json")
        r = run_plot(SWEEP, d, "--out", os.path.join(self.tmp, "mixed"), "--formats", "png",
                     "--only", "gap_vs_T,propagation_gradient", "--dump-data", dump_path)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(dump_path) as f:
            dump = json.load(f)
        self.assertEqual(set(dump["figures"]), {"gap_vs_T", "propagation_gradient"})
        self.assertEqual(len(dump["figures"]["gap_vs_T"]["footer"]), 1)
        self.assertIn("sweep", dump["figures"]["gap_vs_T"]["footer"][0])
        self.assertIn("propagate", dump["figures"]["propagation_gradient"]["footer"][0])
        self.assertEqual(dump["figures"]["propagation_gradient"]["panels"],
                         self.dump["figures"]["propagation_gradient"]["panels"])


class TestOverlayAndDefaults(PlotTestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="plot_test_")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def copy_sweep(self, name, values=True, **meta_changes):
        d = os.path.join(self.tmp, name)
        shutil.copytree(SWEEP, d)
        if not values:
            os.remove(os.path.join(d, "values.csv"))
        path = os.path.join(d, "meta.json")
        with open(path) as f:
            meta = json.load(f)
        for key, value in meta_changes.items():
            section, field = key.split("__")
            meta[section][field] = value
        with open(path, "w") as f:
            json.dump(meta, f)
        return d

    def test_two_sweeps_overlay(self):
        a = self.copy_sweep("cpu_run")
        b = self.copy_sweep("gpu_run", backend__name="cuda", backend__device="NVIDIA H100",
                            build__commit="abcdef123456")
        out = os.path.join(self.tmp, "out")
        dump_path = os.path.join(self.tmp, "d.json")
        r = run_plot(a, b, "--out", out, "--formats", "png", "--only",
                     "gap_vs_T,bulk_histogram", "--dump-data", dump_path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(figure_files(out), ["bulk_histogram.png", "gap_vs_T.png"])
        with open(dump_path) as f:
            dump = json.load(f)
        self.assertEqual(set(dump["figures"]), {"gap_vs_T", "bulk_histogram"})
        s1 = self.series(dump, "gap_vs_T", kind="mean_sd", quantity="s1")
        self.assertEqual(len(s1), 4)  # 2 models x 2 sets
        self.assertEqual(len({s["label"] for s in s1}), 4)
        self.assertEqual(len({s["color"] for s in s1}), 4)
        self.assertTrue(any("NVIDIA H100" in s["label"] for s in s1))
        self.assertTrue(any("@abcdef1" in s["label"] for s in s1))
        for si in (0, 1):  # both sets plot the same rows here
            s = self.one(dump, "gap_vs_T", kind="mean_sd", quantity="s1", series="markov", set=si)
            want = expected_stats(read_rows(), "none", "s1", "markov")
            self.assertClose(s["y"], [m for m, _, _ in want.values()])
        footer = dump["figures"]["gap_vs_T"]["footer"]
        self.assertEqual(len(footer), 2)
        self.assertIn("NVIDIA H100", footer[1])
        self.assertEqual(len(self.series(dump, "bulk_histogram", kind="hist")), 8)

    def test_plot_dir_alone_writes_into_it_and_skips_absent_data(self):
        # the usage of scripts/sweep.sh and gapbench sweep --plot: plot.py DIR
        d = self.copy_sweep("run", values=False)
        r = run_plot(d)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(figure_files(d), sorted(f"{n}.{e}" for n in SWEEP_FIGURES[:3]
                                                 for e in ("png", "svg")))
        skipped = [line for line in r.stdout.splitlines() if "skipped" in line]
        self.assertEqual(len(skipped), 8)
        for name in ("bulk_histogram", "solver_error_vs_T", "throughput_vs_T", "accuracy_vs_time",
                     "regression", *PROPAGATION_FIGURES):
            self.assertEqual(len([x for x in skipped if f"skipped {name}:" in x]), 1, name)

    def edited_sweep(self, name, edit):
        """A copy of the fixture sweep (no values.csv) whose rows.csv went through edit(rows):
        the directory and the edited rows."""
        d = self.copy_sweep(name, values=False)
        path = os.path.join(d, "rows.csv")
        with open(path) as f:
            rows = list(csv.DictReader(f))
        edit(rows)
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            w.writeheader()
            w.writerows(rows)
        return d, rows

    def plot_one(self, directory, figure):
        """The --dump-data of plot.py drawing `figure` alone from `directory` (exit 0)."""
        dump_path = os.path.join(self.tmp, f"{figure}.json")
        r = run_plot(directory, "--only", figure, "--formats", "png", "--out",
                     os.path.join(self.tmp, f"out_{figure}"), "--dump-data", dump_path)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(dump_path) as f:
            return json.load(f)

    def test_fused_rows_mark_where_the_dense_path_stops(self):
        # schema 2's operator column: rows at the two largest T computed matrix-free
        def fused_at_the_top(rows):
            Ts = sorted({int(r["T"]) for r in rows})
            for r in rows:
                r["operator"] = "fused" if int(r["T"]) >= Ts[-2] else "dense"
        d, rows = self.edited_sweep("auto", fused_at_the_top)
        Ts = sorted({int(r["T"]) for r in rows})
        dump = self.plot_one(d, "gap_vs_T")
        line = self.one(dump, "gap_vs_T", kind="vline")
        self.assertEqual(line["x"], [Ts[-2]])
        self.assertIn(f"dense up to T = {Ts[-3]}", line["label"])
        self.assertIn(f"fused (matrix-free) from T = {Ts[-2]}", line["label"])
        # schema 1 files have no operator column: no marker
        plain = self.copy_sweep("plain", values=False)
        self.assertEqual(self.series(self.plot_one(plain, "gap_vs_T"), "gap_vs_T", kind="vline"),
                         [])

    def test_solver_error_from_the_reference_columns(self):
        # --reference auto's columns: max_rel_err per row; rows that are their own reference
        # (exact/float64 against exact/float64) are left out, the others averaged over seeds
        def with_errors(rows):
            for i, r in enumerate(rows):
                own = i % 5 == 0
                r["reference"] = (f"{r['solver']}/{r['precision']}" if own
                                  else "lanczos/float64/tol:1e-10")
                r["max_rel_err"] = repr(10.0 ** -(3 + i % 7))
                r["rel_err_s2"] = ""
        d, rows = self.edited_sweep("reference", with_errors)
        dump = self.plot_one(d, "solver_error_vs_T")
        for model in ("markov", "attention"):
            by_T = defaultdict(list)
            for i, row in enumerate(rows):
                if (row["model"] == model and row["fix"] == "none" and row["converged"] == "1"
                        and i % 5 != 0):
                    by_T[int(row["T"])].append(float(row["max_rel_err"]))
            s = self.one(dump, "solver_error_vs_T", kind="mean_sd", fix="none", series=model)
            self.assertEqual(s["x"], sorted(by_T))
            self.assertClose(s["y"], [mean_sd(by_T[T])[0] for T in sorted(by_T)],
                             msg=f"{model} max_rel_err mean")
        # without the columns (a sweep run without --reference) the figure is skipped
        plain = self.copy_sweep("no_reference", values=False)
        r = run_plot(plain, "--only", "solver_error_vs_T", "--formats", "png", "--out",
                     os.path.join(self.tmp, "out_none"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("--reference auto", r.stderr)

    def test_torn_last_line_is_dropped(self):
        d = self.copy_sweep("torn", values=False)
        with open(os.path.join(d, "rows.csv"), "a") as f:
            f.write("99,0,0,markov,exponential,,,")
        r = run_plot(d, "--only", "gap_vs_T", "--formats", "png")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("torn last line", r.stdout)


class TestErrors(PlotTestCase):
    """Bad input: one line "plot.py: error: ..." on stderr, exit 2, no figure written."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="plot_test_")
        self.out = os.path.join(self.tmp, "out")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def assertFails(self, *args, contains="", env=None):
        r = run_plot(*args, "--out", self.out, env=env)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("plot.py: error: "), lines[0])
        self.assertIn(contains, lines[0])
        self.assertEqual(figure_files(self.out), [])
        return lines[0]

    def broken_sweep(self, edit):
        d = os.path.join(self.tmp, "sweep")
        shutil.copytree(SWEEP, d)
        path = os.path.join(d, "rows.csv")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(edit(text))
        return d

    def broken_propagate(self, edit, meta_edit=None):
        d = os.path.join(self.tmp, "propagate")
        shutil.copytree(PROPAGATE, d)
        path = os.path.join(d, "rows.csv")
        with open(path) as f:
            text = f.read()
        edited = edit(text)
        self.assertNotEqual(edited, text)
        with open(path, "w") as f:
            f.write(edited)
        return d

    def test_propagate_rows_with_a_bad_number(self):
        def edit(text):
            lines = text.splitlines(keepends=True)
            header = lines[0].split(",")
            cells = lines[5].split(",")
            cells[header.index("stable_rank")] = "oops"
            lines[5] = ",".join(cells)
            return "".join(lines)
        self.assertFails(self.broken_propagate(edit), contains="rows.csv:6: column stable_rank")

    def test_propagate_rows_malformed(self):
        for edit, contains in (
                (lambda t: t.replace(",layer,", ",layr,", 1), "layer"),  # schema says propagate
                (lambda t: t.replace(",index,", ",idx,", 1), "run (or index)"),
                (lambda t: t.replace("\n", "\n1,2,3\n", 1), "fields"),
                (lambda t: t.replace(",16,1,0,0,0,", ",16,1,0,0,0.5,", 1), "layer = 0.5"),
                (lambda t: t.replace(",plain,0,", ",plain,maybe,", 1), "layernorm")):
            shutil.rmtree(os.path.join(self.tmp, "propagate"), ignore_errors=True)
            self.assertFails(self.broken_propagate(edit), contains=contains)
        self.assertFails(PROPAGATE, "--prop-layer", "-1", contains="--prop-layer")

    def test_missing_directory(self):
        self.assertFails(os.path.join(self.tmp, "nope"), contains="no such directory")

    def test_directory_without_rows(self):
        d = os.path.join(self.tmp, "empty")
        os.mkdir(d)
        self.assertFails(d, contains="rows.csv")

    def test_rows_without_needed_columns(self):
        d = self.broken_sweep(lambda t: t.replace("converged", "convergd", 1))
        self.assertFails(d, contains="converged")

    def test_rows_with_a_bad_number(self):
        lines_ = []

        def edit(text):
            lines = text.splitlines(keepends=True)
            cells = lines[3].split(",")
            cells[18] = "not-a-number"  # s1
            lines[3] = ",".join(cells)
            lines_.append(lines[0].split(",")[18])
            return "".join(lines)
        d = self.broken_sweep(edit)
        self.assertEqual(lines_, ["s1"])
        self.assertFails(d, contains="rows.csv:4")

    def test_rows_with_a_short_line(self):
        d = self.broken_sweep(lambda t: t.replace("\n", "\n1,2,3\n", 1))
        self.assertFails(d, contains="fields")

    def test_malformed_meta(self):
        d = os.path.join(self.tmp, "sweep")
        shutil.copytree(SWEEP, d)
        with open(os.path.join(d, "meta.json"), "w") as f:
            f.write('{"schema": "gapbench.sweep/1", ')
        self.assertFails(d, contains="malformed JSON")

    def test_malformed_bench_json_writes_nothing_even_for_a_good_sweep(self):
        bad = os.path.join(self.tmp, "bad.json")
        with open(BENCH) as f:
            text = f.read()
        with open(bad, "w") as f:
            f.write(text[:len(text) // 2])
        self.assertFails(SWEEP, "--bench", bad, contains="malformed JSON")

    def test_bench_json_that_is_not_google_benchmark(self):
        bad = os.path.join(self.tmp, "x.json")
        with open(bad, "w") as f:
            json.dump({"rows": []}, f)
        self.assertFails("--bench", bad, contains="not Google Benchmark JSON")

    def test_malformed_compare_json(self):
        bad = os.path.join(self.tmp, "cmp.json")
        with open(bad, "w") as f:
            f.write("{]")
        self.assertFails("--compare", bad, contains="malformed JSON")
        self.assertFails("--compare", os.path.join(self.tmp, "none.json"), contains="no such")

    def test_bad_options(self):
        self.assertFails(SWEEP, "--only", "gap_vs_T,nonsense", contains="nonsense")
        self.assertFails(SWEEP, "--formats", "png,gif", contains="--formats")
        self.assertFails(contains="nothing to plot")
        self.assertFails(SWEEP, "--no-such-flag", contains="--no-such-flag")

    def test_matplotlib_missing(self):
        fake = os.path.join(self.tmp, "fake")
        os.makedirs(os.path.join(fake, "matplotlib"))
        with open(os.path.join(fake, "matplotlib", "__init__.py"), "w") as f:
            f.write("raise ImportError('No module named matplotlib', name='matplotlib')\n")
        env = dict(os.environ, PYTHONPATH=fake)
        line = self.assertFails(SWEEP, contains="apt-get install python3-matplotlib", env=env)
        self.assertIn("pip install -r scripts/requirements-plot.txt", line)


if __name__ == "__main__":
    unittest.main()
