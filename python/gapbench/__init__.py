"""gapbench: the spectra of softmax attention matrices, from your own arrays or from gapbench's
random models, on the same C++ core as the gapbench CLI.

    import numpy as np, gapbench
    Q, K = np.random.default_rng(0).standard_normal((2, 1024, 64))
    print(gapbench.spectrum(Q, K, k=4).values)

spectrum(Q, K) and top_k(A) solve, generate() draws the matrix `gapbench dump` writes, sweep()
runs `gapbench sweep` and load() reads any results directory into a pandas DataFrame.
docs/python.md has the whole guide.

Inputs are checked, never converted behind your back: float32 and float64 arrays are used as
they are (C-contiguous ones without a copy), float16 and bfloat16 are upcast to float32
explicitly, anything else raises ValueError with one line naming the argument and the fix.
Arrays in CUDA memory (PyTorch, CuPy, JAX: any DLPack producer) stay there: they are read in
place by the CUDA backend, on its stream, after the producer's pending work; they must be
C-contiguous float32 or float64 (upcast and .contiguous() them on the GPU first).
Errors: ValueError (bad input, the CLI's message), MemoryError (past the memory plan),
GapbenchError (a computation failed), KeyboardInterrupt (Ctrl-C: the iterative solvers stop
within one iteration; exact finishes its LAPACK call first).
"""
from __future__ import annotations

import datetime
import functools
import json
import os
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np

from . import _gapbench
from ._gapbench import GapbenchError

__version__ = "0.1.0"
__all__ = ["Result", "GapbenchError", "spectrum", "top_k", "generate", "sweep", "load",
           "build_info", "__version__"]


def build_info() -> dict:
    """The build's facts: version, commit, build type, compiler, CUDA architectures."""
    return json.loads(_gapbench.build_info())


@dataclass
class Result:
    """The top values of one matrix.

    values: singular values (descending, float64), or for spectrum="eigen" the eigenvalues by
    modulus (complex128; a conjugate pair is never split, so k + 1 may come back).
    gap, ratio: s1 - s2 and s2 / s1; for eigen, 1 - |lambda2| and |lambda2|.
    stable_rank: ||A||_F^2 / s1^2 (singular). residual: the solver's largest relative residual
    (0 for exact). converged, iterations, passes: the solve's. generate_seconds: forming the
    matrix (or copying it to the device), solve_seconds: the solve. operator: dense or fused.
    """
    values: np.ndarray
    spectrum: str
    gap: float
    ratio: float
    stable_rank: Optional[float]
    residual: float
    converged: bool
    iterations: int
    passes: int
    generate_seconds: float
    solve_seconds: float
    operator: str
    solver: str
    backend: str

    @staticmethod
    def _from(d: dict) -> "Result":
        eigen = d["spectrum"] == "eigen"
        if eigen:
            values = np.array(d["values"]) + 1j * np.array(d["values_im"])
            gap, ratio = d["eigen_gap"], d["abs_lambda2"]
        else:
            values = np.array(d["values"])
            gap, ratio = d["gap"], d["ratio"]
        return Result(values=values, spectrum=d["spectrum"], gap=gap, ratio=ratio,
                      stable_rank=None if eigen else d["stable_rank"], residual=d["residual"],
                      converged=d["converged"], iterations=d["iterations"], passes=d["passes"],
                      generate_seconds=d["generate_seconds"], solve_seconds=d["solve_seconds"],
                      operator=d["operator"], solver=d["solver"], backend=d["backend"])


# ---- input checks ----------------------------------------------------------------------------

_UPCAST = {"float16": np.float32, "bfloat16": np.float32}
_KDL_CUDA = 2  # DLPack's device type of CUDA memory
_KDL_HOST = (1, 3, 11, 13)  # CPU, CUDA pinned host, ROCm pinned host, CUDA managed: NumPy reads


