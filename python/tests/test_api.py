"""The Python package against the CLI, NumPy and its own promises (docs/python.md). Run by ctest
(python_package) with the .venv that scripts/python-setup.sh builds; GAPBENCH_EXE names the CLI
binary of the same build."""
import importlib.metadata
import os
import re
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

import gapbench
from dlpack_fakes import FakeProducer

GAPBENCH = os.environ.get("GAPBENCH_EXE", "build/bin/gapbench")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def softmax_rows(logits, causal=False):
    if causal:
        logits = np.where(np.tril(np.ones(logits.shape, dtype=bool)), logits, -np.inf)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def attention(q, k, beta=1.0, causal=False):
    return softmax_rows(beta * (q @ k.T) / np.sqrt(q.shape[1]), causal)


def factors(shape, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype))


def cli(*args):
    r = subprocess.run([GAPBENCH, *args], capture_output=True, text=True, timeout=120)
    return r


def cli_values(text, prefix):
    return [float(m) for m in re.findall(rf"^{prefix}\d+\s+(\S+)", text, re.M)]


# ---- the same numbers as the CLI ---------------------------------------------------------------

def test_values_equal_the_cli_run_bitwise(tmp_path):
    q, k = factors((300, 16), seed=1)
    np.save(tmp_path / "Q.npy", q)
    np.save(tmp_path / "K.npy", k)
    # the CPU backend on both sides, so that the claim is the same on a machine with a GPU
    r = cli("run", "--qk", f"{tmp_path}/Q.npy,{tmp_path}/K.npy", "--k", "4", "--threads", "1",
            "--fix", "center", "--backend", "cpu")
    assert r.returncode == 0, r.stderr
    want = cli_values(r.stdout, "s")
    got = gapbench.spectrum(q, k, k=4, threads=1, fix="center", backend="cpu").values
    assert list(got) == want  # bitwise: the CLI prints 17 significant digits

    # A generated matrix: `gapbench run` against top_k(generate(...)) on the same flags.
    r = cli("run", "--T", "256", "--k", "4", "--threads", "1", "--law", "lognormal",
            "--beta", "0.5", "--backend", "cpu")
    assert r.returncode == 0, r.stderr
    a = gapbench.generate("markov", 256, law="lognormal", beta=0.5)
    assert list(gapbench.top_k(a, 4, threads=1, backend="cpu").values) == \
        cli_values(r.stdout, "s")


def test_generate_equals_dump(tmp_path):
    r = cli("dump", "--model", "attention", "--T", "96", "--d", "32", "--seed", "5",
            "--backend", "cpu", "--out", str(tmp_path / "A.npy"))
    assert r.returncode == 0, r.stderr
    a = gapbench.generate("attention", 96, d=32, seed=5)
    assert np.array_equal(a, np.load(tmp_path / "A.npy"))
    assert a.dtype == np.float64 and a.flags.c_contiguous


# ---- against NumPy ------------------------------------------------------------------------------

@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("fix", ["none", "center"])
def test_spectrum_equals_numpy_svd(causal, fix):
    q, k = factors((200, 16), seed=2)
    a = attention(q, k, beta=1.5, causal=causal)
    if fix == "center":
        a = a - 1.0 / a.shape[0]
    want = np.linalg.svd(a, compute_uv=False)[:4]
    got = gapbench.spectrum(q, k, beta=1.5, causal=causal, fix=fix, k=4)
    assert got.converged
    np.testing.assert_allclose(got.values, want, rtol=1e-10, atol=0)
    assert got.gap == pytest.approx(want[0] - want[1], rel=1e-9)
    assert got.ratio == pytest.approx(want[1] / want[0], rel=1e-9)


@pytest.mark.parametrize("solver", [None, "exact"])
def test_eigenvalues_equal_numpy_eigvals(solver):
    q, k = factors((160, 8), seed=3)
    a = attention(q, k)
    lam = np.linalg.eigvals(a)
    lam = lam[np.argsort(-np.abs(lam), kind="stable")]
    got = gapbench.spectrum(q, k, k=3, spectrum="eigen", solver=solver)
    assert got.values.dtype == np.complex128
    np.testing.assert_allclose(np.abs(got.values[:3]), np.abs(lam[:3]), rtol=1e-10, atol=0)
    assert got.values[0] == pytest.approx(1.0, abs=1e-12)
    # the complex values themselves, each matched to NumPy's nearest (a conjugate pair's order
    # within equal moduli is not fixed)
    for v in got.values:
        assert np.min(np.abs(lam - v)) < 1e-10 * abs(lam[0])


