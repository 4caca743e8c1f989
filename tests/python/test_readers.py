"""The readers of plot.py: propagate directories told from sweeps (by meta.json's schema or a
layer column; the seed index in run or index), a torn last line dropped, and bad input of every
kind: one line "plot.py: error: ..." on stderr, exit 2, no figure written."""
import csv
import json
import os
import shutil
import unittest

from plot_support import (BENCH, PROPAGATE, PROPAGATION_FIGURES, SWEEP, PropagationCase,
                          TempDirCase, cell_edit, run_plot)


class TestPropagateDirectories(PropagationCase):
    """Variants of the propagate fixture read the same as the fixture itself."""

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


class TestTornLastLine(TempDirCase):
    """An interrupted writer leaves a last line without its newline: dropped with a note."""

    def test_torn_last_line_is_dropped(self):
        d = self.copy_sweep("torn", values=False)
        with open(os.path.join(d, "rows.csv"), "a") as f:
            f.write("99,0,0,markov,exponential,,,")
        r = run_plot(d, "--only", "gap_vs_T", "--formats", "png")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("torn last line", r.stdout)


class TestBadInput(TempDirCase):
    """Bad input: one line "plot.py: error: ..." on stderr, exit 2, no figure written."""

    def test_propagate_rows_with_a_bad_number(self):
        self.assertFails(self.broken_propagate(cell_edit(5, "stable_rank", "oops")),
                         contains="rows.csv:6: column stable_rank")

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


if __name__ == "__main__":
    unittest.main()


class TestOldInitNames(TempDirCase):
    """Before gapbench.sweep/5, --init fan-in was called xavier: such rows are read as fan-in."""

    def test_xavier_rows_read_as_fan_in(self):
        def old_names(rows):
            for row in rows:
                if row["model"] == "attention":
                    row["init"] = "xavier"
        d, _ = self.edited_sweep("old_init", old_names)
        labels = [s.get("series_label", "") for p in
                  self.plot_one(d, "gap_vs_T")["figures"]["gap_vs_T"]["panels"]
                  for s in p["series"]]
        self.assertTrue(any("attention" in x and "fan-in" in x for x in labels), labels)
        self.assertFalse(any("xavier" in x for x in labels), labels)


class TestFailedRows(TempDirCase):
    """Schema 3: rows whose status is not ok (a NaN or Inf in the matrix or its values) have no
    values; plot.py skips them, says how many, and draws the same as without them."""

    def test_failed_rows_are_skipped_and_counted(self):
        def fail_first(rows):
            for i, row in enumerate(rows):
                row["status"] = "ok"
            for key in [k for k in rows[0] if k.startswith("s") and k[1:].isdigit()]:
                rows[0][key] = ""
            rows[0]["converged"] = "0"
            rows[0]["status"] = "nonfinite-values"
        d, rows = self.edited_sweep("failed", fail_first)
        dropped, _ = self.edited_sweep("dropped", lambda r: r.pop(0))
        r = run_plot(d, "--only", "gap_vs_T", "--formats", "png", "--out", self.out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("skipped 1 failed row(s) (1 nonfinite-values)", r.stdout)
        failed = self.plot_one(d, "gap_vs_T")["figures"]["gap_vs_T"]["panels"]
        without = self.plot_one(dropped, "gap_vs_T")["figures"]["gap_vs_T"]["panels"]
        self.assertEqual(failed, without)
