"""The history figure (--history FILE: the JSON of `gapbench history show REGEX --format json`,
schema gapbench.history.show/1): the series plot.py says it drew (--dump-data) against the
numbers of the file, the artists matplotlib drew (the figure drawn here, in this process), the
variants of the input (counters, acknowledged changes, more series than panels, several files
and devices) and bad input: one line naming the file and the field, exit 2, nothing written.

data/history.json was written by hand to the format's specification (the C++ writer was written
at the same time): two series of 20 runs on one device in commit order, three repetitions a
run; the first (lanczos, about 12 ms) with a regression of +11.9% at run 12 and a dirty run (7),
the second (apply, about 310 us) without a change point, with a throttled run (15) and a run of
a single repetition (4)."""
import copy
import json
import math
import os
import shutil
import sys
import unittest

from plot_support import (HISTORY, ROOT, SWEEP, SharedRunCase, TempDirCase, figure_files,
                          png_size, run_plot)

sys.path.insert(0, os.path.join(ROOT, "scripts"))
from gapbench_plot import bench_readers, history_figures, render  # noqa: E402 (the path first)

REL = 1e-12


def load_history():
    with open(HISTORY) as f:
        return json.load(f)


def run_history_fixture(run):
    """plot.py --history data/history.json alone, into run.tmp/figures, its data dumped."""
    run.out = os.path.join(run.tmp, "figures")
    run.dump_path = os.path.join(run.tmp, "dump.json")
    run.result = run_plot("--history", HISTORY, "--out", run.out, "--dump-data", run.dump_path)
    with open(run.dump_path) as f:
        run.dump = json.load(f)
    run.doc = load_history()


class TestPanelTitles(unittest.TestCase):
    def test_run_settings_leave_the_title_before_it_is_shortened(self):
        name = "cpu/solve/lanczos/float32/k:4/T:1024/min_time:0.100/repeats:9/manual_time"
        self.assertEqual(history_figures.shorten(name, 62), "cpu/solve/lanczos/float32/k:4/T:1024")
        self.assertEqual(history_figures.shorten("gpu/device_state/end/iterations:1", 62),
                         "gpu/device_state/end")
        long = "cpu/fused/solve/attention/lanczos/float32/k:4/T:65536/b:8/iterations:1/repeats:3"
        short = history_figures.shorten(long, 30)
        self.assertEqual(len(short), 30)
        self.assertTrue(short.endswith("T:65536/b:8"), short)