def test_causal_eigenvalues_are_the_diagonal():
    q, k = factors((128, 8), seed=4)
    a = attention(q, k, causal=True)
    got = gapbench.spectrum(q, k, causal=True, k=4, spectrum="eigen")
    want = np.sort(np.diag(a))[::-1][:4]
    np.testing.assert_allclose(got.values.real, want, rtol=1e-12)
    assert got.solver == "diagonal"


def test_top_k_of_a_given_matrix_with_each_fix():
    q, k = factors((180, 12), seed=5)
    a = attention(q, k)
    s = np.linalg.svd(a, compute_uv=False)
    np.testing.assert_allclose(gapbench.top_k(a, 3).values, s[:3], rtol=1e-10)
    centered = np.linalg.svd(a - 1.0 / 180, compute_uv=False)
    np.testing.assert_allclose(gapbench.top_k(a, 3, fix="center").values, centered[:3],
                               rtol=1e-10)
    np.testing.assert_allclose(gapbench.top_k(a, 3, fix="deflate").values, s[1:4], rtol=1e-8)


# ---- heads and batches, float32 -------------------------------------------------------------------

def test_heads_and_batches_match_one_call_per_matrix():
    q, k = factors((2, 3, 64, 8), seed=6)
    got = gapbench.spectrum(q, k, k=2, threads=1)
    assert len(got) == 2 and all(len(b) == 3 for b in got)
    for b in range(2):
        for h in range(3):
            one = gapbench.spectrum(q[b, h], k[b, h], k=2, threads=1)
            assert list(got[b][h].values) == list(one.values)
    heads = gapbench.spectrum(q[0], k[0], k=2, threads=1)
    assert [list(r.values) for r in heads] == [list(r.values) for r in got[0]]
    stack = np.stack([attention(q[0, h], k[0, h]) for h in range(3)])
    for h, r in enumerate(gapbench.top_k(stack, 2, threads=1)):
        np.testing.assert_allclose(r.values, np.linalg.svd(stack[h], compute_uv=False)[:2],
                                   rtol=1e-10)


def test_float32_runs_in_float32():
    q, k = factors((128, 16), seed=7, dtype=np.float32)
    got = gapbench.spectrum(q, k, k=2)
    want = np.linalg.svd(attention(q.astype(np.float64), k.astype(np.float64)),
                         compute_uv=False)[:2]
    np.testing.assert_allclose(got.values, want, rtol=1e-4)
    half = gapbench.spectrum(q.astype(np.float16), k.astype(np.float16), k=2)  # upcast
    assert half.values[0] == pytest.approx(want[0], rel=1e-2)


# ---- no copy, strict checks ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_copy_for_c_contiguous_input(dtype):
    q, _ = factors((64, 8), dtype=dtype)
    assert gapbench._gapbench.data_address(q) == q.__array_interface__["data"][0]
    # what the package passes on is the array itself
    assert gapbench._host_array(q, "Q", copy=False) is q


