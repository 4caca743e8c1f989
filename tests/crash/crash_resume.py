#!/usr/bin/python3
"""Crash-and-resume tests of gapbench's results directories (ctest label `crash`).

A real, small `gapbench sweep` or `gapbench propagate` runs as a child process with
GAPBENCH_TEST_PAUSE_AT=<point>[:<n>] (src/gapbench/test_hook.hpp): at that arrival it prints
"gapbench: paused at <point>" and stops itself (SIGSTOP); the test then SIGKILLs it, which is what a
power cut or an OOM kill leaves behind at exactly that point. The directory is then resumed (a
resume may itself be killed: a chain) until a run completes, and the result is compared with an
uninterrupted run of the same plan in another directory:

  * rows.csv has the same header and the same keys, each once, and every value column equal as
    text (bitwise: --threads 1; the time columns differ between runs and are not compared);
  * every line is whole (no torn line, no duplicate), values.csv likewise when the plan writes one;
  * the directory is complete: meta.json parses, says "complete" with the full count and one
    `resumes` entry per resume, and no *.tmp file is left.

Groups (one ctest each, `--group NAME`):
  sweep, values, propagate   kill chains at every point
  dead-end                   kills before meta.json exists (needs the dead-end resume fix)
  disk-full                  a full tmpfs (root and mount(8) only; otherwise exit 77, a skip)
  race                       two runs on one directory
  race-dead-end              a second run while the first holds a directory with no meta.json yet

Each case that depends on behaviour issue 14 adds names that behaviour in `needs` (the NEEDS_*
strings below); a failure prints it, so a failure on a build without that fix says why.

Standard library only; run by /usr/bin/python3. GAPBENCH_TEST_TIMEOUT_FACTOR (default 1)
stretches every wait (sanitized builds are several times slower).
"""

import argparse
import csv
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SKIP = 77  # ctest SKIP_RETURN_CODE
TIMEOUT_FACTOR = float(os.environ.get("GAPBENCH_TEST_TIMEOUT_FACTOR", "1") or "1")
RUN_TIMEOUT_S = 60 * TIMEOUT_FACTOR  # one small run, stop included

# What issue 14's resume fixes add; cases that rely on them name them.
NEEDS_DEAD_END = ("a directory killed before its first row (no meta.json, or only meta.json.tmp) "
                  "resumes with the same flags, without --force")
NEEDS_STALE_TMP = "a resume removes the *.tmp files a killed run left"
NEEDS_ORIGINAL_ERROR = ("when marking meta.json 'failed' fails too, the error reported is the "
                        "original one (the file that could not be written), not meta.json.tmp's")
NEEDS_WHOLE_ROWS_ON_ENOSPC = ("a row that cannot be appended (ENOSPC) is cut back, so rows.csv "
                              "holds whole lines only")
NEEDS_IN_USE = ("--resume of a directory whose lock is held says it is in use, also before "
                "meta.json exists")


class CaseFailure(AssertionError):
    pass


def check(condition, message):
    if not condition:
        raise CaseFailure(message)


# ---- workloads -----------------------------------------------------------------------------------

@dataclass
class Workload:
    name: str
    command: list             # the gapbench arguments, without --out/--resume
    key_columns: tuple        # a row's identity in rows.csv
    time_columns: frozenset   # differ between runs; not compared
    count_key: str            # meta.json's count of what is done
    total: int                # that count when complete
    values: bool = False      # also writes values.csv


SWEEP_FLAGS = ["--model", "markov", "--law", "exponential", "--T", "16,32",
               "--seeds", "3", "--solver", "exact", "--k", "4", "--threads", "1"]