def _on_gpu(x: Any) -> bool:
    """Whether x is an array in CUDA memory (a DLPack producer: PyTorch, CuPy, JAX, or
    generate(device="cuda"))."""
    if isinstance(x, np.ndarray) or not hasattr(x, "__dlpack_device__"):
        return False
    return int(x.__dlpack_device__()[0]) == _KDL_CUDA


def _gpu_capsules(arrays: dict, flags: list) -> list:
    """DLPack capsules of the GPU arrays (name -> array), exported for gapbench's CUDA stream so
    that the producer's pending work on them comes first; ValueError naming the argument when
    one is on the host or on another GPU."""
    for name, x in arrays.items():
        if not _on_gpu(x):
            others = ", ".join(n for n in arrays if n != name)
            raise ValueError(f"{name}: on the host while {others} on a GPU; put them on one "
                             f"device")
    ordinal, stream = _gapbench.resident_device(flags)
    capsules = []
    for name, x in arrays.items():
        device = int(x.__dlpack_device__()[1])
        if device != ordinal:
            raise ValueError(f"{name}: the array is on GPU {device} but gapbench's CUDA backend "
                             f"works on GPU {ordinal}; move it there (e.g. .to('cuda:{ordinal}'))")
        try:
            capsules.append(x.__dlpack__(stream=stream))
        except TypeError:  # a producer predating the stream argument: its work is done first
            capsules.append(x.__dlpack__())
    return capsules


def _host_array(x: Any, name: str, copy: bool, upcast: Optional[dict] = None) -> np.ndarray:
    """x as a float32 or float64 NumPy array on the host, or ValueError naming `name`; an
    upcast (float16, bfloat16) is recorded in `upcast` (name -> the dtype before)."""
    if isinstance(x, np.ma.MaskedArray):  # its mask would be dropped silently
        raise ValueError(f"{name}: a masked array; fill the masked entries explicitly "
                         f"({name}.filled(value)) or pass {name}.data")
    if not isinstance(x, np.ndarray):
        if hasattr(x, "__dlpack_device__"):
            device_type = int(x.__dlpack_device__()[0])
            if device_type not in _KDL_HOST:  # CUDA arrays never get here (_on_gpu)
                raise ValueError(
                    f"{name}: the array is on DLPack device type {device_type}, neither host "
                    f"memory nor a CUDA GPU; move it to the host first (e.g. .cpu())")
            try:
                x = np.from_dlpack(x)
            except (TypeError, BufferError, RuntimeError) as e:  # e.g. bfloat16 in NumPy
                if "bfloat16" in str(getattr(x, "dtype", "")) and hasattr(x, "float"):
                    if not copy:
                        raise ValueError(f"{name}: dtype bfloat16 needs an upcast to float32, a "
                                         f"copy, and copy=False; pass copy=True or "
                                         f"{name}.float()") from None
                    x = np.from_dlpack(x.float())  # an explicit upcast to float32
                    if upcast is not None:
                        upcast[name] = "bfloat16"
                else:
                    raise ValueError(f"{name}: cannot read the array through DLPack ({e})") from None
        else:
            raise ValueError(f"{name}: expected an array (NumPy or any DLPack producer), got "
                             f"{type(x).__name__}")
    char = x.dtype.char  # (dtype.name is slow: ~7 us)
    if char not in "fd" or x.dtype.kind != "f":
        dtype = x.dtype.name
        if dtype in _UPCAST:
            if not copy:
                raise ValueError(f"{name}: dtype {dtype} needs an upcast to float32, a copy, and "
                                 f"copy=False; pass copy=True or {name}.astype(np.float32)")
            x = x.astype(_UPCAST[dtype])  # explicit, documented
            if upcast is not None:
                upcast[name] = dtype
        else:
            raise ValueError(f"{name}: dtype {dtype} is not float32 or float64; convert it "
                             f"explicitly (e.g. {name}.astype(np.float64))")
    if not x.dtype.isnative:
        raise ValueError(f"{name}: dtype {x.dtype.str} is not in this machine's byte order; "
                         f"convert it explicitly ({name}.astype(np.{x.dtype.name}))")
    if not x.flags.c_contiguous:
        if not copy:
            raise ValueError(f"{name}: the array is not C-contiguous and copy=False; pass "
                             f"copy=True or np.ascontiguousarray({name})")
        x = np.ascontiguousarray(x)
    return x  # NaN and Inf are refused in C++ (one pass, no mask)


