"""Reading the results directories: the CSV and JSON readers every input goes through, a sweep
(gapbench sweep: rows.csv, values.csv, meta.json, schemas /1 to /5; /5 renamed init xavier to
fan-in, and older rows saying xavier are read as fan-in), a propagate directory
(gapbench propagate: one row per layer and network) and load_dir, which tells the two apart.
Every check raises InputError with the file, line and column at fault.

Schema 4 adds eigenvalue rows (column spectrum = eigen: lambda1_re, lambda1_im, ... and the
metrics lambda1_dist, abs_lambda2, eigen_gap, eigen_edge_ratio; s1 ... sK empty). A Sweep keeps
them apart from the singular rows: `rows` holds the singular rows (every row of /1 to /3), which
the singular figures read unchanged, and `eigen_rows` the eigen rows."""
import csv
import json
import math
import os
import re
from collections import defaultdict

from .messages import InputError, note

# rows.csv: the columns every figure needs, and those parsed as numbers when present.
# s1 is needed in /1 to /3; a /4 file has the column spectrum instead (an eigen-only plan may
# have no s columns), and each row needs s1 or lambda1_re/_im by its spectrum (sweep_row_needed).
ROW_NEEDED = ("point", "index", "model", "fix", "T", "precision", "solver", ("s1", "spectrum"),
              "converged")
ROW_NUMERIC = {"point", "index", "T", "k", "beta", "d", "dk", "tol", "gap", "ratio", "frob",
               "frob_perp_sq", "stable_rank", "c", "s1_excess", "edge_ratio",
               "frob_perp_over_c2", "lambda1_dist", "abs_lambda2", "eigen_gap",
               "eigen_edge_ratio", "iterations", "restarts", "passes", "residual",
               "residual_estimate", "converged", "generate_s", "solve_s", "max_rel_err",
               "rel_err_s2"}
SPECTRA = ("singular", "eigen")
VALUES_NEEDED = ("point", "index", "rank", "value")  # then value_im in /4
LAMBDA_COLUMN = re.compile(r"lambda([1-9][0-9]*)_(re|im)$")


def is_value_column(key):
    """s1 ... sK and lambda1_re ... lambdaJ_im: the value columns, numeric, needed only in
    rows of their spectrum."""
    return (key.startswith("s") and key[1:].isdigit()) or bool(LAMBDA_COLUMN.match(key))


def sweep_row_needed(row, needed):
    """The columns a sweep row must fill: the plan's, and s1 (singular) or the real and
    imaginary parts of lambda1 (eigen); a failed row (status not ok, schema 3) has no values."""
    keys = [k for k in needed if not isinstance(k, tuple) and not is_value_column(k)]
    if row.get("status", "ok") not in ("ok", ""):
        return keys
    spectrum = row.get("spectrum", "singular")  # /1 to /3 have no spectrum column
    if spectrum == "eigen":
        return keys + ["lambda1_re", "lambda1_im"]
    if spectrum == "singular":
        return keys + ["s1"]
    return keys  # not a spectrum: Sweep says so


def read_json(path, what):
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file ({what})")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: malformed JSON ({what}): {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read ({what}): {e}") from None