WORKLOADS = {
    # 2 points x 3 matrices = 6 rows.
    "sweep": Workload("sweep", ["sweep", *SWEEP_FLAGS], ("point", "index"),
                      frozenset({"generate_s", "solve_s"}), "rows", 6),
    # The same with values.csv (every value of every matrix: `exact` gives all T of them).
    "values": Workload("values", ["sweep", *SWEEP_FLAGS, "--all-values"], ("point", "index"),
                       frozenset({"generate_s", "solve_s"}), "rows", 6, values=True),
    # 2 widths x 2 runs = 4 networks of L+1 = 4 rows each, one write(2) per network.
    "propagate": Workload("propagate",
                          ["propagate", "--T", "16,32", "--gamma", "1", "--L", "3", "--seeds", "2",
                           "--threads", "1"],
                          ("point", "run", "layer"),
                          frozenset({"layer_seconds", "metric_seconds"}), "networks", 4),
    # Rows enough to need a second 4 KiB page of rows.csv after the disk is filled (disk-full).
    "sweep-long": Workload("sweep-long",
                           ["sweep", "--model", "markov", "--law", "exponential",
                            "--T", "16", "--seeds", "40", "--solver", "exact", "--k", "4",
                            "--threads", "1"],
                           ("point", "index"), frozenset({"generate_s", "solve_s"}), "rows", 40),
}


# ---- running gapbench ----------------------------------------------------------------------------

class Runner:
    def __init__(self, exe, scratch):
        self.exe = exe
        self.scratch = Path(scratch)
        self.serial = 0

    def _env(self, pause):
        env = dict(os.environ)
        env.pop("GAPBENCH_TEST_PAUSE_AT", None)
        if pause:
            env["GAPBENCH_TEST_PAUSE_AT"] = pause
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # no re-exec (docs/cli.md, Environment)
        env["OPENBLAS_NUM_THREADS"] = "1"
        return env

    def start(self, args, pause=None):
        """Starts gapbench ARGS; returns a Child (stdout and stderr go to files)."""
        self.serial += 1
        log = self.scratch / f"log{self.serial:03d}"
        out = open(f"{log}.out", "w+")
        err = open(f"{log}.err", "w+")
        proc = subprocess.Popen([self.exe, *args], stdout=out, stderr=err, env=self._env(pause))
        return Child(proc, args, pause, out, err)

    def run(self, args, pause=None):
        """Runs gapbench ARGS to its end; returns the finished Child."""
        child = self.start(args, pause)
        child.wait_exit()
        return child


class Child:
    def __init__(self, proc, args, pause, out, err):
        self.proc, self.args, self.pause, self._out, self._err = proc, args, pause, out, err
        self.code = None

    def _read(self, f):
        f.flush()
        f.seek(0)
        return f.read()

    @property
    def stdout(self):
        return self._read(self._out)

    @property
    def stderr(self):
        return self._read(self._err)

    def describe(self):
        return (f"gapbench {' '.join(self.args)} (pause {self.pause}, exit {self.code})\n"
                f"--- stderr:\n{self.stderr}--- end of stderr")

    def wait_stopped(self):
        """Waits until the child has stopped itself at its pause point."""
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.proc.pid, os.WNOHANG | os.WUNTRACED)
            if pid == 0:
                time.sleep(0.002)
                continue
            if os.WIFSTOPPED(status):
                point = self.pause.split(":")[0]
                check(f"gapbench: paused at {point}\n" in self.stderr,
                      f"stopped without the pause line: {self.describe()}")
                return
            self.code = os.waitstatus_to_exitcode(status)
            self.proc.returncode = self.code
            raise CaseFailure(f"ended before reaching {self.pause}: {self.describe()}")
        self.kill()
        raise CaseFailure(f"did not reach {self.pause} in {RUN_TIMEOUT_S:.0f} s: {self.describe()}")

    def kill(self):
        """SIGKILL (also when stopped) and reap."""
        self.proc.send_signal(signal.SIGKILL)
        self.code = self.proc.wait()

    def resume_stopped(self):
        self.proc.send_signal(signal.SIGCONT)

    def wait_exit(self):
        try:
            self.code = self.proc.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise CaseFailure(f"did not end in {RUN_TIMEOUT_S:.0f} s: {self.describe()}")
        return self.code


# ---- reading and comparing results ---------------------------------------------------------------

def read_lines(path):
    """The lines of PATH; fails on a torn last line."""
    text = path.read_text()
    check(text.endswith("\n"), f"{path}: last line is torn: {text[-80:]!r}")
    return text.splitlines()