BAD = [
    (lambda q, k: gapbench.spectrum(q.astype(np.int64), k), ValueError,
     "Q: dtype int64 is not float32 or float64"),
    (lambda q, k: gapbench.spectrum(q, k[:, :4]), ValueError, "K: shape (64, 4) differs"),
    (lambda q, k: gapbench.spectrum(q[0], k[0]), ValueError, "Q: shape (8,) is not"),
    (lambda q, k: gapbench.spectrum(q, k.astype(np.float32)), ValueError, "K: dtype float32"),
    (lambda q, k: gapbench.spectrum(np.where(q > 2, np.nan, q), k), ValueError, "NaN or Inf"),
    (lambda q, k: gapbench.spectrum(q.T.T[:, ::2], k[:, ::2], copy=False), ValueError,
     "not C-contiguous and copy=False"),
    (lambda q, k: gapbench.spectrum(q, k, fix="half"), ValueError, "--fix: unknown value 'half'"),
    (lambda q, k: gapbench.spectrum(q, k, k=0), ValueError, "--k"),
    (lambda q, k: gapbench.spectrum(q, k, beta=-1), ValueError, "--beta"),
    (lambda q, k: gapbench.spectrum(q, k, solver="magic"), ValueError, "--solver"),
    (lambda q, k: gapbench.spectrum(q, k, precision="float32"), ValueError, "precision"),
    (lambda q, k: gapbench.spectrum("Q", k), ValueError, "Q: expected an array"),
    (lambda q, k: gapbench.spectrum(np.ma.masked_array(q, mask=q > 1), k), ValueError,
     "Q: a masked array; fill the masked entries explicitly"),
    (lambda q, k: gapbench.spectrum(q.astype(">f8"), k), ValueError,
     "Q: dtype >f8 is not in this machine's byte order"),
    (lambda q, k: gapbench.spectrum(np.zeros((0, 3) + q.shape), np.zeros((0, 3) + q.shape)),
     ValueError, "Q: shape (0, 3, 64, 8) holds no heads"),
    (lambda q, k: gapbench.top_k(np.zeros((2, 0, 4, 4))), ValueError,
     "A: shape (2, 0, 4, 4) holds no matrices"),
    (lambda q, k: gapbench.spectrum(q, k, causal=1), ValueError,
     "causal: expected True or False, got 1"),
    (lambda q, k: gapbench.spectrum(q, k, k=True), ValueError, "k: expected a value, got True"),
    (lambda q, k: gapbench.generate("markov", 64, backend="cuda"), ValueError,
     "(and device='cpu' or 'cuda' for the backend)"),
    (lambda q, k: gapbench.spectrum(q.astype(np.float16), k.astype(np.float16), copy=False),
     ValueError, "Q: dtype float16 needs an upcast to float32, a copy, and copy=False"),
    (lambda q, k: gapbench.spectrum(q.astype(np.float32), k.astype(np.float16)), ValueError,
     "K: dtype float16 differs from Q's float32"),
    (lambda q, k: gapbench.generate("markov", 64, solver="exact"), ValueError,
     "solver: not a parameter of generate(); it takes beta, causal, d, dk, fix, init, input"),
    (lambda q, k: gapbench.spectrum(FakeProducer(8), k), ValueError,  # Metal
     "Q: the array is on DLPack device type 8, neither host memory nor a CUDA GPU"),
    (lambda q, k: gapbench.top_k(FakeProducer(1), 2), ValueError,
     "A: cannot read the array through DLPack (not exportable)"),
    (lambda q, k: gapbench.top_k(q, 2), ValueError, "A: shape (64, 8) is not (..., T, T)"),
    (lambda q, k: gapbench.generate("markov", 1), ValueError, "--T"),
    (lambda q, k: gapbench.generate("markov", 2_000_000), MemoryError,  # 29 TiB
     "--T: a dense float64 matrix at T = 2000000 needs"),
    (lambda q, k: gapbench.spectrum(np.ones((2_000_000, 1)), np.ones((2_000_000, 1)),
                                    operator="dense"), MemoryError,
     "--T: a dense float64 attention matrix at T = 2000000 with --solver lanczos needs"),
    (lambda q, k: gapbench.generate("markov", 64, device="tpu"), ValueError,
     "device: 'tpu' is not"),
    (lambda q, k: gapbench.load("/nonexistent"), ValueError, "does not exist"),
]


@pytest.mark.parametrize("call,error,message", BAD, ids=[m for _, _, m in BAD])
def test_bad_input_raises_the_documented_error(call, error, message):
    q, k = factors((64, 8))
    with pytest.raises(error) as e:
        call(q, k)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_a_failed_computation_is_a_gapbench_error():
    assert issubclass(gapbench.GapbenchError, RuntimeError)
    huge = np.full((64, 8), 1e200)
    with pytest.raises(gapbench.GapbenchError, match=r"^head 0 has entries that are not finite "
                       r"in float64: .* overflow; lower --beta or the inputs' scale$"):
        gapbench.spectrum(huge, huge, beta=1e4)
    huge32 = np.full((2, 64, 8), 1e18, dtype=np.float32)
    huge32[0] = 0.01  # head 0 is fine
    with pytest.raises(gapbench.GapbenchError, match=r"^head 1 has entries that are not "
                       r"finite in float32: .*, or use --precision float64$"):
        gapbench.spectrum(huge32, huge32, beta=1e4)


# ---- sweeps and results directories ----------------------------------------------------------------