def read_csv(path, needed, numeric, what="gapbench sweep file", row_needed=None):
    """Rows of a CSV file as dicts, numbers parsed (empty: None). needed: the columns the header
    must have (a tuple in it: one of those); row_needed(row): the columns a row must fill
    (default: needed, but the value columns of a failed row). A torn last line (no newline at
    the end of the file: an interrupted writer) is dropped with a note."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read: {e}") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise InputError(f"{path}: empty file (no header)")
    try:
        table = list(csv.reader(lines))
    except csv.Error as e:
        raise InputError(f"{path}: malformed CSV: {e}") from None
    header = table[0]
    missing = [" or ".join(c) if isinstance(c, tuple) else c for c in needed
               if not (set(c) & set(header) if isinstance(c, tuple) else c in header)]
    if missing:
        raise InputError(f"{path}: lacks the column(s) {', '.join(missing)} "
                         f"(not a {what}?)")
    if len(set(header)) != len(header):
        raise InputError(f"{path}: repeated column names in the header")
    body = table[1:]
    if body and len(body[-1]) != len(header) and not text.endswith("\n"):
        note(f"{path}: dropped a torn last line (the writer was interrupted)")
        body = body[:-1]
    rows = []
    for number, cells in enumerate(body, start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            raise InputError(f"{path}:{number}: {len(cells)} fields, the header has "
                             f"{len(header)}")
        row = {}
        for key, cell in zip(header, cells):
            if key in numeric or is_value_column(key):
                if cell == "":
                    row[key] = None
                    continue
                try:
                    row[key] = float(cell)
                except ValueError:
                    raise InputError(f"{path}:{number}: column {key}: {cell!r} is not a "
                                     f"number") from None
            else:
                row[key] = cell
        if row_needed is not None:
            keys = row_needed(row)
        else:
            failed = row.get("status", "ok") not in ("ok", "")  # schema 3: no values to need
            keys = [k for k in needed if not (failed and is_value_column(k))]
        for key in keys:
            if row.get(key) is None or row[key] == "":
                raise InputError(f"{path}:{number}: column {key} is empty")
        rows.append(row)
    return rows


def read_values(path):
    """values.csv: {(point, index): [(rank, value, value_im)]}, value_im None when empty or
    absent (/1 to /3 have no value_im; in /4 singular values leave it empty). A fast path: it can
    hold millions of lines."""
    values = defaultdict(list)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read: {e}") from None
    lines = text.split("\n")
    header = lines[0].strip().split(",") if lines else []
    if header[:4] != list(VALUES_NEEDED) or header[4:] not in ([], ["value_im"]):
        raise InputError(f"{path}: the header is not {','.join(VALUES_NEEDED)}[,value_im] "
                         f"(not a gapbench values file?)")
    with_im = len(header) == 5
    last = len(lines) - 1
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split(",")
        try:
            if len(cells) != len(header):
                raise ValueError
            im = float(cells[4]) if with_im and cells[4] else None
            values[(int(cells[0]), int(cells[1]))].append((int(cells[2]), float(cells[3]), im))
        except ValueError:
            if number - 1 == last:  # a torn last line without its newline
                note(f"{path}: dropped a torn last line (the writer was interrupted)")
                break
            raise InputError(f"{path}:{number}: malformed line {line[:60]!r}") from None
    return values


def short_commit(commit):
    if not isinstance(commit, str) or not commit:
        return "?"
    return commit[:7] + ("-dirty" if commit.endswith("-dirty") else "")


def disambiguate(labels, paths):
    """Labels made unique by the file or directory name, else the whole path."""
    out = list(labels)
    for i, label in enumerate(labels):
        if labels.count(label) > 1:
            names = [os.path.basename(os.path.normpath(paths[j])) for j in range(len(labels))
                     if labels[j] == label]
            name = os.path.basename(os.path.normpath(paths[i]))
            out[i] = f"{label} ({name if names.count(name) == 1 else os.path.normpath(paths[i])})"
    return out


def eigenvalues_of(row):
    """The eigenvalues of an eigen row's lambda columns, in their order (by modulus,
    descending; a conjugate pair adjacent), as complex numbers; the unused columns are empty."""
    out = []
    for j in range(1, 10 ** 6):
        re_key, im_key = f"lambda{j}_re", f"lambda{j}_im"
        if re_key not in row:
            break
        if row[re_key] is None:
            continue
        out.append(complex(row[re_key], row[im_key] or 0.0))
    return out


class Sweep:
    """One sweep directory (load_dir has checked it and read its meta.json). rows: the singular
    rows (all rows of schemas /1 to /3), eigen_rows: the eigen rows of /4; values and
    eigen_values: values.csv split the same way ({(point, index): [(rank, value)]} and
    {(point, index): [(rank, complex)]}), None without values.csv."""

    def __init__(self, directory, meta, need_values):
        self.dir = directory
        self.meta = meta
        rows_path = os.path.join(directory, "rows.csv")
        rows = read_csv(rows_path, ROW_NEEDED, ROW_NUMERIC,
                        row_needed=lambda r: sweep_row_needed(r, ROW_NEEDED))
        # Schema 3: a failed row (status nonfinite-matrix or nonfinite-values) has no values;
        # it is skipped and counted. Schemas 1 and 2 have no status column: every row is kept.
        failed = [r for r in rows if r.get("status", "ok") not in ("ok", None, "")]
        if failed:
            by_status = defaultdict(int)
            for r in failed:
                by_status[r["status"]] += 1
            note(f"{rows_path}: skipped {len(failed)} failed row(s) (" +
                 ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) +
                 "): no values to plot")
            rows = [r for r in rows if r not in failed]
        for i, row in enumerate(rows, start=2):
            if row["T"] < 1 or row["T"] != int(row["T"]):
                raise InputError(f"{rows_path}:{i}: T = {row['T']:g} is not a positive integer")
            row["T"] = int(row["T"])
            row["ok"] = row["converged"] == 1
            if row.get("init") == "xavier":  # before /5: N(0, 1/d), now called fan-in
                row["init"] = "fan-in"
            spectrum = row.setdefault("spectrum", "singular")  # /1 to /3: singular values only
            if spectrum not in SPECTRA:
                raise InputError(f"{rows_path}:{i}: spectrum = {spectrum!r} is not "
                                 f"{' or '.join(SPECTRA)}")
        self.rows = [r for r in rows if r["spectrum"] == "singular"]
        self.eigen_rows = [r for r in rows if r["spectrum"] == "eigen"]
        self.values = None  # (point, index) -> list of (rank, value)
        self.eigen_values = None  # (point, index) -> list of (rank, complex eigenvalue)
        values_path = os.path.join(directory, "values.csv")
        if need_values and os.path.isfile(values_path):
            both = read_values(values_path)
            eigen_keys = {(int(r["point"]), int(r["index"])) for r in self.eigen_rows}
            self.values = {key: [(rank, v) for rank, v, _ in vals]
                           for key, vals in both.items() if key not in eigen_keys}
            self.eigen_values = {key: [(rank, complex(v, im or 0.0)) for rank, v, im in vals]
                                 for key, vals in both.items() if key in eigen_keys}
        backend = self.meta.get("backend") or {}
        build = self.meta.get("build") or {}
        self.backend = str(backend.get("name", "?"))
        self.device = str(backend.get("device", "?"))
        self.commit = str(build.get("commit", "?"))
        self.started = str(self.meta.get("started", "?"))
        self.label = f"{self.backend} {self.device} @{short_commit(self.commit)}"
        status = self.meta.get("status")
        extra = f", status {status}" if status and status != "complete" else ""
        resumes = self.meta.get("resumes") or []
        extra += f", {len(resumes)} resume(s)" if resumes else ""
        counts = f"{len(rows)} rows"
        if self.eigen_rows:
            counts += f" ({len(self.rows)} singular, {len(self.eigen_rows)} eigen)"
        self.footer = (f"sweep {os.path.normpath(directory)}: {self.backend} "
                       f"on {self.device}, commit {self.commit}, started {self.started}, "
                       f"{counts}{extra}")

    def eigen_view(self):
        """This sweep as the eigen figures see it: the same label and footer, rows = the eigen
        rows and values = their eigenvalues (so the helpers of figure_data, which read .rows,
        serve both kinds of figure)."""
        view = SpectrumView(self)
        view.rows = self.eigen_rows
        view.values = self.eigen_values
        return view


class SpectrumView:
    """One spectrum's rows of a Sweep (Sweep.eigen_view)."""

    def __init__(self, sweep):
        for key in ("dir", "meta", "backend", "device", "commit", "started", "label",
                    "footer"):
            setattr(self, key, getattr(sweep, key))
        self.sweep = sweep


