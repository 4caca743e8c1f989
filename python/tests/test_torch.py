"""PyTorch CPU tensors as inputs (docs/python.md): read through DLPack like NumPy arrays, with
the same values and the same refusals, and a PyTorch attention layer's own softmax weights give
the spectrum gapbench computes from its queries and keys. PyTorch is optional and not a test
dependency: without it these tests skip (the test virtual environment has no PyTorch; they were
run with PyTorch 2.15 on the development VM, see docs/python.md)."""
import numpy as np
import pytest

import gapbench

torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional)")


def qk(dtype, heads=3, T=192, dk=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(heads, T, dk, generator=g, dtype=torch.float64).to(dtype),
            torch.randn(heads, T, dk, generator=g, dtype=torch.float64).to(dtype))


def values(results):
    return [r.values for r in results]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_tensors_give_the_numpy_arrays_values_bitwise(dtype):
    q, k = qk(dtype)
    got = values(gapbench.spectrum(q, k, k=4, threads=1))
    want = values(gapbench.spectrum(q.numpy(), k.numpy(), k=4, threads=1))
    assert got[0].dtype == np.float64 and len(got) == 3
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_contiguous_tensors_are_read_without_a_copy():
    q, _ = qk(torch.float64)
    a = gapbench._host_array(q, "Q", copy=False)
    assert a.ctypes.data == q.data_ptr() and a.shape == tuple(q.shape)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_tensors_are_upcast_to_float32(dtype):
    q, k = qk(dtype)
    got = gapbench.spectrum(q, k, k=4, threads=1)
    want = gapbench.spectrum(q.float().numpy(), k.float().numpy(), k=4, threads=1)
    for a, b in zip(values(got), values(want)):
        np.testing.assert_array_equal(a, b)


def test_a_bfloat16_upcast_is_a_copy_refused_with_copy_false():
    q, k = qk(torch.bfloat16)
    with pytest.raises(ValueError, match=r"^Q: dtype bfloat16 needs an upcast to float32, a copy"):
        gapbench.spectrum(q, k, k=4, copy=False)
    with pytest.raises(ValueError, match=r"^K: dtype bfloat16 differs from Q's float32"):
        gapbench.spectrum(q.float(), k, k=4)


def test_a_non_contiguous_tensor_is_copied_only_when_allowed():
    q, k = qk(torch.float64)
    view = q.transpose(1, 2).contiguous().transpose(1, 2)  # the same values, strided
    assert not view.is_contiguous()
    for a, b in zip(values(gapbench.spectrum(view, k, k=4, threads=1)),
                    values(gapbench.spectrum(q, k, k=4, threads=1))):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"^Q: the array is not C-contiguous and copy=False"):
        gapbench.spectrum(view, k, k=4, copy=False)


@pytest.mark.parametrize("make, message", [
    (lambda q: q.clone().requires_grad_(True),
     r"^Q: cannot read the array through DLPack \(.*detach"),
    (lambda q: q.to(torch.int64), r"^Q: dtype int64 is not float32 or float64"),
    (lambda q: q.to(torch.complex128), r"^Q: dtype complex128 is not float32 or float64"),
])
def test_bad_tensors_raise_the_documented_error(make, message):
    q, k = qk(torch.float64)
    with pytest.raises(ValueError, match=message):
        gapbench.spectrum(make(q), k, k=4)


@pytest.mark.parametrize("fix", ["none", "center"])
def test_a_torch_attention_layer_s_weights_have_gapbench_s_spectrum(fix):
    """torch.nn.MultiheadAttention's softmax(Q K^T / sqrt(dk)) per head, from its forward pass,
    is the matrix gapbench builds from the same Q and K: top_k of the one equals spectrum of the
    other to 1e-12 (both float64; they differ only in rounding)."""
    torch.manual_seed(0)
    T, d, heads = 256, 128, 4
    layer = torch.nn.MultiheadAttention(d, heads, batch_first=True, dtype=torch.float64)
    x = torch.randn(1, T, d, dtype=torch.float64)
    with torch.no_grad():
        _, weights = layer(x, x, x, need_weights=True, average_attn_weights=False)
        w_q, w_k, _ = layer.in_proj_weight.chunk(3)
        b_q, b_k, _ = layer.in_proj_bias.chunk(3)
        q = (x[0] @ w_q.T + b_q).reshape(T, heads, d // heads).transpose(0, 1)
        k = (x[0] @ w_k.T + b_k).reshape(T, heads, d // heads).transpose(0, 1)
    from_weights = gapbench.top_k(weights[0], k=6, fix=fix, solver="exact")
    from_qk = gapbench.spectrum(q, k, k=6, fix=fix, solver="exact")  # q, k: strided views
    assert len(from_weights) == len(from_qk) == heads
    for a, b in zip(from_weights, from_qk):
        np.testing.assert_allclose(a.values, b.values, rtol=0, atol=1e-12)
        if fix == "none":
            assert abs(a.values[0] - 1) < 0.01 and a.values[1] < 0.3  # the outlier, the bulk
        else:
            assert a.values[0] < 0.3  # the outlier removed