def test_sweep_and_load_round_trip(tmp_path):
    pd = pytest.importorskip("pandas")
    df = gapbench.sweep(out=tmp_path / "s", T=[64, 128], seeds=2, fix="none,center", threads=1)
    assert len(df) == 8 and set(df["T"]) == {64, 128}
    assert df.attrs["meta"]["schema"].startswith("gapbench.sweep/")
    again = gapbench.load(tmp_path / "s")
    pd.testing.assert_frame_equal(df, again)
    # the CLI's own rows
    raw = pd.read_csv(tmp_path / "s" / "rows.csv")
    assert list(raw["s1"]) == list(df["s1"])
    with pytest.raises(ValueError, match="--T"):
        gapbench.sweep(out=tmp_path / "bad", T="abc")


def test_load_reads_merged_shards_as_the_unsharded_sweep(tmp_path):
    pytest.importorskip("pandas")
    flags = ["sweep", "--T", "64,96", "--seeds", "3", "--threads", "1"]
    assert cli(*flags, "--out", str(tmp_path / "whole")).returncode == 0
    for i in range(2):
        r = cli(*flags, "--shard", f"{i}/2", "--out", str(tmp_path / "parts"))
        assert r.returncode == 0, r.stderr
    r = cli("merge", str(tmp_path / "parts"), "--out", str(tmp_path / "merged"))
    assert r.returncode == 0, r.stderr
    whole, merged = gapbench.load(tmp_path / "whole"), gapbench.load(tmp_path / "merged")
    columns = ["point", "index", "s1", "s2", "s3", "s4", "gap"]
    assert whole[columns].sort_values(["point", "index"]).values.tolist() == \
        merged[columns].sort_values(["point", "index"]).values.tolist()


def test_numpy_scalars_are_flags_like_python_ones():
    q, k = factors((96, 8), seed=5)
    a = gapbench.spectrum(q, k, causal=True, k=2, beta=1.5)
    b = gapbench.spectrum(q, k, causal=np.True_, k=np.int64(2), beta=np.float64(1.5))
    np.testing.assert_array_equal(a.values, b.values)
    c = gapbench.spectrum(q, k, causal=np.False_, k=2, beta=1.5)
    assert c.values[1] != a.values[1]  # not causal


def test_sweep_shards_resume_and_axes_as_python_values(tmp_path):
    """shard="I/N" returns the shard's rows (OUT/shard-IIII-of-NNNN), which together are the
    whole sweep's; resume=DIR continues in DIR; ranges and arrays are comma lists; a sweep past
    the memory plan raises MemoryError before it writes anything."""
    pd = pytest.importorskip("pandas")
    axes = dict(T=range(64, 97, 32), seeds=np.array([3]), threads=1)
    whole = gapbench.sweep(out=tmp_path / "whole", **axes)
    parts = [gapbench.sweep(out=tmp_path / "parts", shard=f"{i}/2", **axes) for i in range(2)]
    assert (tmp_path / "parts" / "shard-0001-of-0002" / "rows.csv").is_file()
    columns = ["point", "index", "s1", "s2", "gap"]
    assert len(whole) == 6 and all(len(p) > 0 for p in parts)
    assert pd.concat(parts)[columns].sort_values(["point", "index"]).values.tolist() == \
        whole[columns].sort_values(["point", "index"]).values.tolist()
    again = gapbench.sweep(resume=tmp_path / "whole")  # nothing left to do: the same rows
    pd.testing.assert_frame_equal(again[columns], whole[columns])
    with pytest.raises(ValueError, match="^foo: not an axis or flag of gapbench sweep"):
        gapbench.sweep(out=tmp_path / "x", T=64, foo=3)
    with pytest.raises(ValueError, match="^out: resume=DIR"):
        gapbench.sweep(out=tmp_path / "x", resume=tmp_path / "whole")
    with pytest.raises(MemoryError, match="^--T: a dense float64"):
        gapbench.sweep(out=tmp_path / "huge", T=2_000_000, operator="dense")
    assert not (tmp_path / "huge" / "rows.csv").exists()


def test_load_reads_propagate_directories(tmp_path):
    pytest.importorskip("pandas")
    r = cli("propagate", "--T", "16", "--L", "2", "--out", str(tmp_path / "p"))
    assert r.returncode == 0, r.stderr
    df = gapbench.load(tmp_path / "p")
    assert list(df["layer"]) == [0, 1, 2]
    assert df.attrs["meta"]["schema"].startswith("gapbench.propagate/")


# ---- Ctrl-C --------------------------------------------------------------------------------------