_SWITCHES = frozenset({"causal", "force", "plot", "all_values"})  # gapbench's flags without value


def _flags(**values) -> list:
    """gapbench's flags for the given values: None (and False for a switch) left at the CLI's
    default, True (or a NumPy bool) for a switch, anything else as its text, and a list, tuple,
    range or 1-d array as the CLI's comma list. ValueError naming the argument for a switch
    given something other than a bool, or a bool for a flag that takes a value."""
    items = []
    for key, value in values.items():
        if value is None:
            pass
        elif isinstance(value, (bool, np.bool_)):
            if key not in _SWITCHES:
                raise ValueError(f"{key}: expected a value, got {value!r}")
            value = bool(value)
        elif key in _SWITCHES:
            raise ValueError(f"{key}: expected True or False, got {value!r}")
        elif isinstance(value, (list, tuple, range, np.ndarray)):
            value = ",".join(str(v) for v in np.asarray(value).ravel().tolist())
        else:
            value = str(value)  # the cache keys on text: True and 1 stay apart
        items.append((key, value))
    return list(_flags_of(tuple(items)))


@functools.lru_cache(maxsize=1024)
def _flags_of(items: tuple) -> tuple:
    out = []
    for key, value in items:
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            out.append(flag)
        else:
            out += [flag, str(value)]
    return tuple(out)


def _check_leading(x: np.ndarray, name: str, kind: str) -> None:
    if 0 in x.shape[:-2]:
        raise ValueError(f"{name}: shape {x.shape} holds no {kind} (a leading dimension is 0)")


def _nest(results: list, leading: tuple) -> Any:
    """The flat list of results as the leading shape: one Result, a list, or a list of lists."""
    if not leading:
        return results[0]
    if len(leading) == 1:
        return results
    step = len(results) // leading[0]
    return [_nest(results[i * step:(i + 1) * step], leading[1:]) for i in range(leading[0])]


def _precision(x: np.ndarray, precision: Optional[str], name: str) -> str:
    have = "float64" if x.dtype.char == "d" else "float32"
    if precision is not None and precision != have:
        raise ValueError(f"precision: {precision!r} differs from {name}'s dtype {have}; convert "
                         f"{name} explicitly (gapbench does not convert behind your back)")
    return have


# ---- the calls -----------------------------------------------------------------------------------

def spectrum(Q: Any, K: Any, *, beta: float = 1.0, causal: bool = False, fix: str = "none",
             k: int = 4, seed: int = 0, spectrum: str = "singular", solver: Optional[str] = None,
             operator: str = "auto", precision: Optional[str] = None, backend: str = "auto",
             threads: int = 0, tol: Optional[float] = None, max_iter: Optional[int] = None,
             copy: bool = True) -> Union[Result, list]:
    """The top k singular values (or eigenvalues, spectrum="eigen") of
    A = softmax(beta Q K^T / sqrt(dk)) (causal: row i sees columns j <= i; fix: none, center
    (A - 11^T/T) or deflate), for Q and K of shape (T, dk), (heads, T, dk) or
    (batch, heads, T, dk): one Result, a list per head, or a list per batch of lists per head.
    The precision is the arrays' dtype (float32 or float64). solver, operator, tol and max_iter
    are gapbench run's (None: its default)."""
    options = dict(model="attention", beta=beta, causal=causal, fix=fix, k=k, seed=seed,
                   spectrum=spectrum, solver=solver, operator=operator, backend=backend,
                   threads=threads, tol=tol, max_iter=max_iter)
    if _on_gpu(Q) or _on_gpu(K):  # read in place on the GPU, on gapbench's stream
        flags = _flags(**options)  # the precision is the arrays' dtype, checked in C++
        q, kk = _gpu_capsules({"Q": Q, "K": K}, flags)
        out, leading = _gapbench.solve_factors_resident(q, kk, flags, precision or "")
        return _nest([Result._from(d) for d in out], tuple(leading))
    upcast = {}  # name -> dtype before the upcast
    q = _host_array(Q, "Q", copy, upcast)
    kk = _host_array(K, "K", copy, upcast)
    if upcast or kk.dtype.char != q.dtype.char:
        dtype_q, dtype_k = upcast.get("Q", q.dtype.name), upcast.get("K", kk.dtype.name)
        if dtype_q != dtype_k:
            raise ValueError(f"K: dtype {dtype_k} differs from Q's {dtype_q}; convert one "
                             f"explicitly")
    if q.ndim not in (2, 3, 4):
        raise ValueError(f"Q: shape {q.shape} is not (T, dk), (heads, T, dk) or "
                         f"(batch, heads, T, dk)")
    if kk.shape != q.shape:
        raise ValueError(f"K: shape {kk.shape} differs from Q's {q.shape}")
    if q.shape[-2] < 2 or q.shape[-1] < 1:
        raise ValueError(f"Q: shape {q.shape} needs T >= 2 tokens and dk >= 1")
    _check_leading(q, "Q", "heads")
    flags = _flags(**options, precision=_precision(q, precision, "Q"))
    results = [Result._from(d) for d in _gapbench.solve_factors(q, kk, flags)]
    return _nest(results, q.shape[:-2])


