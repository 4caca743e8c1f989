"""gapbench's C++ core (use the gapbench package, not this module)"""

from collections.abc import Sequence
from typing import Annotated

from numpy.typing import NDArray

from gapbench import GapbenchError as GapbenchError


def build_info() -> str:
    """
    The build's facts as JSON text: version, commit, build type, compiler, CUDA.
    """

def cuda_compiled_in() -> bool:
    """Whether this build has the CUDA backend."""

def solve_factors(q: Annotated[NDArray, dict(order='C', device='cpu', writable=False)], k: Annotated[NDArray, dict(order='C', device='cpu', writable=False)], flags: Sequence[str]) -> list:
    """
    The top values of softmax(beta Q K^T / sqrt(dk)) for each leading index of Q, K (C-contiguous, float32 or float64, the same shape); `flags` are gapbench run's.
    """

def solve_matrices(a: Annotated[NDArray, dict(order='C', device='cpu', writable=False)], flags: Sequence[str]) -> list:
    """
    The top values of each T x T matrix of A (C-contiguous, float32 or float64).
    """

def generate(flags: Sequence[str]) -> object:
    """The matrix gapbench dump writes for `flags`, as a NumPy array."""

def resident_device(flags: Sequence[str]) -> tuple[int, int]:
    """
    (CUDA ordinal, stream) that `flags`' backend reads GPU arrays on: the stream to pass to a producer's __dlpack__(stream=...). ValueError without a CUDA backend.
    """

def solve_factors_resident(q: Annotated[NDArray, dict(writable=False)], k: Annotated[NDArray, dict(writable=False)], flags: Sequence[str], precision: str) -> tuple:
    """
    solve_factors on Q, K in GPU memory (DLPack capsules or producers; C-contiguous, float32 or float64), read in place: (results, leading shape). `precision`: '' or the one asked.
    """

def solve_matrices_resident(a: Annotated[NDArray, dict(writable=False)], flags: Sequence[str], precision: str) -> tuple:
    """
    solve_matrices on A in GPU memory, read in place (copied only for fix center or a solver that overwrites it: exact, xgesvdr): (results, leading shape).
    """

def generate_resident(flags: Sequence[str]) -> object:
    """
    The matrix of `flags` generated on the GPU, left there: an array with __dlpack__.
    """

def run_cli(args: Sequence[str]) -> tuple[int, str, bool]:
    """
    The gapbench CLI in-process (args[0] the program name): (exit code, error line, whether the error is a size past the memory plan).
    """

def shard_dir(spec: str) -> str:
    """
    The directory name under --out that `gapbench sweep --shard SPEC` writes (I/N or slurm).
    """

def time_factors(q: Annotated[NDArray, dict(order='C', device='cpu', writable=False)], k: Annotated[NDArray, dict(order='C', device='cpu', writable=False)], flags: Sequence[str], reps: int) -> list[float]:
    """
    Seconds per call of Backend::run_factors alone on Q, K (2-D), for the overhead benchmark.
    """

def data_address(a: Annotated[NDArray, dict(order='C', device='cpu', writable=False)]) -> int:
    """The address of the data this module receives (tests: no copy)."""