class TestHistoryFigure(SharedRunCase):
    """plot.py --history data/history.json: the figure and its dumped series."""
    fixture = staticmethod(run_history_fixture)

    def panels(self):
        return self.dump["figures"]["history"]["panels"]

    def test_written_in_both_formats(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        self.assertEqual(self.result.stderr, "")
        self.assertEqual(figure_files(self.out), ["history.png", "history.svg"])
        width, height = png_size(os.path.join(self.out, "history.png"))
        self.assertGreater(width, 1200)
        self.assertGreater(height, 400)
        with open(os.path.join(self.out, "history.svg")) as f:
            text = f.read()
        self.assertIn("<svg", text)
        self.assertIn("</svg>", text)
        self.assertEqual([f for f in os.listdir(self.out) if f.startswith(".")], [])
        self.assertIn("wrote " + os.path.join(self.out, "history.png"), self.result.stdout)
        self.assertIn("skipped gap_vs_T:", self.result.stdout)
        self.assertEqual(list(self.dump["figures"]), ["history"])
        self.assertEqual(self.dump["inputs"]["history"],
                         [{"path": HISTORY, "metric": "real_time", "unit": "s",
                           "direction": "lower_is_better", "series": 2}])

    def test_one_panel_per_series_with_the_medians_and_every_repetition(self):
        panels = self.panels()
        self.assertEqual(len(panels), len(self.doc["series"]))
        for panel, s, unit, scale in zip(panels, self.doc["series"], ("ms", "µs"), (1e3, 1e6)):
            points = s["points"]
            self.assertEqual(panel["benchmark"], s["benchmark"])
            self.assertEqual(panel["title"], s["benchmark"])  # one device: not in the title
            self.assertEqual((panel["unit"], panel["scale"]), (unit, scale))
            self.assertEqual(panel["ylabel"], f"real_time ({unit}), lower is better")
            median = self.one(self.dump, "history", self.panels().index(panel),
                              kind="history_median")
            self.assertEqual(median["x"], list(range(len(points))))
            self.assertEqual(median["y_raw"], [p["median"] for p in points])
            self.assertClose(median["y"], [p["median"] * scale for p in points], rel=REL)
            self.assertEqual(median["commits"], [p["commit"] for p in points])
            self.assertEqual(median["run_ids"], [p["run_id"] for p in points])
            values = self.one(self.dump, "history", self.panels().index(panel),
                              kind="history_values")
            self.assertEqual(values["x"], [i for i, p in enumerate(points) for _ in p["values"]])
            self.assertClose(values["y"], [v * scale for p in points for v in p["values"]],
                             rel=REL)
            self.assertEqual(panel["xlim"], [-0.5, len(points) - 0.5])
            lo, hi = panel["ylim"]
            self.assertTrue(all(lo < y < hi for y in values["y"] + median["y"]))
        self.assertEqual(len(self.doc["series"][1]["points"][4]["values"]), 1)

    def test_change_points(self):
        changes = self.series(self.dump, "history", 0, kind="change")
        self.assertEqual(len(changes), 1)
        want = self.doc["series"][0]["changes"][0]
        c = changes[0]
        self.assertEqual(c["x"], [want["index"] - 0.5])  # between the runs either side
        for key in ("index", "commit", "previous_commit", "before", "after", "change", "low",
                    "high", "p_value", "acknowledged"):
            self.assertEqual(c[key], want[key], key)
        self.assertEqual(c["change_kind"], "regression")
        self.assertEqual(c["color"], "#d62728")
        self.assertEqual(c["label"], "regression (change point)")
        self.assertEqual(c["text"], "+11.9% [+10.8, +13.1]")
        self.assertEqual(self.series(self.dump, "history", 1, kind="change"), [])

    def test_dirty_and_throttled_runs(self):
        for panel, flag, index in ((0, "dirty", 7), (1, "throttled", 15)):
            points = self.doc["series"][panel]["points"]
            self.assertEqual([i for i, p in enumerate(points) if p[flag]], [index])
            s = self.one(self.dump, "history", panel, kind="history_flagged")
            self.assertEqual((s["flag"], s["x"]), (flag, [index]))
            median = self.one(self.dump, "history", panel, kind="history_median")
            self.assertEqual(s["y"], [median["y"][index]])
            self.assertEqual(s["commits"], [points[index]["commit"]])
            self.assertIn(flag, s["label"])

    def test_commit_ticks_title_and_footer(self):
        for panel, s in zip(self.panels(), self.doc["series"]):
            points = s["points"]
            self.assertEqual(panel["xticklabels"], [points[i]["commit"][:7]
                                                    for i in panel["xticks"]])
            self.assertEqual(panel["xticks"][-1], len(points) - 1)  # the newest commit
            self.assertLessEqual(len(panel["xticks"]), 12)
            self.assertEqual(panel["xticks"], sorted(set(panel["xticks"])))
        fig = self.dump["figures"]["history"]
        self.assertIn("real_time", fig["title"])
        footer = fig["footer"]
        self.assertEqual(len(footer), 2, footer)
        self.assertIn(os.path.normpath(HISTORY), footer[0])
        s = self.doc["series"][0]
        first, last = s["points"][0], s["points"][-1]
        for text in (s["device"], s["fingerprint"], s["device_description"],
                     f"{first['commit']}..{last['commit']}", first["commit_date"],
                     last["commit_date"], "40 runs"):
            self.assertIn(text, footer[1])


class TestHistoryArtists(unittest.TestCase):
    """The figure drawn here from data/history.json: the artists on its axes."""

    @classmethod
    def setUpClass(cls):
        _, cls.plt, _ = render.setup_matplotlib()
        import matplotlib.ticker as ticker
        cls.doc = load_history()
        cls.spec = history_figures.fig_history([bench_readers.History(HISTORY)])
        cls.fig = render.draw(cls.spec, cls.plt, ticker)
        cls.axes = [ax for ax in cls.fig.axes if ax.get_visible()]

    @classmethod
    def tearDownClass(cls):
        cls.plt.close(cls.fig)

    def drawn(self, ax, kind):
        return [line for line in ax.lines
                if getattr(line, "gapbench_series", {}).get("kind") == kind]

    def test_one_axes_per_series(self):
        self.assertEqual(len(self.axes), len(self.doc["series"]))
        for ax, s in zip(self.axes, self.doc["series"]):
            self.assertEqual(ax.get_title(), s["benchmark"])
            self.assertEqual([t.get_text() for t in ax.get_xticklabels()],
                             [s["points"][int(x)]["commit"][:7] for x in ax.get_xticks()])

    def test_vertical_change_lines(self):
        counts = [len(self.drawn(ax, "change")) for ax in self.axes]
        self.assertEqual(counts, [len(s["changes"]) for s in self.doc["series"]])
        line = self.drawn(self.axes[0], "change")[0]
        index = self.doc["series"][0]["changes"][0]["index"]
        self.assertEqual(list(line.get_xdata()), [index - 0.5, index - 0.5])
        self.assertEqual(line.get_linestyle(), "--")
        self.assertEqual(line.get_color(), "#d62728")
        texts = [t.get_text() for t in self.axes[0].texts]
        self.assertIn("+11.9% [+10.8, +13.1]", texts)

    def test_median_line_and_repetitions(self):
        for ax, s, scale in zip(self.axes, self.doc["series"], (1e3, 1e6)):
            line, = self.drawn(ax, "history_median")
            ys = [float(y) for y in line.get_ydata()]
            want = [p["median"] * scale for p in s["points"]]
            self.assertEqual(len(ys), len(want))
            for y, w in zip(ys, want):
                self.assertTrue(math.isclose(y, w, rel_tol=REL), (y, w))
            self.assertEqual(list(line.get_xdata()), list(range(len(s["points"]))))
            self.assertNotEqual(line.get_linestyle(), "None")
            reps, = self.drawn(ax, "history_values")
            self.assertEqual(len(reps.get_ydata()), sum(len(p["values"]) for p in s["points"]))
            self.assertEqual(reps.get_linestyle(), "None")

    def test_hollow_markers_and_legend(self):
        dirty, = self.drawn(self.axes[0], "history_flagged")
        throttled, = self.drawn(self.axes[1], "history_flagged")
        for line in (dirty, throttled):
            self.assertEqual(line.get_markerfacecolor(), "none")
        self.assertNotEqual(dirty.get_marker(), throttled.get_marker())
        self.assertEqual(len(self.fig.legends), 1)
        labels = [t.get_text() for t in self.fig.legends[0].get_texts()]
        self.assertEqual(labels, ["every repetition", "median of each run",
                                  "dirty run (uncommitted changes)", "throttled run",
                                  "regression (change point)"])


class TestHistoryVariants(TempDirCase):
    """Edited copies of data/history.json: counters, acknowledged and improvement change points
    without an interval, more series than panels, two files and two devices, the default
    --out."""

    def write(self, doc, name="history.json"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            json.dump(doc, f)
        return path

    def plot(self, *args):
        dump_path = os.path.join(self.tmp, "dump.json")
        r = run_plot(*args, "--only", "history", "--formats", "png", "--out", self.out,
                     "--dump-data", dump_path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(figure_files(self.out), ["history.png"])
        with open(dump_path) as f:
            return r, json.load(f)["figures"]["history"]

    def test_counter_higher_is_better(self):
        doc = load_history()
        doc.update(metric="matrices_per_s", unit="", direction="higher_is_better")
        for s in doc["series"]:
            for p in s["points"]:
                p["values"] = [1.0 / v for v in p["values"]]
                p["median"] = 1.0 / p["median"]
        _, fig = self.plot("--history", self.write(doc))
        for panel, s in zip(fig["panels"], doc["series"]):
            self.assertEqual((panel["unit"], panel["scale"]), ("", 1.0))
            self.assertEqual(panel["ylabel"], "matrices_per_s, higher is better")
            median = [x for x in panel["series"] if x["kind"] == "history_median"][0]
            self.assertEqual(median["y"], [p["median"] for p in s["points"]])
        self.assertIn("(a counter)", fig["footer"][0])

    def test_acknowledged_and_improvement_colours(self):
        doc = load_history()
        doc["series"][0]["changes"][0]["acknowledged"] = True
        doc["series"][1]["changes"] = [{
            "index": 5, "commit": doc["series"][1]["points"][5]["commit"],
            "previous_commit": doc["series"][1]["points"][4]["commit"], "before": 3.2e-4,
            "after": 3.1e-4, "change": -0.03125, "low": None, "high": None, "p_value": None,
            "kind": "improvement", "acknowledged": False}]
        _, fig = self.plot("--history", self.write(doc))
        first = [s for s in fig["panels"][0]["series"] if s["kind"] == "change"]
        second = [s for s in fig["panels"][1]["series"] if s["kind"] == "change"]
        self.assertEqual([(c["color"], c["label"], c["change_kind"]) for c in first],
                         [("#8c8c8c", "acknowledged change point", "regression")])
        self.assertEqual([(c["color"], c["label"], c["text"], c["x"]) for c in second],
                         [("#2ca02c", "improvement (change point)", "-3.1%", [4.5])])

    def test_more_than_twelve_series(self):
        doc = load_history()
        base = doc["series"]
        doc["series"] = []
        for i in range(14):
            s = copy.deepcopy(base[i % 2])
            s["benchmark"] += f"/variant:{i}"
            doc["series"].append(s)
        r, fig = self.plot("--history", self.write(doc))
        self.assertIn("history: drawing the first 12 of 14 series", r.stdout)
        self.assertEqual(len(fig["panels"]), 12)
        self.assertEqual([p["benchmark"] for p in fig["panels"]],
                         [s["benchmark"] for s in doc["series"][:12]])
        self.assertIn("the first 12 of 14 series", fig["title"])

    def test_two_files_two_devices_long_names(self):
        other = load_history()
        for s in other["series"]:
            s["device"] = "NVIDIA_H200"
            s["fingerprint"] = "0123456789abcdef"
            s["device_description"] = "NVIDIA H200, 132 SMs"
            s["benchmark"] = ("gpu/solve/lanczos/T:65536/k:16/float32/operator:fused/"
                              "restarts:8/tol:1e-6/reference:auto")
        _, fig = self.plot("--history", HISTORY, "--history", self.write(other, "gpu.json"))
        self.assertEqual(len(fig["panels"]), 4)
        titles = [p["title"] for p in fig["panels"]]
        self.assertTrue(titles[0].endswith("\nAMD_EPYC_2t"), titles[0])
        self.assertTrue(titles[2].endswith("\nNVIDIA_H200"), titles[2])
        name = other["series"][0]["benchmark"]
        self.assertLess(len(titles[2].split("\n")[0]), len(name))  # shortened with an ellipsis
        self.assertIn("…", titles[2])
        self.assertTrue(name.endswith(titles[2].split("\n")[0].split("…")[1]))
        self.assertEqual(len(fig["footer"]), 4)  # two files, two devices
        self.assertTrue(any("NVIDIA H200, 132 SMs" in line for line in fig["footer"]))

    def test_default_out_is_the_directory_of_the_file(self):
        d = os.path.join(self.tmp, "hist")
        os.makedirs(d)
        path = os.path.join(d, "history.json")
        shutil.copy(HISTORY, path)
        r = run_plot("--history", path, "--only", "history")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(figure_files(d), ["history.png", "history.svg"])


class TestHistoryErrors(TempDirCase):
    """Bad --history input: one line "plot.py: error: FILE: ...", exit 2, neither a figure nor
    the --dump-data file written, even beside a good sweep."""

    def assertBad(self, doc, contains, text=None):
        path = os.path.join(self.tmp, "bad.json")
        with open(path, "w") as f:
            f.write(text if text is not None else json.dumps(doc))
        dump_path = os.path.join(self.tmp, "dump.json")
        line = self.assertFails(SWEEP, "--history", path, "--dump-data", dump_path,
                                contains=contains)
        self.assertIn(path, line)
        self.assertFalse(os.path.exists(dump_path))
        self.assertEqual(figure_files(SWEEP), [])
        return line

    def edited(self, edit):
        doc = load_history()
        edit(doc)
        return doc

    def test_bad_schema(self):
        line = self.assertBad(self.edited(lambda d: d.update(schema="gapbench.history.show/2")),
                              "schema \"gapbench.history.show/2\" is not "
                              "gapbench.history.show/1")
        self.assertIn("update scripts/gapbench_plot", line)
        line = self.assertBad(self.edited(lambda d: d.pop("schema")), "schema null")
        self.assertIn("gapbench history show REGEX --format json", line)  # the fix
        self.assertBad(None, "schema \"gapbench.compare/1\"",
                       text=json.dumps({"schema": "gapbench.compare/1", "series": []}))

    def test_missing_fields(self):
        self.assertBad(self.edited(lambda d: d["series"][1]["points"][3].pop("median")),
                       "series[1] (cpu/apply/float64/T:2048): points[3]: median is missing "
                       "(expected a finite number")
        self.assertBad(self.edited(lambda d: d["series"][0].pop("points")),
                       "series[0] (cpu/solve/lanczos/T:4096/k:4/float32): points is missing")
        self.assertBad(self.edited(lambda d: d["series"][0].pop("benchmark")),
                       "series[0]: benchmark is missing")
        self.assertBad(self.edited(lambda d: d["series"][0]["points"][0].pop("commit")),
                       "points[0]: commit is missing")
        self.assertBad(self.edited(lambda d: d.pop("metric")), "metric is missing")
        self.assertBad(self.edited(lambda d: d["series"][0]["changes"][0].pop("kind")),
                       "changes[0]: kind is missing")

    def test_wrong_types(self):
        def values_text(d):
            d["series"][0]["points"][2]["values"] = "0.0123"
        self.assertBad(self.edited(values_text), "points[2]: values is \"0.0123\"")
        def empty_values(d):
            d["series"][0]["points"][2]["values"] = []
        self.assertBad(self.edited(empty_values), "points[2]: values is []")
        def dirty_text(d):
            d["series"][0]["points"][1]["dirty"] = "yes"
        self.assertBad(self.edited(dirty_text), "points[1]: dirty is \"yes\"")
        def median_bool(d):
            d["series"][0]["points"][1]["median"] = True
        self.assertBad(self.edited(median_bool), "points[1]: median is true")
        self.assertBad(None, "median is NaN",
                       text=json.dumps(load_history()).replace('"median": 0.012429424',
                                                               '"median": NaN', 1))
        self.assertBad(self.edited(lambda d: d.update(direction="down")),
                       "direction is \"down\" (expected lower_is_better or higher_is_better)")
        self.assertBad(self.edited(lambda d: d.update(series={})), "series is {}")
        self.assertBad(None, "not a JSON object", text="[]")
        self.assertBad(None, "malformed JSON", text="{\"schema\": ")

    def test_bad_change_points(self):
        for index in (0, 20, 3.5, None):
            def edit(d, index=index):
                d["series"][0]["changes"][0]["index"] = index
            self.assertBad(self.edited(edit), "changes[0]: index is")
        def kind(d):
            d["series"][0]["changes"][0]["kind"] = "slower"
        self.assertBad(self.edited(kind),
                       "kind is \"slower\" (expected regression or improvement)")

    def test_empty_series_and_points(self):
        self.assertBad(self.edited(lambda d: d.update(series=[])), "no series")
        def no_points(d):
            d["series"][1]["points"] = []
        self.assertBad(self.edited(no_points),
                       "series[1] (cpu/apply/float64/T:2048): no points")

    def test_missing_file_and_no_input(self):
        path = os.path.join(self.tmp, "absent.json")
        self.assertFails("--history", path, contains=f"{path}: no such file")
        self.assertFails("--history", HISTORY, "--only", "gap_vs_T",
                         contains="no figure has data")
        self.assertFails(SWEEP, "--only", "history",
                         contains="history: no history report (--history")


if __name__ == "__main__":
    unittest.main()