# rows.csv of `gapbench propagate` (one row per layer of one network): the columns the
# propagation figures need (besides run or index, the seed index), and the numeric ones.
PROP_NEEDED = ("T", "variant", "fix", "attention", "layernorm", "layer", "stable_rank")
PROP_NUMERIC = {"point", "run", "index", "T", "d", "gamma", "L", "beta", "c", "dk", "sigma_v",
                "seed", "layer", "log_frob", "stable_rank", "stable_rank4", "mean_cosine",
                "centered_ratio", "logit_std", "log_grad_sq", "log_grad_se", "grad_probes",
                "layer_seconds", "metric_seconds"}
PROP_FLAGS = {"0": False, "1": True, "false": False, "true": True, "off": False, "on": True}


def is_propagate_dir(directory, meta):
    """A `gapbench propagate` directory: meta.json's schema says so, or rows.csv has a layer
    column."""
    schema = meta.get("schema") if isinstance(meta, dict) else None
    if isinstance(schema, str):
        if schema.startswith("gapbench.propagate"):
            return True
        if schema.startswith("gapbench.sweep"):
            return False
    try:
        with open(os.path.join(directory, "rows.csv"), newline="", encoding="utf-8") as f:
            header = next(csv.reader([f.readline()]), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return "layer" in header


class Propagate:
    """One directory of `gapbench propagate` (rows.csv: one row per layer and network)."""

    def __init__(self, directory, meta):
        self.dir = directory
        self.meta = meta
        rows_path = os.path.join(directory, "rows.csv")
        self.rows = read_csv(rows_path, PROP_NEEDED, PROP_NUMERIC,
                             what="gapbench propagate file")
        if self.rows and "run" not in self.rows[0] and "index" not in self.rows[0]:
            raise InputError(f"{rows_path}: lacks the column run (or index): the seed index")
        seed_key = "run" if self.rows and "run" in self.rows[0] else "index"
        for i, row in enumerate(self.rows, start=2):
            for key, low in (("T", 1), ("layer", 0), (seed_key, 0)):
                v = row.get(key)
                if v is None or v < low or v != int(v):
                    raise InputError(f"{rows_path}:{i}: {key} = {row.get(key)} is not an "
                                     f"integer >= {low}")
                row[key] = int(v)
            flag = PROP_FLAGS.get(str(row["layernorm"]).strip().lower())
            if flag is None:
                raise InputError(f"{rows_path}:{i}: layernorm = {row['layernorm']!r} is not "
                                 f"0 or 1")
            row["layernorm"] = flag
            row["run_index"] = row[seed_key]
            for key in ("stable_rank", "stable_rank4"):
                v = row.get(key)
                if v is not None and math.isfinite(v) and v <= 0:
                    raise InputError(f"{rows_path}:{i}: {key} = {v:g} is not positive")
        backend = meta.get("backend") or "?"
        if isinstance(backend, dict):
            device = backend.get("device")
            backend = f"{backend.get('name', '?')}" + (f" {device}" if device else "")
        self.backend = str(backend)
        self.device = str(meta.get("device") or meta.get("host") or "?")
        self.blas = str(meta.get("blas") or "")
        build = meta.get("build") or {}
        self.commit = str(build.get("commit", "?")) if isinstance(build, dict) else "?"
        self.started = str(meta.get("started", "?"))
        self.label = f"{self.backend} {self.device} @{short_commit(self.commit)}"
        blas = f" ({self.blas.split(' NO_')[0][:40]})" if self.blas else ""
        status = meta.get("status")
        extra = f", status {status}" if status and status != "complete" else ""
        self.footer = (f"propagate {os.path.normpath(directory)}: {self.backend}{blas} on "
                       f"{self.device}, commit {self.commit}, started {self.started}, "
                       f"{len(self.rows)} rows{extra}")


def load_dir(directory, need_values):
    """A sweep or a propagate directory, told apart by meta.json's schema (or a layer column)."""
    if not os.path.isdir(directory):
        raise InputError(f"{directory}: no such directory (give a directory written by "
                         f"gapbench sweep or gapbench propagate)")
    rows_path = os.path.join(directory, "rows.csv")
    if not os.path.isfile(rows_path):
        raise InputError(f"{rows_path}: no such file (give a directory written by "
                         f"gapbench sweep or gapbench propagate)")
    meta_path = os.path.join(directory, "meta.json")
    meta = read_json(meta_path, "results metadata")
    if not isinstance(meta, dict):
        raise InputError(f"{meta_path}: not a JSON object")
    if is_propagate_dir(directory, meta):
        return Propagate(directory, meta)
    return Sweep(directory, meta, need_values)
