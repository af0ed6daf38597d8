"""qlinear.gather_qmm against mx.gather_qmm on random cases: every mode, both transposes,
index arrays that broadcast, out-of-order and repeated indices, mlx-lm's sorted pattern."""

import itertools

import numpy as np
import pytest

import qlinear
from conftest import AFFINE_BITS
from helpers import FLOAT_DTYPES, assert_close_to_mlx_product, from_mx, to_mx

MODES = [("affine", b, 64) for b in AFFINE_BITS] + [
    ("affine", 4, 32),
    ("affine", 3, 128),
    ("mxfp4", 4, 32),
    ("mxfp8", 8, 32),
    ("nvfp4", 4, 16),
]
EXPERTS, K = 6, 256
N, N_UNTRANSPOSED = 40, 128  # untransposed, N holds the groups


def _quantized_experts(mx, rng, mode, bits, group_size, dtype, transpose):
    """Experts quantized by MLX itself (the packed arrays both libraries then share)."""
    shape = (EXPERTS, N, K) if transpose else (EXPERTS, K, N_UNTRANSPOSED)
    w = to_mx(mx, rng.standard_normal(shape).astype(dtype))
    packed = [from_mx(mx, a) for a in mx.quantize(w, group_size=group_size, bits=bits, mode=mode)]
    w_hat = qlinear.dequantize(*packed, group_size=group_size, bits=bits, mode=mode, dtype=np.float32)
    return packed, w_hat if transpose else np.swapaxes(w_hat, -1, -2)


def _compare(mx, x, packed, w_hat, lhs, rhs, transpose, settings, sorted_indices=False):
    """Ours and MLX's results, each pair within the sum of both error bounds; float32
    through the scalar reference bit for bit."""
    kwargs = dict(lhs_indices=lhs, rhs_indices=rhs, transpose=transpose, **settings)
    y = qlinear.gather_qmm(x, *packed, sorted_indices=sorted_indices, **kwargs)
    mx_kwargs = {k: (None if v is None else to_mx(mx, v)) if k.endswith("indices") else v for k, v in kwargs.items()}
    y_mlx = from_mx(mx, mx.gather_qmm(to_mx(mx, x), *[to_mx(mx, a) for a in packed], sorted_indices=sorted_indices, **mx_kwargs))
    assert y.shape == y_mlx.shape and y.dtype == y_mlx.dtype

    # The pairs as MLX forms them: the index arrays broadcast over the flattened batches.
    x_batch = x.reshape(-1, *x.shape[-2:])
    lhs_all = np.arange(len(x_batch)).reshape(x.shape[:-2]) if lhs is None else lhs
    rhs_all = np.arange(EXPERTS) if rhs is None else rhs
    lhs_b, rhs_b = np.broadcast_arrays(lhs_all, rhs_all)
    assert y.shape == lhs_b.shape + (x.shape[-2], w_hat.shape[-2])
    m, n = y.shape[-2:]
    assert_close_to_mlx_product(
        y.reshape(-1, m, n), y_mlx.reshape(-1, m, n), x_batch[lhs_b.ravel()], w_hat[rhs_b.ravel()]
    )
    if x.dtype == np.float32:
        previous = qlinear.active_isa()
        qlinear.set_isa("scalar")
        try:
            y_ref = qlinear.gather_qmm(x, *packed, **kwargs)
        finally:
            qlinear.set_isa(previous)
        np.testing.assert_array_equal(y_ref.view(np.uint8), y_mlx.view(np.uint8))
    return y


@pytest.mark.parametrize("mode,bits,group_size", MODES)
@pytest.mark.parametrize("transpose", [True, False])
def test_top_k_routing_matches_mlx(mx, rng, mode, bits, group_size, transpose):
    """mlx-lm's pattern: x (T, 1, 1, K), rhs (T, top_k) out of order; then its sorted form."""
    settings = dict(group_size=group_size, bits=bits, mode=mode)
    for dtype in FLOAT_DTYPES:
        packed, w_hat = _quantized_experts(mx, rng, mode, bits, group_size, dtype, transpose)
        tokens, top_k = 7, 3
        x = rng.standard_normal((tokens, 1, 1, K)).astype(dtype)
        rhs = np.stack([rng.permutation(EXPERTS)[:top_k] for _ in range(tokens)]).astype(np.uint32)
        y = _compare(mx, x, packed, w_hat, None, rhs, transpose, settings)

        order = np.argsort(rhs.ravel(), kind="stable")
        x_sorted = x.reshape(tokens, 1, K)[order // top_k]
        y_sorted = _compare(mx, x_sorted, packed, w_hat, None, rhs.ravel()[order], transpose, settings, True)
        # The same rows, sorted or not, give the same bits.
        np.testing.assert_array_equal(
            y_sorted.reshape(tokens * top_k, -1).view(np.uint8),
            y.reshape(tokens * top_k, -1)[order].view(np.uint8),
        )


@pytest.mark.parametrize("mode,bits,group_size", [("affine", 4, 64), ("mxfp4", 4, 32), ("nvfp4", 4, 16)])
def test_index_arrays_broadcast_like_mlx(mx, rng, mode, bits, group_size):
    settings = dict(group_size=group_size, bits=bits, mode=mode)
    packed, w_hat = _quantized_experts(mx, rng, mode, bits, group_size, np.float32, True)
    x = rng.standard_normal((2, 3, 2, K)).astype(np.float32)  # 6 matrices of 2 rows
    lhs = np.array([[5], [0], [3]], np.uint32)  # (3, 1)
    rhs = np.array([[4, 1, 1, 0]], np.int32)  # (1, 4), repeated and out of order, int32
    _compare(mx, x, packed, w_hat, lhs, rhs, True, settings)
    _compare(mx, x, packed, w_hat, None, np.array([[2], [5]], np.uint32), True, settings)  # lhs (2, 3)
    _compare(mx, x, packed, w_hat, np.array(4, np.int64), None, True, settings)  # rhs: every expert


def test_errors_name_the_op_and_the_values(rng):
    w = rng.standard_normal((4, 8, 128)).astype(np.float32)
    wq, scales, biases = qlinear.quantize(w)
    x = rng.standard_normal((3, 1, 128)).astype(np.float32)
    with pytest.raises(ValueError, match=r"\[gather_qmm\] rhs_indices holds 4 at flat position 1"):
        qlinear.gather_qmm(x, wq, scales, biases, rhs_indices=np.array([0, 4, 1], np.uint32))
    with pytest.raises(ValueError, match=r"\[gather_qmm\] rhs_indices holds -1"):
        qlinear.gather_qmm(x, wq, scales, biases, rhs_indices=np.array([0, -1, 1], np.int32))
    with pytest.raises(ValueError, match=r"\[gather_qmm\] Got indices with invalid dtype"):
        qlinear.gather_qmm(x, wq, scales, biases, rhs_indices=np.array([0.0, 1.0, 2.0], np.float32))
    with pytest.raises(ValueError, match=r"\[gather_qmm\] .*cannot be broadcast"):
        qlinear.gather_qmm(x, wq, scales, biases, rhs_indices=np.array([0, 1], np.uint32))
    with pytest.raises(ValueError, match=r"\[gather_qmm\] Input must have at least two dimensions"):
        qlinear.gather_qmm(x[0, 0], wq, scales, biases, rhs_indices=np.array([0], np.uint32))
