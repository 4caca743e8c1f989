"""The propagation figures (propagation_depth, propagation_width, propagation_gradient) from
tests/python/data/propagate: the series plot.py says it drew (--dump-data) against the means
over seeds computed here from rows.csv, PAPER.md's limits and the least-squares slopes."""
import json
import math
import os
import statistics
import sys
import unittest
from collections import defaultdict

from plot_support import (FIGURES, PROPAGATE, PROPAGATION_FIGURES, ROOT, PropagationCase,
                          figure_files, mean_sd, png_size, run_plot)


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


class TestPropagation(PropagationCase):
    """The propagation figures from tests/python/data/propagate (rows of gapbench propagate)."""

    KEY = ("variant", "fix", "layernorm")

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
        for name in FIGURES[:8]:
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


class TestMarkovC(unittest.TestCase):
    """The c of a propagate row: schema 3 rows carry it (any law, gamma included); schema 2 rows
    (the fixture's) take it from their law."""

    def test_the_c_column_wins_and_schema_2_rows_fall_back_to_the_law(self):
        sys.path.insert(0, os.path.join(ROOT, "scripts"))
        from gapbench_plot.propagation_figures import markov_c
        self.assertEqual(markov_c({"attention": "markov", "law": "gamma", "beta": 4.0, "c": 0.5}),
                         0.5)
        self.assertIsNone(markov_c({"attention": "markov", "law": "gamma", "beta": 4.0}))
        self.assertEqual(markov_c({"attention": "markov", "law": "exponential"}), 1.0)
        self.assertAlmostEqual(markov_c({"attention": "markov", "law": "lognormal", "beta": 1.0}),
                               math.sqrt(math.e - 1), places=15)
        self.assertIsNone(markov_c({"attention": "attention", "law": "exponential", "c": 1.0}))


if __name__ == "__main__":
    unittest.main()


class TestGradientPanels(unittest.TestCase):
    """propagation_gradient's panel per network and propagation_gradient_depth, from a rows.csv
    written here: log_grad_sq = a + b ln T + c L + a fixed wobble per run, so the least-squares
    slopes and their standard errors are known."""

    NETWORKS = (("skip", "1", "attention"), ("plain", "0", "markov"))
    SLOPE_T = {("skip", "none"): 2.0, ("skip", "center"): 1.0,
               ("plain", "none"): 1.5, ("plain", "center"): 0.5}
    SLOPE_L = {"none": 0.7, "center": 0.1}
    WOBBLE = (0.03, -0.05, 0.02)

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.tmp = tempfile.mkdtemp(prefix="gapbench-grad-")
        cls.dir = os.path.join(cls.tmp, "prop")
        os.makedirs(cls.dir)
        with open(os.path.join(cls.dir, "meta.json"), "w") as f:
            json.dump({"schema": "gapbench.propagate/4"}, f)
        cols = ["point", "run", "T", "L", "variant", "layernorm", "attention", "fix", "layer",
                "stable_rank", "log_grad_sq", "log_grad_se", "grad_probes"]
        lines = [",".join(cols)]
        cls.points = defaultdict(list)  # (variant, fix, L or T axis) -> [(x, y)]
        for variant, ln, source in cls.NETWORKS:
            for fix in ("none", "center"):
                for T, L in [(32, 2), (64, 2), (128, 2), (64, 1), (64, 3), (64, 4)]:
                    for run, w in enumerate(cls.WOBBLE):
                        y = (1.0 + cls.SLOPE_T[(variant, fix)] * math.log(T)
                             + cls.SLOPE_L[fix] * L + w * (1 + L + T / 64))
                        if L == 2:
                            cls.points[(variant, fix, "T")].append((math.log(T), y))
                        if T == 64:
                            cls.points[(variant, fix, "L")].append((L, y))
                        for layer in range(L + 1):
                            value = f"{y:.17g}" if layer == 1 else ""
                            lines.append(",".join(str(v) for v in (
                                0, run, T, L, variant, ln, source, fix, layer, 2.0, value,
                                "0.05" if value else "", "16" if value else "")))
        with open(os.path.join(cls.dir, "rows.csv"), "w") as f:
            f.write("\n".join(lines) + "\n")
        cls.dump_path = os.path.join(cls.tmp, "dump.json")
        cls.result = run_plot(cls.dir, "--out", os.path.join(cls.tmp, "figs"), "--only",
                              "propagation_gradient,propagation_gradient_depth", "--formats",
                              "png", "--dump-data", cls.dump_path)
        with open(cls.dump_path) as f:
            cls.dump = json.load(f)

    @staticmethod
    def fit(points):
        xs, ys = [x for x, _ in points], [y for _, y in points]
        fit = statistics.linear_regression(xs, ys)
        mx = sum(xs) / len(xs)
        sxx = sum((x - mx) ** 2 for x in xs)
        rss = sum((y - fit.intercept - fit.slope * x) ** 2 for x, y in zip(xs, ys))
        return fit.slope, math.sqrt(rss / (len(xs) - 2) / sxx)

    def test_written(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)

    def test_against_T_a_panel_per_network(self):
        # networks of L = 1, 3, 4 at T = 64 alone are their own series (one T: no slope)
        panels = self.dump["figures"]["propagation_gradient"]["panels"]
        for panel in panels:
            fitted = [s for s in panel["series"] if "L=2" in s["series_label"]]
            self.assertEqual(len(fitted), 2)
            for s in fitted:
                variant = s["variant"]
                slope, se = self.fit(self.points[(variant, s["fix"], "T")])
                self.assertAlmostEqual(s["slope"], slope, delta=1e-10)
                self.assertAlmostEqual(s["slope_se"], se, delta=1e-10)
                self.assertIn(f"slope {slope:.2f} ± {se:.2f}", s["series_label"])

    def test_against_depth(self):
        panels = self.dump["figures"]["propagation_gradient_depth"]["panels"]
        self.assertEqual([p["title"].split(":")[0] for p in panels],
                         ["skip + LayerNorm, attention", "plain, markov"])
        for panel, (variant, _, _) in zip(panels, self.NETWORKS):
            fitted = [s for s in panel["series"] if "T=64" in s["series_label"]]
            self.assertEqual(len(fitted), 2)
            for s in fitted:
                slope, se = self.fit(self.points[(variant, s["fix"], "L")])
                self.assertAlmostEqual(s["slope"], slope, delta=1e-10)
                self.assertAlmostEqual(s["slope_se"], se, delta=1e-10)
                self.assertAlmostEqual(s["slope"], self.SLOPE_L[s["fix"]], delta=0.05)
                self.assertIn(f"slope {slope:.2f} ± {se:.2f} per layer", s["series_label"])
