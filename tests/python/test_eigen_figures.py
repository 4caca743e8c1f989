"""Schema gapbench.sweep/4 (issue 16): the readers of eigen rows (spectrum, lambda columns, the
eigen metrics, values.csv's value_im) beside /1 to /3, and the figures eigen_gap_vs_T and
eigen_scatter, whose plotted series (--dump-data) are checked against numbers computed here from
the fixtures' text (data/sweep_eigen: eigen rows only; data/sweep_mixed: data/sweep's singular
rows and eigen rows of fix none, center and deflate; both made with numpy; data/sweep_writer4:
a small sweep of both spectra written by gapbench itself). The singular figures must read the same
from the mixed fixture as from data/sweep: the eigen rows are not theirs."""
import csv
import json
import math
import os
import shutil
import sys
import unittest
from collections import defaultdict

from plot_support import (ROOT, SWEEP, SWEEP_EIGEN, SWEEP_MIXED, SWEEP_WRITER4,
                          SharedRunCase, TempDirCase, cell_edit, expected_stats, figure_files,
                          mean_sd, png_size, read_rows, run_every_fixture, run_fixture, run_plot,
                          shared_run)

sys.path.insert(0, os.path.join(ROOT, "scripts"))
from gapbench_plot import eigen_figures, readers  # noqa: E402 (the path first)

EIGEN_FIGURES = ("eigen_gap_vs_T", "eigen_scatter")
SINGULAR_FIGURES = ("gap_vs_T", "ratio_vs_T", "fix_and_stable_rank", "bulk_histogram")
# rows.csv and values.csv hold 17 significant digits: the plotted numbers are those numbers,
# and a mean or a modulus formed here in another order differs only by rounding
REL = 1e-12


def lambdas(row):
    """The eigenvalues of a rows.csv line (text), from its lambda columns."""
    out = []
    j = 1
    while f"lambda{j}_re" in row:
        if row[f"lambda{j}_re"]:
            out.append(complex(float(row[f"lambda{j}_re"]), float(row[f"lambda{j}_im"])))
        j += 1
    return out


def eigen_values_csv(directory):
    """{(point, index): [complex]} in rank order, from values.csv's text (value_im set)."""
    out = defaultdict(list)
    with open(os.path.join(directory, "values.csv"), newline="") as f:
        for r in csv.DictReader(f):
            if r["value_im"]:
                out[(r["point"], r["index"])].append(
                    (int(r["rank"]), complex(float(r["value"]), float(r["value_im"]))))
    return {k: [z for _, z in sorted(v, key=lambda x: x[0])] for k, v in out.items()}


def by_T(rows, fix, quantity):
    """{T: (mean, sd, n)} of quantity(row) over the converged eigen rows of fix."""
    cells = defaultdict(list)
    for r in rows:
        if r.get("spectrum") == "eigen" and r["fix"] == fix and r["converged"] == "1":
            cells[int(r["T"])].append(quantity(r))
    return {T: (*mean_sd(v), len(v)) for T, v in sorted(cells.items())}


def run_eigen_fixture(run):
    run_fixture(run, SWEEP_EIGEN)


def run_mixed_fixture(run):
    run_fixture(run, SWEEP_MIXED, "--formats", "png")


