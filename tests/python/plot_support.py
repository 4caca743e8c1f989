"""What the plot tests (test_*.py here) share: the fixtures, running scripts/plot.py, the
numbers computed here from the fixtures' text, and the base classes of the tests.

The tests draw every figure from the small fixtures of tests/python/data (see make_fixtures.py);
the series the script says it plotted (--dump-data) are checked against numbers computed here,
independently, from rows.csv, values.csv and the JSON files; bad input must give one line on
stderr, exit code 2 and no figure file.

Run: /usr/bin/python3 -m unittest discover -s tests/python -v
"""
import atexit
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
import types
import unittest
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PLOT = os.path.join(ROOT, "scripts", "plot.py")
DATA = os.path.join(HERE, "data")
SWEEP = os.path.join(DATA, "sweep")
BENCH = os.path.join(DATA, "bench.json")
COMPARE = os.path.join(DATA, "compare.json")
HISTORY = os.path.join(DATA, "history.json")  # gapbench history show --format json (by hand)
PROPAGATE = os.path.join(DATA, "propagate")
SWEEP_EIGEN = os.path.join(DATA, "sweep_eigen")  # schema 4, eigen rows only
SWEEP_MIXED = os.path.join(DATA, "sweep_mixed")  # schema 4, data/sweep's rows and eigen rows
SWEEP_WRITER4 = os.path.join(DATA, "sweep_writer4")  # schema 4 as gapbench itself writes it
# Every figure drawn by the run over all the fixtures but the schema 4 ones (the eigen figures
# have tests of their own, test_eigen_figures.py) (solver_error_vs_T needs the rows of a sweep
# run with --reference: test_sweep_figures edits them in).
FIGURES = ("gap_vs_T", "ratio_vs_T", "fix_and_stable_rank", "bulk_histogram", "throughput_vs_T",
           "accuracy_vs_time", "regression", "history", "propagation_depth", "propagation_width",
           "propagation_gradient")
SWEEP_FIGURES = FIGURES[:4]
PROPAGATION_FIGURES = FIGURES[-3:]


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


_RUNS = {}


def shared_run(make):
    """The attributes make(run) sets on run (run.tmp: a temporary directory, removed at exit),
    made once per test process: the test classes of several modules read the same run."""
    if make not in _RUNS:
        run = types.SimpleNamespace(tmp=tempfile.mkdtemp(prefix="plot_test_"))
        atexit.register(shutil.rmtree, run.tmp, ignore_errors=True)
        make(run)
        _RUNS[make] = vars(run)
    return _RUNS[make]


def run_every_fixture(run):
    """One run over every fixture: sweep, propagate, two benchmark files (one without
    median aggregates, another device and commit), the compare report, the history."""
    run.out = os.path.join(run.tmp, "figures")
    run.dump_path = os.path.join(run.tmp, "dump.json")
    # a second benchmark file: repetitions only (no aggregates), another device/commit
    with open(BENCH) as f:
        doc = json.load(f)
    doc["benchmarks"] = [b for b in doc["benchmarks"] if b.get("run_type") != "aggregate"]
    doc["context"]["cpu_device"] = "Other CPU (8 threads)"
    doc["context"]["gapbench_commit"] = "0123456789ab"
    run.bench2 = os.path.join(run.tmp, "reps_only.json")
    with open(run.bench2, "w") as f:
        json.dump(doc, f)
    run.result = run_plot(SWEEP, PROPAGATE, "--bench", BENCH, "--bench", run.bench2,
                          "--compare", COMPARE, "--history", HISTORY, "--out", run.out,
                          "--dump-data", run.dump_path)
    with open(run.dump_path) as f:
        run.dump = json.load(f)
    run.rows = read_rows()
    with open(os.path.join(SWEEP, "meta.json")) as f:
        run.meta = json.load(f)


def run_fixture(run, directory, *options):
    """scripts/plot.py on one fixture directory into run.tmp/figures, with its data dumped:
    sets run.out, run.dump_path, run.result, run.dump and run.rows (the fixture's rows)."""
    run.out = os.path.join(run.tmp, "figures")
    run.dump_path = os.path.join(run.tmp, "dump.json")
    run.result = run_plot(directory, "--out", run.out, *options, "--dump-data", run.dump_path)
    with open(run.dump_path) as f:
        run.dump = json.load(f)
    run.rows = read_rows(directory)


def run_propagate_fixture(run):
    """The propagation figures from tests/python/data/propagate alone."""
    run_fixture(run, PROPAGATE)


class SharedRunCase(PlotTestCase):
    """Tests of one shared run: the attributes its `fixture` (a run_*_fixture function, given
    as staticmethod) sets, as class attributes."""
    fixture = None

    @classmethod
    def setUpClass(cls):
        for key, value in shared_run(cls.fixture).items():
            setattr(cls, key, value)


class AllFiguresCase(SharedRunCase):
    """Tests of the run over every fixture (run_every_fixture): self.result, self.dump,
    self.out, self.rows, self.meta, self.bench2."""
    fixture = staticmethod(run_every_fixture)


class PropagationCase(SharedRunCase):
    """Tests of the run over the propagate fixture (run_propagate_fixture): self.result,
    self.dump, self.out, self.rows; self.tmp, shared, for their own runs."""
    fixture = staticmethod(run_propagate_fixture)


def cell_edit(line, column, value):
    """An edit for edited_copy: rows.csv's cell at 0-based line `line` (0: the header) in the
    column named `column` set to `value`."""
    def edit(text):
        lines = text.splitlines(keepends=True)
        header = lines[0].split(",")
        cells = lines[line].split(",")
        cells[header.index(column)] = value
        lines[line] = ",".join(cells)
        return "".join(lines)
    return edit


class TempDirCase(PlotTestCase):
    """A fresh temporary directory per test (self.tmp; self.out, where assertFails wants no
    figure), and the edited copies of the fixtures made in it."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="plot_test_")
        self.out = os.path.join(self.tmp, "out")

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

    def assertFails(self, *args, contains="", env=None):
        r = run_plot(*args, "--out", self.out, env=env)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("plot.py: error: "), lines[0])
        self.assertIn(contains, lines[0])
        self.assertEqual(figure_files(self.out), [])
        return lines[0]

    def edited_copy(self, source, name, edit, must_change=True, drop=()):
        """A copy of the fixture directory `source` in self.tmp/name (replacing one there), its
        rows.csv passed through `edit` (which must change it, unless not `must_change`) and the
        files in `drop` removed."""
        d = os.path.join(self.tmp, name)
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(source, d)
        for file in drop:
            os.remove(os.path.join(d, file))
        path = os.path.join(d, "rows.csv")
        with open(path) as f:
            text = f.read()
        edited = edit(text)
        if must_change:
            self.assertNotEqual(edited, text)
        with open(path, "w") as f:
            f.write(edited)
        return d

    def broken_sweep(self, edit):
        return self.edited_copy(SWEEP, "sweep", edit, must_change=False)

    def broken_propagate(self, edit):
        return self.edited_copy(PROPAGATE, "propagate", edit)