def sigint_after(seconds):
    """A started timer that sends this process SIGINT after `seconds`, and the list that gets
    the time it was sent."""
    sent = []

    def interrupt():
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)
    timer = threading.Timer(seconds, interrupt)
    timer.start()
    return timer, sent


def endless_solve(a):
    """An eigen solve that cannot reach its tolerance: it would run for minutes."""
    gapbench.top_k(a, 16, spectrum="eigen", solver="arnoldi", tol=1e-300, max_iter=10**6)


def test_keyboard_interrupt_stops_a_long_solve_within_100_ms():
    a = gapbench.generate("markov", 2048, seed=1)
    start = time.monotonic()
    timer, sent = sigint_after(1.0)
    with pytest.raises(KeyboardInterrupt):
        endless_solve(a)
    stopped = time.monotonic()
    timer.join()
    assert sent, "the solve ended before the interrupt was sent"
    assert stopped - sent[0] < 0.1, f"stopped {stopped - sent[0]:.3f} s after SIGINT"
    assert sent[0] - start >= 0.9
    # and the next call runs normally
    assert gapbench.top_k(a[:64, :64], 2).converged


def test_keyboard_interrupt_stops_the_main_thread_s_solve_only():
    """Ctrl-C while a worker thread also calls gapbench: the main thread's solve stops within
    100 ms with KeyboardInterrupt; the worker's calls neither stop nor clear the request."""
    a = gapbench.generate("markov", 2048, seed=1)
    rng = np.random.default_rng(3)
    q, k = rng.standard_normal((2, 256, 16))
    done, worker_errors, worker_calls = threading.Event(), [], [0]

    def worker():
        try:
            while not done.is_set():
                assert gapbench.spectrum(q, k, k=2).converged
                worker_calls[0] += 1
        except BaseException as e:  # noqa: B902 (a KeyboardInterrupt here is the defect)
            worker_errors.append(e)
    thread = threading.Thread(target=worker)
    thread.start()
    timer, sent = sigint_after(1.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            endless_solve(a)
        stopped = time.monotonic()
    finally:
        timer.join()
        done.set()
        thread.join()
    assert sent and stopped - sent[0] < 0.1, f"stopped {stopped - sent[0]:.3f} s after SIGINT"
    assert worker_errors == [] and worker_calls[0] > 0


def test_keyboard_interrupt_during_exact_is_raised_when_lapack_returns():
    a = gapbench.generate("markov", 1500, seed=2)
    timer = threading.Timer(0.1, lambda: os.kill(os.getpid(), signal.SIGINT))
    start = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        # ~0.5 s in one LAPACK call: not cancellable. One thread: OpenBLAS's threads spin, and on
        # a loaded machine (ctest -j) two of them made this call take 50 s instead.
        gapbench.top_k(a, 4, solver="exact", threads=1)
    timer.join()
    assert time.monotonic() - start > 0.1


# ---- the package itself ---------------------------------------------------------------------------

def test_version_and_build_info():
    info = gapbench.build_info()
    # one version in three places: CMake's project() (build_info), __init__.py, pyproject.toml
    # (the installed metadata)
    assert gapbench.__version__ == info["version"]
    assert importlib.metadata.version("gapbench") == info["version"]
    assert info["commit"]


def test_stubs_are_up_to_date(tmp_path):
    pytest.importorskip("nanobind.stubgen")
    out = tmp_path / "_gapbench.pyi"
    subprocess.run([os.sys.executable, "-m", "nanobind.stubgen", "-m", "gapbench._gapbench",
                    "-o", str(out)], check=True, capture_output=True)
    stored = os.path.join(ROOT, "python", "gapbench", "_gapbench.pyi")
    with open(stored) as f, open(out) as g:
        assert f.read() == g.read(), "python/gapbench/_gapbench.pyi is stale: regenerate it " \
            "with python -m nanobind.stubgen -m gapbench._gapbench -o python/gapbench/_gapbench.pyi"


def test_the_private_module_checks_its_arrays_too():
    q, k = factors((32, 8))
    with pytest.raises(ValueError, match="same dtype and shape"):
        gapbench._gapbench.solve_factors(q, k.astype(np.float32), ["--k", "2"])
    with pytest.raises(ValueError, match="same dtype and shape"):
        gapbench._gapbench.solve_factors(q, k[:16], ["--k", "2"])
    with pytest.raises(ValueError, match=r"\(\.\.\., T, T\)"):
        gapbench._gapbench.solve_matrices(q, ["--k", "2"])