def read_rows(path, workload):
    """{key: row} of rows.csv, failing on a duplicate key, a torn or short line."""
    lines = read_lines(path)
    reader = csv.reader(io.StringIO("\n".join(lines) + "\n"))
    header = next(reader)
    rows = {}
    for n, fields in enumerate(reader, start=2):
        check(len(fields) == len(header), f"{path}:{n}: {len(fields)} fields, not {len(header)}")
        row = dict(zip(header, fields))
        key = tuple(row[c] for c in workload.key_columns)
        check(key not in rows, f"{path}:{n}: key {key} written twice")
        rows[key] = row
    return header, rows


def read_values(path):
    lines = read_lines(path)
    check(lines[0] == "point,index,rank,value,value_im", f"{path}: header {lines[0]!r}")
    keyed = {}
    for n, line in enumerate(lines[1:], start=2):
        f = line.split(",")
        check(len(f) == 5, f"{path}:{n}: torn or damaged line {line!r}")
        check(tuple(f[:3]) not in keyed, f"{path}:{n}: value {f[:3]} written twice")
        keyed[tuple(f[:3])] = (f[3], f[4])
    return keyed


def assert_same_results(got_dir, want_dir, workload, resumes):
    """GOT_DIR is complete and holds the results of the uninterrupted WANT_DIR."""
    leftovers = sorted(p.name for p in got_dir.iterdir() if p.name.endswith(".tmp"))
    check(not leftovers, f"{got_dir}: left behind {leftovers} ({NEEDS_STALE_TMP})")
    try:
        meta = json.loads((got_dir / "meta.json").read_text())
    except (OSError, ValueError) as e:
        raise CaseFailure(f"{got_dir}/meta.json: {e}")
    check(meta.get("status") == "complete", f"meta.json status {meta.get('status')!r}")
    check(meta.get(workload.count_key) == workload.total,
          f"meta.json {workload.count_key} = {meta.get(workload.count_key)}, not {workload.total}")
    allowed = resumes if isinstance(resumes, set) else {resumes}
    check(len(meta.get("resumes", [])) in allowed,
          f"meta.json has {len(meta.get('resumes', []))} resumes, not {sorted(allowed)}")
    want_header, want = read_rows(want_dir / "rows.csv", workload)
    got_header, got = read_rows(got_dir / "rows.csv", workload)
    check(got_header == want_header, f"header {got_header} != {want_header}")
    check(got.keys() == want.keys(),
          f"keys differ: missing {sorted(want.keys() - got.keys())}, "
          f"extra {sorted(got.keys() - want.keys())}")
    for key, want_row in want.items():
        for column, value in want_row.items():
            if column in workload.time_columns:
                continue
            check(got[key][column] == value,
                  f"row {key} column {column}: {got[key][column]!r} != {value!r}")
    if workload.values:
        got_values = read_values(got_dir / "values.csv")
        want_values = read_values(want_dir / "values.csv")
        check(got_values == want_values,
              f"values.csv differs: {len(got_values)} values, {len(want_values)} expected; "
              f"differing keys {sorted(k for k in want_values if got_values.get(k) != want_values[k])[:5]}")


# ---- the cases -----------------------------------------------------------------------------------

@dataclass
class Chain:
    """Run, kill at kills[0]; resume, kill at kills[1]; ...; then resume to the end."""
    workload: str
    kills: list
    needs: list = field(default_factory=list)

    @property
    def name(self):
        return f"{self.workload}: kill at {' -> '.join(self.kills)} -> resume"


# Kills of a new run that leave no meta.json: the directory and lock only, or meta.json.tmp.
BEFORE_META = {"directory:1", "atomic-tmp:1"}


