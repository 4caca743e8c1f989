"""The sweep figures (gap_vs_T, ratio_vs_T, fix_and_stable_rank, bulk_histogram,
solver_error_vs_T): the series plot.py says it drew (--dump-data) against the means, sds and
histograms computed here from rows.csv and values.csv; overlays of two sweeps; and rows edited
into the columns of newer sweeps (operator, reference)."""
import csv
import json
import math
import os
import statistics
import unittest
from collections import defaultdict

from plot_support import (SWEEP, AllFiguresCase, TempDirCase, expected_stats, figure_files,
                          mean_sd, read_rows, run_plot)


class TestSweepFigures(AllFiguresCase):
    """The sweep figures of the run over every fixture."""

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


class TestEditedSweeps(TempDirCase):
    """Copies of the fixture sweep: two overlaid, and rows.csv with the columns of newer sweeps."""

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


if __name__ == "__main__":
    unittest.main()