class TestReaders(unittest.TestCase):
    """The readers, called directly: schema 4 and, unchanged, the /1 fixture data/sweep."""

    def test_eigen_only_sweep(self):
        s = readers.load_dir(SWEEP_EIGEN, need_values=True)
        text = read_rows(SWEEP_EIGEN)
        self.assertEqual(s.rows, [])  # no singular row
        self.assertEqual(len(s.eigen_rows), len(text))
        self.assertEqual(len(text), 18)
        self.assertEqual([line["s1"] for line in text], [""] * len(text))  # columns, empty
        for row, line in zip(s.eigen_rows, text):
            self.assertEqual(row["spectrum"], "eigen")
            self.assertEqual(row["T"], int(line["T"]))
            self.assertEqual(row["ok"], line["converged"] == "1")
            self.assertEqual(readers.eigenvalues_of(row), lambdas(line))
            for key in ("lambda1_dist", "abs_lambda2", "eigen_gap", "eigen_edge_ratio", "c",
                        "frob", "frob_perp_over_c2"):
                self.assertEqual(row[key], float(line[key]), key)
            self.assertIsNone(row["gap"])
            self.assertIsNone(row["stable_rank"])
        # k = 4: four eigenvalues, or five where the fourth opens a conjugate pair
        counts = [len(readers.eigenvalues_of(r)) for r in s.eigen_rows]
        self.assertEqual(set(counts), {4, 5})
        for r in s.eigen_rows:
            zs = readers.eigenvalues_of(r)
            if len(zs) == 5:
                self.assertGreater(zs[3].imag, 0)
                self.assertEqual(zs[4], zs[3].conjugate())
        # values.csv: every eigenvalue of every row, with its imaginary part
        want = eigen_values_csv(SWEEP_EIGEN)
        self.assertEqual(s.values, {})
        self.assertEqual(len(s.eigen_values), len(text))
        for line in text:
            key = (int(line["point"]), int(line["index"]))
            got = s.eigen_values[key]
            self.assertEqual([rank for rank, _ in got], list(range(1, int(line["T"]) + 1)))
            self.assertEqual([z for _, z in got], want[(line["point"], line["index"])])
            self.assertTrue(any(z.imag != 0 for _, z in got))

    def test_schema_1_reads_as_before(self):
        s = readers.load_dir(SWEEP, need_values=True)
        text = read_rows(SWEEP)
        self.assertEqual(len(s.rows), len(text))
        self.assertEqual(s.eigen_rows, [])
        self.assertTrue(all(r["spectrum"] == "singular" for r in s.rows))
        for row, line in zip(s.rows, text):
            self.assertEqual(row["s1"], float(line["s1"]))
        with open(os.path.join(SWEEP, "values.csv"), newline="") as f:
            lines = list(csv.DictReader(f))
        self.assertNotIn("value_im", lines[0])
        self.assertEqual(sum(len(v) for v in s.values.values()), len(lines))
        first = lines[0]
        self.assertEqual(s.values[(int(first["point"]), int(first["index"]))][0],
                         (int(first["rank"]), float(first["value"])))
        self.assertEqual(s.eigen_values, {})

    def test_mixed_sweep_splits_rows_and_values(self):
        s = readers.load_dir(SWEEP_MIXED, need_values=True)
        text = read_rows(SWEEP_MIXED)
        singular = [r for r in text if r["spectrum"] == "singular"]
        eigen = [r for r in text if r["spectrum"] == "eigen"]
        self.assertEqual((len(s.rows), len(s.eigen_rows)), (len(singular), len(eigen)))
        self.assertEqual(len(singular), len(read_rows(SWEEP)))
        self.assertEqual({r["fix"] for r in s.eigen_rows}, {"none", "center", "deflate"})
        self.assertTrue(all(r["s1"] is None for r in s.eigen_rows))
        self.assertTrue(all(r["lambda1_re"] is None for r in s.rows))
        # the singular values are those of data/sweep, the eigenvalues only the eigen rows'
        old = readers.load_dir(SWEEP, need_values=True)
        self.assertEqual(s.values, old.values)
        self.assertEqual(set(s.eigen_values),
                         {(int(r["point"]), int(r["index"])) for r in eigen})
        self.assertIn("36 singular, 18 eigen", s.footer)