def run_chain(runner, chain, reference, scratch):
    w = WORKLOADS[chain.workload]
    target = scratch / f"{chain.workload}-{'-'.join(k.replace(':', '') for k in chain.kills)}"
    first = [*w.command, "--out", str(target)]
    resume = [*w.command, "--resume", str(target)]
    for n, point in enumerate(chain.kills):
        child = runner.start(first if n == 0 else resume, pause=point)
        child.wait_stopped()
        child.kill()
    final = runner.run(resume)
    check(final.code == 0, f"the last resume failed: {final.describe()}")
    # meta.json records a resume when it writes its meta.json, after rewriting rows.csv and
    # values.csv: a resume killed inside one of those atomic writes leaves no record.
    resumes = 1 + sum(1 for k in chain.kills[1:] if not k.startswith("atomic-tmp"))
    if chain.kills[0] in BEFORE_META:  # the first resume may start afresh or count as a resume
        resumes = {resumes - 1, resumes}
    assert_same_results(target, reference[chain.workload], w, resumes=resumes)


CHAINS = {
    "sweep": [
        Chain("sweep", ["compute:1"]),             # meta.json and rows.csv's header, no row
        Chain("sweep", ["row-written:1"]),         # between rows
        Chain("sweep", ["row-torn:2"]),            # mid-row: half a line
        Chain("sweep", ["compute:2"]),             # between batches (the second point)
        Chain("sweep", ["row-written:6"]),         # the last row whole, before the summary
        Chain("sweep", ["finish:1"]),              # during the final summary
        Chain("sweep", ["atomic-tmp:2"]),          # inside the final meta.json's atomic write
        # Chains: the resume is killed too.
        Chain("sweep", ["row-torn:2", "atomic-tmp:1", "row-written:1"]),  # rows.csv rewrite
        Chain("sweep", ["row-written:2", "compute:1", "row-torn:1", "finish:1"]),
    ],
    "values": [
        Chain("values", ["row-torn:3"]),           # values of matrix 3 written, its row torn
        Chain("values", ["row-written:4"]),
        Chain("values", ["finish:1"]),
        # The resume killed inside its rows.csv rewrite, then inside its values.csv rewrite.
        Chain("values", ["row-torn:2", "atomic-tmp:1", "atomic-tmp:2"]),
    ],
    "propagate": [
        Chain("propagate", ["compute:1"]),
        Chain("propagate", ["row-torn:2"]),        # half a network's rows
        Chain("propagate", ["row-written:3"]),
        Chain("propagate", ["finish:1"]),
        Chain("propagate", ["atomic-tmp:2"]),
        Chain("propagate", ["row-torn:3", "atomic-tmp:1", "compute:1"]),
    ],
    "dead-end": [
        # Killed after the directory and its lock exist, before meta.json.
        Chain("sweep", ["directory:1"], [NEEDS_DEAD_END]),
        # Killed with meta.json complete in meta.json.tmp, not yet renamed.
        Chain("sweep", ["atomic-tmp:1"], [NEEDS_DEAD_END, NEEDS_STALE_TMP]),
        Chain("propagate", ["directory:1"], [NEEDS_DEAD_END]),
        Chain("values", ["atomic-tmp:1"], [NEEDS_DEAD_END, NEEDS_STALE_TMP]),
        # A dead end resumed, and the resume killed before its first row.
        Chain("sweep", ["directory:1", "compute:1"], [NEEDS_DEAD_END]),
    ],
}


def make_references(runner, scratch, names):
    reference = {}
    for name in names:
        w = WORKLOADS[name]
        target = scratch / f"reference-{name}"
        child = runner.run([*w.command, "--out", str(target)])
        check(child.code == 0, f"the uninterrupted run failed: {child.describe()}")
        reference[name] = target
    return reference


def group_chains(runner, scratch, group):
    chains = CHAINS[group]
    reference = make_references(runner, scratch, sorted({c.workload for c in chains}))
    return [(c.name, c.needs, lambda c=c: run_chain(runner, c, reference, scratch))
            for c in chains]


# -- a full disk

def fill_disk(mount):
    """Writes mount/filler until the file system is full."""
    with open(mount / "filler", "wb", buffering=0) as f:
        for size in (1 << 16, 4096, 1):
            chunk = b"\0" * size
            while True:
                try:
                    f.write(chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break


class Tmpfs:
    """A small tmpfs mounted for the test (root only), unmounted on exit."""

    def __init__(self, size):
        self.path = Path(tempfile.mkdtemp(prefix="gapbench-disk-"))
        self.size = size

    def __enter__(self):
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size}", "tmpfs",
                               str(self.path)], capture_output=True, text=True)
        if done.returncode != 0:
            self.path.rmdir()
            raise OSError(done.stderr.strip() or f"mount exited {done.returncode}")
        return self.path

    def __exit__(self, *exc):
        subprocess.run(["umount", str(self.path)], check=False)
        self.path.rmdir()