def top_k(A: Any, k: int = 4, *, fix: str = "none", seed: int = 0, spectrum: str = "singular",
          solver: Optional[str] = None, precision: Optional[str] = None, backend: str = "auto",
          threads: int = 0, tol: Optional[float] = None, max_iter: Optional[int] = None,
          copy: bool = True) -> Union[Result, list]:
    """The top k values of a matrix you already have (attention probabilities of shape (T, T),
    or (..., T, T) for several), as spectrum() returns them. fix center analyses A - 11^T/T;
    the matrix is copied once to the device (exact overwrites it)."""
    options = dict(k=k, fix=fix, seed=seed, spectrum=spectrum, solver=solver, operator="dense",
                   backend=backend, threads=threads, tol=tol, max_iter=max_iter)
    if _on_gpu(A):  # read in place on the GPU
        flags = _flags(**options)  # the precision is the array's dtype, checked in C++
        (a,) = _gpu_capsules({"A": A}, flags)
        out, leading = _gapbench.solve_matrices_resident(a, flags, precision or "")
        return _nest([Result._from(d) for d in out], tuple(leading))
    a = _host_array(A, "A", copy)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2] or a.shape[-1] < 2:
        raise ValueError(f"A: shape {a.shape} is not (..., T, T) with T >= 2")
    _check_leading(a, "A", "matrices")
    flags = _flags(**options, precision=_precision(a, precision, "A"))
    results = [Result._from(d) for d in _gapbench.solve_matrices(a, flags)]
    return _nest(results, a.shape[:-2])


_GENERATE_PARAMS = frozenset({"law", "beta", "d", "dk", "input", "init", "causal", "fix", "logits"})


def generate(model: str = "markov", T: int = 1024, *, seed: int = 0, index: int = 0,
             device: str = "cpu", precision: str = "float64", threads: int = 0, **params) -> Any:
    """The matrix `gapbench dump` writes for the same flags (model, T, seed, index and any of
    law, beta, d, dk, input, init, causal, fix, logits), T x T: a NumPy array (device="cpu"), or
    with device="cuda" an array left in GPU memory, generated there, that any DLPack consumer
    takes without a copy (torch.from_dlpack, cupy.from_dlpack) and spectrum() and top_k() read
    in place."""
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device: {device!r} is not 'cpu' or 'cuda'")
    for key in params:
        if key not in _GENERATE_PARAMS:
            raise ValueError(f"{key}: not a parameter of generate(); it takes "
                             f"{', '.join(sorted(_GENERATE_PARAMS))}" +
                             (" (and device='cpu' or 'cuda' for the backend)"
                              if key == "backend" else ""))
    flags = _flags(model=model, T=T, seed=seed, index=index, precision=precision,
                   backend=device, threads=threads, **params)
    if device == "cpu":
        return _gapbench.generate(flags)
    try:
        return _gapbench.generate_resident(flags)
    except ValueError as e:  # the CLI's words are --backend cuda: name the argument here
        text = str(e)
        if not text.startswith("--backend cuda: "):
            raise
        raise ValueError("device: 'cuda': " + text.removeprefix("--backend cuda: ")
                         .replace("--backend cpu", "device='cpu'")) from None


