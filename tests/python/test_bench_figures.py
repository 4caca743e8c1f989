"""The benchmark figures (throughput_vs_T, accuracy_vs_time, regression): the series plot.py
says it drew (--dump-data) against the medians computed here from the Google Benchmark JSON
(median aggregates, else the median of repetitions) and the changes of the compare report."""
import json
import math
import statistics
import unittest
from collections import defaultdict

from plot_support import BENCH, COMPARE, AllFiguresCase

TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


class TestBenchFigures(AllFiguresCase):
    """The benchmark figures of the run over every fixture: bench.json, a copy of it with
    repetitions only (another device and commit), and compare.json."""

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


if __name__ == "__main__":
    unittest.main()