def disk_full_case(runner, reference, mount, pause, failing_file):
    """Stops a run at PAUSE, fills the disk, lets it go on: it must fail with one line naming
    FAILING_FILE, leave only whole files, and resume to the reference once space is freed."""
    w = WORKLOADS["sweep-long"]
    target = mount / f"run-{pause.replace(':', '')}"
    child = runner.start([*w.command, "--out", str(target)], pause=pause)
    child.wait_stopped()
    fill_disk(mount)
    child.resume_stopped()
    child.wait_exit()
    errors = [l for l in child.stderr.splitlines()
              if l.startswith(("gapbench: failed: ", "gapbench: error: "))]
    check(child.code == 1, f"a full disk should fail the run (exit 1): {child.describe()}")
    check(len(errors) == 1, f"not one error line: {errors}")
    check(failing_file in errors[0] and "No space left on device" in errors[0],
          f"the error does not name {failing_file} and ENOSPC: {errors[0]!r}")
    leftovers = sorted(p.name for p in target.iterdir() if p.name.endswith(".tmp"))
    check(not leftovers, f"half-written files left: {leftovers}")
    if (target / "meta.json").exists():
        json.loads((target / "meta.json").read_text())
    if (target / "rows.csv").exists():
        text = (target / "rows.csv").read_text()
        check(text.endswith("\n"), f"rows.csv ends in a torn line ({NEEDS_WHOLE_ROWS_ON_ENOSPC}): "
                                   f"{text[-60:]!r}")
    (mount / "filler").unlink()
    final = runner.run([*w.command, "--resume", str(target)])
    check(final.code == 0, f"the resume after freeing space failed: {final.describe()}")
    assert_same_results(target, reference["sweep-long"], w,
                        resumes={0, 1} if pause in BEFORE_META else 1)


def group_disk_full(runner, scratch, _group):
    if os.geteuid() != 0:
        print("SKIP: the full-disk cases mount a tmpfs, which needs root")
        sys.exit(SKIP)
    try:
        probe = Tmpfs("64k")
        with probe:
            pass
    except OSError as e:
        print(f"SKIP: cannot mount a tmpfs here ({e})")
        sys.exit(SKIP)
    reference = make_references(runner, scratch, ["sweep-long"])

    def case(pause, failing_file):
        def body():
            with Tmpfs("1m") as mount:
                disk_full_case(runner, reference, mount, pause, failing_file)
        return body

    return [
        # The disk fills between rows: a later row's append fails (rows.csv needs a new page),
        # then so does marking meta.json failed.
        ("disk full while appending rows", [NEEDS_ORIGINAL_ERROR, NEEDS_WHOLE_ROWS_ON_ENOSPC],
         case("row-written:1", "rows.csv")),
        # The disk fills before meta.json is written: a dead end to resume.
        ("disk full before meta.json", [NEEDS_DEAD_END],
         case("directory:1", "meta.json")),
    ]


# -- two runs on one directory

def expect_refused(child, words, needs=()):
    child.wait_exit()
    check(child.code == 2, f"the second run should be refused (exit 2): {child.describe()}")
    lines = [l for l in child.stderr.splitlines() if l.startswith("gapbench: error: ")]
    check(len(lines) == 1 and any(w in lines[0] for w in words),
          f"the refusal does not say {' or '.join(repr(w) for w in words)}"
          f"{' (' + '; '.join(needs) + ')' if needs else ''}: {lines}")