class TestWithoutSColumns(TempDirCase):
    """A /4 file without s columns (an eigen-only plan, should the writer drop them) reads the
    same: s1 is needed only in the singular rows."""

    def test_no_s_columns(self):
        d = os.path.join(self.tmp, "no_s")
        shutil.copytree(SWEEP_EIGEN, d)
        os.remove(os.path.join(d, "values.csv"))
        rows = read_rows(d)
        fields = [k for k in rows[0] if not (k.startswith("s") and k[1:].isdigit())]
        self.assertNotIn("s1", fields)
        with open(os.path.join(d, "rows.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore",
                               lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
        s = readers.load_dir(d, need_values=False)
        full = readers.load_dir(SWEEP_EIGEN, need_values=False)
        self.assertEqual([readers.eigenvalues_of(r) for r in s.eigen_rows],
                         [readers.eigenvalues_of(r) for r in full.eigen_rows])
        dump = self.plot_one(d, "eigen_gap_vs_T")
        self.assertEqual(len(self.series(dump, "eigen_gap_vs_T", 0, kind="mean_sd")), 4)


class TestBadSchema4Input(TempDirCase):
    """Malformed schema 4 input: one line "plot.py: error: ...", exit 2, no figure."""

    def edited_eigen(self, edit, values=True):
        return self.edited_copy(SWEEP_EIGEN, "eigen", edit, drop=() if values else ("values.csv",))

    def test_unknown_spectrum(self):
        d = self.edited_eigen(lambda t: t.replace(",dense,eigen,", ",dense,eigne,", 1),
                              values=False)
        self.assertFails(d, contains="spectrum = 'eigne'")

    def test_eigen_row_without_lambda1(self):
        self.assertFails(self.edited_eigen(cell_edit(2, "lambda1_re", ""), values=False),
                         contains="rows.csv:3: column lambda1_re is empty")

    def test_neither_s1_nor_spectrum(self):
        d = self.edited_eigen(lambda t: t.replace(",spectrum,s1,", ",spectra,s0,", 1),
                              values=False)
        self.assertFails(d, contains="lacks the column(s) s1 or spectrum")
        # with s1 and no spectrum, a /3 reader's view: every row singular, so s1 is needed
        d = self.edited_eigen(lambda t: t.replace(",spectrum,", ",spectra,", 1), values=False)
        self.assertFails(d, contains="rows.csv:2: column s1 is empty")

    def test_values_with_a_bad_header_or_imaginary_part(self):
        d = os.path.join(self.tmp, "eigen")
        shutil.copytree(SWEEP_EIGEN, d)
        path = os.path.join(d, "values.csv")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("value_im", "value_imag", 1))
        self.assertFails(d, "--only", "eigen_scatter", contains="value_im")
        with open(path, "w") as f:
            lines = text.split("\n")
            lines[3] = lines[3].rsplit(",", 1)[0] + ",oops"
            f.write("\n".join(lines))
        self.assertFails(d, "--only", "eigen_scatter", contains="values.csv:4")


class EigenCase(SharedRunCase):
    fixture = staticmethod(run_eigen_fixture)


class TestEigenFigures(EigenCase):
    """plot.py over data/sweep_eigen (eigen rows only)."""

    def test_eigen_figures_drawn_singular_skipped(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        self.assertEqual(figure_files(self.out), sorted(f"{n}.{e}" for n in EIGEN_FIGURES
                                                        for e in ("png", "svg")))
        for name in EIGEN_FIGURES:
            w, h = png_size(os.path.join(self.out, f"{name}.png"))
            self.assertGreater(w, 600)
            self.assertGreater(h, 300)
        for name in SINGULAR_FIGURES + ("solver_error_vs_T",):
            self.assertIn(f"skipped {name}: no singular rows", self.result.stdout)
            self.assertIn(name, self.dump["skipped"])
        self.assertEqual(self.dump["inputs"]["sweeps"][0]["eigen_rows"], 18)

    def test_lambda1_and_lambda2_per_fix(self):
        quantities = {
            "abs_lambda1": lambda r: abs(complex(float(r["lambda1_re"]),
                                                 float(r["lambda1_im"]))),
            "abs_lambda2": lambda r: float(r["abs_lambda2"])}
        for fix in ("none", "center"):
            for eigen, quantity in quantities.items():
                want = by_T(self.rows, fix, quantity)
                s = self.one(self.dump, "eigen_gap_vs_T", 0, kind="mean_sd", fix=fix,
                             eigen=eigen)
                self.assertEqual(s["x"], [256, 512, 1024])
                self.assertEqual(s["x"], list(want))
                self.assertClose(s["y"], [m for m, _, _ in want.values()], rel=REL,
                                 msg=f"{fix} {eigen} mean")
                self.assertClose(s["yerr"], [sd for _, sd, _ in want.values()], rel=1e-9,
                                 msg=f"{fix} {eigen} sd")
                self.assertEqual(s["n"], [n for _, _, n in want.values()])
        # the column abs_lambda2 is the modulus of lambda2
        for r in self.rows:
            self.assertAlmostEqual(float(r["abs_lambda2"]), abs(lambdas(r)[1]), delta=1e-15)

    def test_outlier_and_its_removal(self):
        c = math.sqrt(math.e - 1)
        none = self.one(self.dump, "eigen_gap_vs_T", 0, kind="mean_sd", fix="none",
                        eigen="abs_lambda1")
        center = self.one(self.dump, "eigen_gap_vs_T", 0, kind="mean_sd", fix="center",
                          eigen="abs_lambda1")
        for T, y in zip(none["x"], none["y"]):
            self.assertAlmostEqual(y, 1.0, delta=1e-12, msg=f"|λ1(A)| at T = {T}")
        for T, y in zip(center["x"], center["y"]):
            # the circular law's edge, to the fluctuation of the largest of T values
            self.assertLess(abs(y * math.sqrt(T) / c - 1), 0.15, f"|λ1(A⊥)| at T = {T}")

    def test_theory_lines(self):
        cs = {float(r["c"]) for r in self.rows}
        self.assertEqual(len(cs), 1)
        c = cs.pop()
        self.assertAlmostEqual(c, math.sqrt(math.e - 1), places=14)
        law = self.one(self.dump, "eigen_gap_vs_T", 0, kind="theory", formula="c/sqrt(T)")
        self.assertEqual(law["c"], c)
        self.assertEqual(law["linestyle"], ":")
        self.assertEqual((min(law["x"]), max(law["x"])), (256, 1024))
        self.assertClose(law["y"], [c / math.sqrt(T) for T in law["x"]], rel=REL)
        one = self.one(self.dump, "eigen_gap_vs_T", 0, kind="theory", formula="1")
        self.assertEqual((one["x"], one["y"]), ([256, 1024], [1.0, 1.0]))

    def test_edge_ratio_panel(self):
        for fix in ("none", "center"):
            want = by_T(self.rows, fix, lambda r: float(r["eigen_edge_ratio"]))
            s = self.one(self.dump, "eigen_gap_vs_T", 1, kind="mean_sd", fix=fix)
            self.assertEqual(s["x"], list(want))
            self.assertClose(s["y"], [m for m, _, _ in want.values()], rel=REL)
        line = self.one(self.dump, "eigen_gap_vs_T", 1, kind="theory")
        self.assertEqual(set(line["y"]), {1.0})

    def test_non_converged_row_excluded_and_marked(self):
        bad = [r for r in self.rows if r["converged"] == "0"]
        self.assertEqual(len(bad), 1)
        bad = bad[0]
        self.assertEqual((bad["fix"], bad["T"], bad["index"]), ("none", "512", "1"))
        s = self.one(self.dump, "eigen_gap_vs_T", 0, kind="mean_sd", fix="none",
                     eigen="abs_lambda1")
        self.assertEqual(s["n"], [3, 2, 3])
        self.assertAlmostEqual(s["y"][1], 1.0, delta=1e-12)  # the bad row's 1.5 left out
        marked = self.one(self.dump, "eigen_gap_vs_T", 0, kind="not_converged")
        pairs = set(zip(marked["x"], marked["y"]))
        self.assertIn((512, abs(lambdas(bad)[0])), pairs)
        self.assertIn((512, float(bad["abs_lambda2"])), pairs)
        self.assertEqual(len(pairs), 2)

    def test_scatter_points_equal_the_values(self):
        values = eigen_values_csv(SWEEP_EIGEN)
        c = math.sqrt(math.e - 1)
        panels = self.dump["figures"]["eigen_scatter"]["panels"]
        self.assertEqual(len(panels), 3)  # T 256, 512, 1024
        for panel, T in zip(panels, (256, 512, 1024)):
            self.assertIn(f"T = {T}", panel["title"])
            self.assertIn(f"values.csv: all {T} eigenvalues", panel["title"])
            self.assertEqual(panel["aspect"], "equal")
            self.assertEqual(panel["xlim"], panel["ylim"])
            for fix in ("none", "center"):
                zs = [z for r in self.rows
                      if (r["fix"], int(r["T"]), r["converged"]) == (fix, T, "1")
                      for z in values[(r["point"], r["index"])]]
                s = self.one(self.dump, "eigen_scatter", panels.index(panel), kind="scatter",
                             fix=fix)
                self.assertEqual(s["T"], T)
                self.assertEqual(s["n"], len(zs))
                self.assertEqual(s["n"], (2 if (fix, T) == ("none", 512) else 3) * T)
                self.assertEqual(s["x"], [z.real for z in zs])
                self.assertEqual(s["y"], [z.imag for z in zs])
                self.assertEqual(s["not_converged"], 1 if (fix, T) == ("none", 512) else 0)
            circle = self.one(self.dump, "eigen_scatter", panels.index(panel), kind="circle")
            self.assertAlmostEqual(circle["radius"], c / math.sqrt(T), delta=1e-15)
            self.assertEqual(circle["center"], [0.0, 0.0])
            for x, y in zip(circle["x"], circle["y"]):
                self.assertAlmostEqual(math.hypot(x, y), c / math.sqrt(T), delta=1e-15)
            self.assertGreater(panel["xlim"][1], circle["radius"])
            one = self.one(self.dump, "eigen_scatter", panels.index(panel), kind="mark",
                           marker="*")
            self.assertEqual((one["x"], one["y"]), ([1.0], [0.0]))

    def test_spread_of_T(self):
        self.assertEqual(eigen_figures.spread([4, 1, 2, 3], 4), [1, 2, 3, 4])
        Ts = [2 ** i for i in range(5, 15)]
        picked = eigen_figures.spread(Ts, 4)
        self.assertEqual(len(picked), 4)
        self.assertEqual((picked[0], picked[-1]), (Ts[0], Ts[-1]))
        self.assertEqual(picked, sorted(set(picked)))


class TestEigenScatterFromRows(TempDirCase):
    """Without values.csv, eigen_scatter draws the top k of rows.csv and says so."""

    def test_top_k_from_rows(self):
        d = os.path.join(self.tmp, "no_values")
        shutil.copytree(SWEEP_EIGEN, d)
        os.remove(os.path.join(d, "values.csv"))
        dump = self.plot_one(d, "eigen_scatter")
        rows = read_rows(d)
        panels = dump["figures"]["eigen_scatter"]["panels"]
        for i, (panel, T) in enumerate(zip(panels, (256, 512, 1024))):
            self.assertIn("rows.csv: the top 4/5", panel["title"])
            for fix in ("none", "center"):
                zs = [z for r in rows if (r["fix"], int(r["T"]), r["converged"]) ==
                      (fix, T, "1") for z in lambdas(r)]
                s = self.one(dump, "eigen_scatter", i, kind="scatter", fix=fix)
                self.assertEqual(s["x"], [z.real for z in zs])
                self.assertEqual(s["y"], [z.imag for z in zs])
                if fix == "none":  # the outlier is among the top k
                    self.assertAlmostEqual(max(s["x"]), 1.0, delta=1e-12)


class MixedCase(SharedRunCase):
    fixture = staticmethod(run_mixed_fixture)


class TestMixedSweep(MixedCase):
    """data/sweep_mixed: the singular figures as from data/sweep, the eigen figures from the
    eigen rows (fix none, center and deflate)."""

    def test_both_kinds_drawn(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        self.assertEqual(figure_files(self.out),
                         sorted(f"{n}.png" for n in SINGULAR_FIGURES + EIGEN_FIGURES))

    def test_singular_figures_ignore_eigen_rows(self):
        every = shared_run(run_every_fixture)  # data/sweep, with the other fixtures
        for name in SINGULAR_FIGURES:
            self.assertEqual(self.dump["figures"][name]["panels"],
                             every["dump"]["figures"][name]["panels"], name)
            self.assertEqual(self.dump["figures"][name]["title"],
                             every["dump"]["figures"][name]["title"])

    def test_three_fixes(self):
        for fix in ("none", "center", "deflate"):
            want = by_T(self.rows, fix, lambda r: float(r["abs_lambda2"]))
            s = self.one(self.dump, "eigen_gap_vs_T", 0, kind="mean_sd", fix=fix,
                         eigen="abs_lambda2")
            self.assertEqual(s["x"], [32, 64, 128])
            self.assertClose(s["y"], [m for m, _, _ in want.values()], rel=REL)
            self.assertEqual(len(self.series(self.dump, "eigen_scatter", kind="scatter",
                                             fix=fix)), 3)
        styles = {s["fix"]: (s["linestyle"], s["color"]) for s in
                  self.series(self.dump, "eigen_gap_vs_T", 0, kind="mean_sd")}
        self.assertEqual(len(set(styles.values())), 3)  # one line style and colour per fix
        # deflate has no eigen_edge_ratio (empty column): not in the second panel
        self.assertEqual(self.series(self.dump, "eigen_gap_vs_T", 1, fix="deflate"), [])
        self.assertTrue(all(r["eigen_edge_ratio"] == "" for r in self.rows
                            if r["fix"] == "deflate"))


def run_writer4_fixture(run):
    run_fixture(run, SWEEP_WRITER4, "--formats", "png")


class TestWriterSchema4(SharedRunCase):
    """data/sweep_writer4, written by gapbench sweep --spectrum singular,eigen: what the numpy
    fixtures stand in for reads and draws the same way."""
    fixture = staticmethod(run_writer4_fixture)

    def test_schema_and_figures(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        with open(os.path.join(SWEEP_WRITER4, "meta.json")) as f:
            self.assertEqual(json.load(f)["schema"], "gapbench.sweep/4")
        self.assertEqual(figure_files(self.out),
                         sorted(f"{n}.png" for n in SINGULAR_FIGURES + EIGEN_FIGURES))
        self.assertEqual({r["spectrum"] for r in self.rows}, {"singular", "eigen"})

    def test_singular_figures_read_singular_rows_only(self):
        for model in ("markov", "attention"):
            want = expected_stats([r for r in self.rows if r["spectrum"] == "singular"],
                                  "none", "s1", model)
            s = self.one(self.dump, "gap_vs_T", 0, kind="mean_sd", quantity="s1", series=model)
            self.assertEqual(s["n"], [2, 2])  # two seeds: the eigen rows of the point left out
            self.assertClose(s["y"], [m for m, _, _ in want.values()], rel=REL)

    def test_eigen_figures(self):
        values = eigen_values_csv(SWEEP_WRITER4)
        for model in ("markov", "attention"):
            one = self.one(self.dump, "eigen_gap_vs_T", 0, kind="mean_sd", fix="none",
                           eigen="abs_lambda1", series=model)
            for y in one["y"]:  # both models are row-stochastic: A·1 = 1
                self.assertAlmostEqual(y, 1.0, delta=1e-12)
            for fix in ("none", "center"):
                want = by_T([r for r in self.rows if r["model"] == model], fix,
                            lambda r: float(r["abs_lambda2"]))
                s = self.one(self.dump, "eigen_gap_vs_T", 0, kind="mean_sd", fix=fix,
                             eigen="abs_lambda2", series=model)
                self.assertClose(s["y"], [m for m, _, _ in want.values()], rel=REL)
        panels = self.dump["figures"]["eigen_scatter"]["panels"]
        self.assertEqual(len(panels), 4)  # 2 models x T 16, 32
        for i, panel in enumerate(panels):
            for s in self.series(self.dump, "eigen_scatter", i, kind="scatter"):
                zs = [z for r in self.rows if r["spectrum"] == "eigen" and
                      r["model"] == s["series"].split()[0] and int(r["T"]) == s["T"] and
                      r["fix"] == s["fix"] for z in values[(r["point"], r["index"])]]
                self.assertEqual(len(zs), 2 * s["T"])
                self.assertEqual((s["x"], s["y"]), ([z.real for z in zs], [z.imag for z in zs]))
            circles = self.series(self.dump, "eigen_scatter", i, kind="circle")
            if panel["title"].startswith("markov"):
                T = circles[0]["T"]
                self.assertAlmostEqual(circles[0]["radius"], 1 / math.sqrt(T), delta=1e-15)
            else:  # attention has no c: no circle
                self.assertEqual(circles, [])


class TestOverlayWithSchema1(TempDirCase):
    """A /1 sweep and a /4 eigen sweep given together: each figure takes the rows it reads."""

    def test_overlay(self):
        dump_path = os.path.join(self.tmp, "d.json")
        r = run_plot(SWEEP, SWEEP_EIGEN, "--out", self.out, "--formats", "png", "--only",
                     "gap_vs_T,eigen_gap_vs_T", "--dump-data", dump_path)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(dump_path) as f:
            dump = json.load(f)
        self.assertEqual({s["set"] for s in self.series(dump, "gap_vs_T", kind="mean_sd")}, {0})
        self.assertEqual({s["set"] for s in self.series(dump, "eigen_gap_vs_T",
                                                        kind="mean_sd")}, {1})


if __name__ == "__main__":
    unittest.main()
