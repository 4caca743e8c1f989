"""The command line of plot.py: exit codes and notes, every figure written in both formats with
titles, labels and footers, the default --out (the sweep directory), and bad options or a
missing matplotlib: one line "plot.py: error: ...", exit 2, no figure written."""
import json
import os
import unittest

from plot_support import (BENCH, FIGURES, PROPAGATE, PROPAGATION_FIGURES, SWEEP, SWEEP_FIGURES,
                          AllFiguresCase, TempDirCase, figure_files, png_size, run_plot)


class TestAllFigures(AllFiguresCase):
    """One run over every fixture: sweep, propagate, two benchmark files (one without median
    aggregates, another device and commit), the compare report, the history."""

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


class TestDefaults(TempDirCase):
    """plot.py DIR alone, as scripts/sweep.sh and gapbench sweep --plot run it."""

    def test_plot_dir_alone_writes_into_it_and_skips_absent_data(self):
        # the usage of scripts/sweep.sh and gapbench sweep --plot: plot.py DIR
        d = self.copy_sweep("run", values=False)
        r = run_plot(d)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(figure_files(d), sorted(f"{n}.{e}" for n in SWEEP_FIGURES[:3]
                                                 for e in ("png", "svg")))
        skipped = [line for line in r.stdout.splitlines() if "skipped" in line]
        self.assertEqual(len(skipped), 12)
        for name in ("bulk_histogram", "eigen_gap_vs_T", "eigen_scatter", "solver_error_vs_T",
                     "throughput_vs_T", "accuracy_vs_time", "regression", "history",
                     *PROPAGATION_FIGURES,
                     "propagation_gradient_depth"):
            self.assertEqual(len([x for x in skipped if f"skipped {name}:" in x]), 1, name)


class TestUsageErrors(TempDirCase):
    """Bad options, nothing to plot, no matplotlib: one line "plot.py: error: ..." on stderr,
    exit 2, no figure written."""

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
