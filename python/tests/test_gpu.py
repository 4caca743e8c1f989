"""The GPU path (docs/python.md, "Arrays on a GPU"): arrays in CUDA memory are read in place by
the CUDA backend. Where this machine has no CUDA device, only the refusals run; scripts/gpu-check.sh
runs the rest on a GPU: generate(device="cuda") fed back into top_k and spectrum against the
CPU, and, where PyTorch is installed, PyTorch tensors on their own stream."""
import os

import numpy as np
import pytest

import gapbench
from dlpack_fakes import FakeProducer


def gpu_available():
    """Whether the CUDA backend is there (only that: a failing GPU call must fail its test, not
    skip it)."""
    try:
        gapbench._gapbench.resident_device(["--backend", "cuda"])
        return True
    except ValueError:
        return False


GPU = gpu_available()
if not GPU and os.environ.get("GAPBENCH_REQUIRE_GPU") == "1":  # scripts/gpu-check.sh sets it
    raise RuntimeError("GAPBENCH_REQUIRE_GPU=1 but the CUDA backend sees no device")
needs_gpu = pytest.mark.skipif(not GPU, reason="no CUDA device (or a build without CUDA)")


def FakeGpuArray():
    """A DLPack producer that says its memory is on CUDA device 0 and cannot be exported."""
    return FakeProducer(2)


# ---- refusals, on any machine ------------------------------------------------------------------

def test_gpu_and_host_arrays_are_not_mixed():
    q = np.zeros((8, 2))
    with pytest.raises(ValueError, match="^K: on the host while Q on a GPU; put them on one"):
        gapbench.spectrum(FakeGpuArray(), q)
    with pytest.raises(ValueError, match="^Q: on the host while K on a GPU"):
        gapbench.spectrum(q, FakeGpuArray())


def test_the_cpu_backend_refuses_gpu_arrays():
    with pytest.raises(ValueError, match="^backend: 'cpu' cannot read arrays on a GPU"):
        gapbench.spectrum(FakeGpuArray(), FakeGpuArray(), backend="cpu")
    with pytest.raises(ValueError, match="^backend: 'cpu' cannot read arrays on a GPU"):
        gapbench.top_k(FakeGpuArray(), backend="cpu")


@pytest.mark.skipif(GPU, reason="this machine has a CUDA device")
def test_without_a_gpu_gpu_arrays_and_generation_are_refused():
    with pytest.raises(ValueError, match="CUDA") as e:
        gapbench.spectrum(FakeGpuArray(), FakeGpuArray())
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="^device: 'cuda': .*CUDA") as e:
        gapbench.generate("markov", 64, device="cuda")
    assert "--backend" not in str(e.value)


# ---- on a GPU ----------------------------------------------------------------------------------

@needs_gpu
@pytest.mark.parametrize("precision,tol", [("float64", 1e-10), ("float32", 1e-4)])
def test_top_k_of_a_matrix_generated_on_the_gpu_matches_the_cpu(precision, tol):
    a_gpu = gapbench.generate("markov", 512, seed=3, device="cuda", precision=precision)
    assert a_gpu.__dlpack_device__()[0] == 2
    a_cpu = gapbench.generate("markov", 512, seed=3, precision=precision)
    for solver in ("exact", "lanczos"):
        for fix in ("none", "center"):
            g = gapbench.top_k(a_gpu, 4, solver=solver, fix=fix)
            c = gapbench.top_k(a_cpu, 4, solver=solver, fix=fix, backend="cpu")
            assert g.backend == "cuda" and c.backend == "cpu"
            np.testing.assert_allclose(g.values, c.values, rtol=tol, err_msg=f"{solver} {fix}")
    # exact overwrote a copy, not the array: the same values again
    again = gapbench.top_k(a_gpu, 4, solver="exact")
    np.testing.assert_allclose(again.values, gapbench.top_k(a_cpu, 4, backend="cpu").values,
                               rtol=tol)


@needs_gpu
def test_spectrum_of_factors_on_the_gpu_matches_the_cpu():
    # Two generated T x T matrices serve as Q and K (dk = T): GPU arrays without a framework.
    qg, kg = (gapbench.generate("markov", 256, seed=4, index=i, device="cuda") for i in (0, 1))
    qc, kc = (gapbench.generate("markov", 256, seed=4, index=i) for i in (0, 1))
    for fix in ("none", "center"):
        for operator in ("dense", "fused"):
            g = gapbench.spectrum(qg, kg, beta=4000.0, fix=fix, operator=operator)
            c = gapbench.spectrum(qc, kc, beta=4000.0, fix=fix, operator=operator,
                                  backend="cpu")
            assert g.operator == operator
            np.testing.assert_allclose(g.values, c.values, rtol=1e-10, err_msg=f"{fix} {operator}")
    with pytest.raises(ValueError, match="^precision: 'float32' differs from Q's dtype float64"):
        gapbench.spectrum(qg, kg, precision="float32")


try:
    import torch
except ImportError:  # PyTorch is optional: only the test below needs it
    torch = None


@needs_gpu
def test_pytorch_tensors_on_their_own_stream():
    if torch is None or not torch.cuda.is_available():
        pytest.skip("no PyTorch with CUDA")
    gen = torch.Generator(device="cuda").manual_seed(0)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):  # pending work on another stream: gapbench must wait for it
        q = torch.randn(2, 3, 384, 32, device="cuda", dtype=torch.float64, generator=gen)
        k = torch.randn(2, 3, 384, 32, device="cuda", dtype=torch.float64, generator=gen)
        q = q * 1.0 + 0.0
        got = gapbench.spectrum(q, k, k=4, fix="center")
    torch.cuda.synchronize()  # q and k were made on `stream`: done before other streams read them
    want = gapbench.spectrum(q.cpu().numpy(), k.cpu().numpy(), k=4, fix="center", backend="cpu")
    assert len(got) == 2 and len(got[0]) == 3
    for b in range(2):
        for h in range(3):
            np.testing.assert_allclose(got[b][h].values, want[b][h].values, rtol=1e-10)
    a = torch.softmax(q[0, 0] @ k[0, 0].T / 32 ** 0.5, dim=-1)
    np.testing.assert_allclose(gapbench.top_k(a, 4).values,
                               gapbench.top_k(a.cpu().numpy(), 4, backend="cpu").values,
                               rtol=1e-10)
    q32, k32 = q[0, 0].float(), k[0, 0].float()
    np.testing.assert_allclose(
        gapbench.spectrum(q32, k32, k=4).values,
        gapbench.spectrum(q32.cpu().numpy(), k32.cpu().numpy(), k=4, backend="cpu").values,
        rtol=1e-4)
    # a generated matrix goes to PyTorch without a copy
    a_gpu = gapbench.generate("markov", 256, seed=1, device="cuda")
    t = torch.from_dlpack(a_gpu)
    assert t.is_cuda and t.shape == (256, 256)
    np.testing.assert_allclose(t.cpu().numpy(), gapbench.generate("markov", 256, seed=1),
                               rtol=1e-12)
    with pytest.raises(ValueError, match="^Q: dtype on the GPU is not float32 or float64"):
        gapbench.spectrum(q[0, 0].bfloat16(), k[0, 0].bfloat16())
    with pytest.raises(ValueError, match="^Q: the GPU array is not C-contiguous"):
        gapbench.spectrum(q[0, 0, :, ::2], k[0, 0, :, ::2])
    bad = q[0, 0].clone()
    bad[3, 3] = float("nan")
    with pytest.raises(ValueError, match="^Q: holds NaN or Inf"):
        gapbench.spectrum(bad, k[0, 0])