def _pandas():
    try:
        import pandas
    except ImportError:
        raise ImportError("gapbench.load and gapbench.sweep need pandas: pip install pandas") \
            from None
    return pandas


def load(directory: Union[str, os.PathLike]):
    """A results directory (gapbench sweep, propagate, or a merge of shards) as a pandas
    DataFrame of its rows.csv; df.attrs["meta"] holds meta.json and, when values.csv exists,
    df.attrs["values"] its rows. Rows of older schemas naming init `xavier` read as fan-in."""
    pd = _pandas()
    directory = os.fspath(directory)
    rows, meta_path = (os.path.join(directory, f) for f in ("rows.csv", "meta.json"))
    for path in (rows, meta_path):
        if not os.path.isfile(path):
            raise ValueError(f"directory: {path} does not exist (give a directory written by "
                             f"gapbench sweep, propagate or merge)")
    with open(meta_path, encoding="utf-8") as f:
        try:
            meta = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"directory: {meta_path} is not valid JSON ({e})") from None
    df = pd.read_csv(rows)
    if "init" in df.columns:
        df["init"] = df["init"].replace("xavier", "fan-in")
    df.attrs["meta"] = meta
    values = os.path.join(directory, "values.csv")
    if os.path.isfile(values):
        df.attrs["values"] = pd.read_csv(values)
    return df


def sweep(out: Optional[Union[str, os.PathLike]] = None, **axes):
    """Runs `gapbench sweep` with the CLI's axes (T="256:4096:x2", fix="none,center",
    seeds=4, ...; lists, tuples, ranges and 1-d arrays for comma lists; True for a switch) into
    `out` (default results/sweeps/<UTC time>) and returns load(out), or with shard="I/N" the
    shard's directory under out. resume=DIR continues the sweep in DIR (out not given). Bad
    axes raise ValueError with the CLI's message, a sweep past the memory plan MemoryError;
    Ctrl-C stops between matrices (the rows so far are kept: sweep(resume=out))."""
    resume = axes.get("resume")
    if resume is not None:  # the CLI's --resume DIR names the directory itself
        if out is not None:
            raise ValueError("out: resume=DIR continues the sweep in DIR; drop out")
        out = resume
    elif out is None:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out = os.path.join("results", "sweeps", stamp)
    args = ["gapbench", "sweep", *_flags(**axes)]
    if resume is None:
        args += ["--out", os.fspath(out)]
    code, error, past_memory_plan = _gapbench.run_cli(args)
    if code == 2:
        message = error.removeprefix("gapbench: error: ")
        if message.startswith("The following argument"):  # CLI11's words for unknown flags
            listed = message.removesuffix(" (see gapbench --help)").split(":", 1)[-1].split()
            unknown = [w[2:].replace("-", "_") for w in listed if w.startswith("--")]
            message = (f"{', '.join(unknown) or 'sweep'}: not an axis or flag of gapbench sweep "
                       f"(gapbench sweep --help lists them)")
        raise (MemoryError if past_memory_plan else ValueError)(message)
    if code == 130:
        raise KeyboardInterrupt(f"gapbench sweep interrupted; its finished rows are in {out}")
    if code != 0:
        raise GapbenchError(error or f"gapbench sweep exited with {code}")
    shard = axes.get("shard")  # its rows are in OUT/shard-IIII-of-NNNN
    return load(os.path.join(out, _gapbench.shard_dir(str(shard))) if shard is not None else out)