def held_case(runner, reference, scratch, pause, needs=()):
    """The first run is held stopped at PAUSE, holding the lock; a --resume and an --out of
    the same directory are refused; the first, let go, completes the reference's rows."""
    w = WORKLOADS["sweep"]
    target = scratch / f"held-{pause.replace(':', '')}"
    first = runner.start([*w.command, "--out", str(target)], pause=pause)
    first.wait_stopped()
    try:
        expect_refused(runner.start([*w.command, "--resume", str(target)]), ["in use"],
                       [*needs, NEEDS_IN_USE])
        # "in use" first: the lock is decided before what the directory holds.
        expect_refused(runner.start([*w.command, "--out", str(target)]), ["in use"])
    finally:
        first.resume_stopped()
    check(first.wait_exit() == 0, f"the held run failed: {first.describe()}")
    assert_same_results(target, reference["sweep"], w, resumes=0)


def simultaneous_out(runner, reference, scratch, repeat):
    """Two --out runs started together on one new directory: one wins, one is refused."""
    w = WORKLOADS["sweep"]
    target = scratch / f"together-{repeat}"
    children = [runner.start([*w.command, "--out", str(target)]) for _ in range(2)]
    for c in children:
        c.wait_exit()
    winners = [c for c in children if c.code == 0]
    check(len(winners) == 1, "not exactly one winner: " + "; ".join(c.describe() for c in children))
    loser = next(c for c in children if c is not winners[0])
    expect_refused(loser, ["in use", "exists already"])
    assert_same_results(target, reference["sweep"], w, resumes=0)


def simultaneous_resume(runner, reference, scratch, repeat):
    """Two --resume runs of one interrupted directory started together: the rows stay whole and
    single; a loser is refused as in use (it may also win, after the first has finished)."""
    w = WORKLOADS["sweep"]
    target = scratch / f"resume-together-{repeat}"
    first = runner.start([*w.command, "--out", str(target)], pause="row-written:2")
    first.wait_stopped()
    first.kill()
    children = [runner.start([*w.command, "--resume", str(target)]) for _ in range(2)]
    for c in children:
        c.wait_exit()
    check(any(c.code == 0 for c in children),
          "no resume won: " + "; ".join(c.describe() for c in children))
    for c in children:
        if c.code != 0:
            expect_refused(c, ["in use"])
    assert_same_results(target, reference["sweep"], w,
                        resumes=sum(1 for c in children if c.code == 0))


def group_race(runner, scratch, group):
    reference = make_references(runner, scratch, ["sweep"])
    if group == "race-dead-end":
        return [("held before meta.json: a second run refused, the first completes",
                 [NEEDS_IN_USE], lambda: held_case(runner, reference, scratch, "directory:1"))]
    cases = [("held mid-sweep: a second run refused, the first completes", [],
              lambda: held_case(runner, reference, scratch, "compute:2"))]
    for n in range(4):
        cases.append((f"two --out at once #{n + 1}", [],
                      lambda n=n: simultaneous_out(runner, reference, scratch, n)))
    for n in range(2):
        cases.append((f"two --resume at once #{n + 1}", [],
                      lambda n=n: simultaneous_resume(runner, reference, scratch, n)))
    return cases


GROUPS = {
    "sweep": group_chains,
    "values": group_chains,
    "propagate": group_chains,
    "dead-end": group_chains,
    "disk-full": group_disk_full,
    "race": group_race,
    "race-dead-end": group_race,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gapbench", required=True, help="the gapbench executable")
    parser.add_argument("--group", required=True, choices=sorted(GROUPS))
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix=f"gapbench-crash-{args.group}-"))
    runner = Runner(os.path.abspath(args.gapbench), scratch)
    failures = 0
    started = time.monotonic()
    try:
        try:
            cases = GROUPS[args.group](runner, scratch, args.group)
        except CaseFailure as e:
            print(f"FAIL  setting up {args.group}\n      {e}")
            failures, cases = 1, []
        for name, needs, body in cases:
            t0 = time.monotonic()
            try:
                body()
            except (CaseFailure, OSError) as e:
                failures += 1
                print(f"FAIL  {name}\n      {e}")
                for need in needs:
                    print(f"      (this case needs: {need})")
                continue
            print(f"ok    {name} ({time.monotonic() - t0:.2f} s)")
    finally:
        if args.keep or failures:
            print(f"scratch kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"{args.group}: {failures} failed, {time.monotonic() - started:.2f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
