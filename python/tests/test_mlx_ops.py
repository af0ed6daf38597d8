"""qlinear against mlx.core itself on random inputs: same bits, same values, close products."""

import itertools

import ml_dtypes
import numpy as np
import pytest

import qlinear
from conftest import AFFINE_BITS, FLOAT_MODES, GROUP_SIZES
from helpers import FLOAT_DTYPES, assert_close_to_mlx_product, from_mx, to_mx

AFFINE_CASES = list(itertools.product(AFFINE_BITS, GROUP_SIZES, FLOAT_DTYPES))


def _random_case(rng, dtype, group_size):
    """A weight with batch dims and awkward sizes, and inputs for both product layouts."""
    n, k = 37, 4 * group_size
    return (
        rng.standard_normal((2, n, k)).astype(dtype),
        rng.standard_normal((2, 5, k)).astype(dtype),  # x for x @ W.T
        rng.standard_normal((2, 3, n)).astype(dtype),  # x for x @ W, with W of shape (n, k)
    )


@pytest.mark.parametrize("bits,group_size,dtype", AFFINE_CASES)
def test_affine_matches_mlx(mx, rng, bits, group_size, dtype):
    w, x, x_nt = _random_case(rng, dtype, group_size)
    settings = dict(group_size=group_size, bits=bits)

    ours = qlinear.quantize(w, **settings)
    theirs = [from_mx(mx, a) for a in mx.quantize(to_mx(mx, w), **settings)]
    for name, a, b in zip(("wq", "scales", "biases"), ours, theirs):
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8), err_msg=name)

    packed = [to_mx(mx, a) for a in ours]
    w_hat = qlinear.dequantize(*ours, **settings)
    np.testing.assert_array_equal(
        w_hat.view(np.uint8), from_mx(mx, mx.dequantize(*packed, **settings)).view(np.uint8)
    )

    for xs, transpose in ((x, True), (x_nt, False)):
        y = qlinear.quantized_matmul(xs, *ours, transpose=transpose, **settings)
        y_mlx = from_mx(mx, mx.quantized_matmul(to_mx(mx, xs), *packed, transpose=transpose, **settings))
        assert_close_to_mlx_product(y, y_mlx, xs, w_hat if transpose else np.swapaxes(w_hat, -1, -2))


def _affine_edge_groups(dtype, group_size=32):
    """Groups where the choice between equal extremes shows: zeros of both signs (the
    1-bit bias is the minimum itself, -0.0 or 0.0), a zero minimum under positives, ties
    of |min| and |max|, constants, and ranges under the scale floor."""
    rng = np.random.default_rng(7)
    n = group_size
    zeros = lambda signs: np.where(np.array(signs) < 0, -0.0, 0.0)
    rows = [
        zeros([-1] + [1] * (n - 1)),
        zeros([1, -1] + [1] * (n - 2)),
        zeros([1] * (n - 1) + [-1]),
        zeros([-1] * n),
        zeros([1] * n),
        zeros(rng.choice([-1, 1], n)),
        np.where(rng.random(n) < 0.5, zeros(rng.choice([-1, 1], n)), rng.random(n) + 0.25),
        np.concatenate([[1.0, -0.0, 0.0], rng.random(n - 3)]),
        np.concatenate([[0.0, -0.0, -1.0], rng.random(n - 3)]),
        np.concatenate([[-2.0, 2.0], rng.uniform(-2, 2, n - 2)]),
        np.full(n, 0.375),
        np.full(n, -3.0),
        rng.uniform(-1, 1, n) * 1e-8,  # below float16's subnormals: zeros of both signs
        1.0 + rng.uniform(-1, 1, n) * 1e-7,
    ]
    return np.stack(rows).astype(dtype)


@pytest.mark.parametrize("bits,dtype", list(itertools.product(AFFINE_BITS, FLOAT_DTYPES)))
def test_affine_edge_groups_match_mlx_on_every_isa(mx, bits, dtype):
    w = _affine_edge_groups(dtype)
    settings = dict(group_size=32, bits=bits)
    theirs = [from_mx(mx, a) for a in mx.quantize(to_mx(mx, w), **settings)]
    previous = qlinear.active_isa()
    try:
        for isa in qlinear.supported_isas():
            qlinear.set_isa(isa)
            ours = qlinear.quantize(w, **settings)
            for name, a, b in zip(("wq", "scales", "biases"), ours, theirs):
                np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8), err_msg=f"{isa} {name}")
    finally:
        qlinear.set_isa(previous)


FLOAT_MODE_CASES = list(itertools.product(FLOAT_MODES, FLOAT_DTYPES))


@pytest.mark.parametrize("mode,dtype", FLOAT_MODE_CASES)
def test_float_mode_quantize_matches_mlx(mx, rng, mode, dtype):
    w = rng.standard_normal((37, 128)).astype(dtype)
    ours = qlinear.quantize(w, mode=mode)
    theirs = [from_mx(mx, a) for a in mx.quantize(to_mx(mx, w), mode=mode)]
    assert len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


# Largest magnitude of each mode's element format, which the MX scale is fitted to.
MAXQ = {"mxfp4": 6.0, "mxfp8": 448.0}


def _edge_groups(mode, dtype):
    """One group per row with amax exactly maxq times a power of two and one ulp either
    side, all zeros, tiny and subnormal amax (above 2^-127 maxq, see below), and huge amax
    near the top of the dtype's range; the other elements at fractions of amax."""
    maxq = MAXQ[mode]
    info = ml_dtypes.finfo(dtype)
    amaxes = [0.0, float(info.smallest_subnormal), float(info.tiny), float(info.max), float(info.max) / 7]
    for k in (-12, -3, 0, 2, 5):
        exact = dtype(maxq * 2.0**k)
        amaxes += [exact, np.nextafter(exact, dtype(0)), np.nextafter(exact, dtype(np.inf))]
    w = np.zeros((len(amaxes), 32), dtype)
    for row, amax in enumerate(amaxes):
        w[row] = (np.float64(amax) * np.linspace(-1, 1, 32)).astype(dtype)
    # Where amax / maxq is 2^-128 or below, MLX's exponent wraps around modulo 256 into a
    # huge scale; qlinear clamps it to 2^-127 (formats/e8m0.h), so those groups are left out.
    amax = np.abs(w.astype(np.float64)).max(axis=1)
    return w[(amax / maxq > 2.0**-128) | (amax == 0)]


@pytest.mark.parametrize("mode,dtype", list(itertools.product(["mxfp4", "mxfp8"], FLOAT_DTYPES)))
def test_mx_scale_rule_matches_mlx_on_edge_groups(mx, mode, dtype):
    w = _edge_groups(mode, dtype)
    ours = qlinear.quantize(w, mode=mode)
    theirs = [from_mx(mx, a) for a in mx.quantize(to_mx(mx, w), mode=mode)]
    for name, a, b in zip(("wq", "scales"), ours, theirs):
        np.testing.assert_array_equal(a, b, err_msg=name)
    # In float32 the largest element is never clipped: amax <= maxq * scale. (In float16
    # and bfloat16 MLX rounds amax / maxq to the weights' dtype first, which for subnormal
    # quotients can fall below the next power of two; the bytes above still agree.)
    if dtype == np.float32:
        scales = np.ldexp(1.0, ours[1].astype(np.int32) - 127)[:, 0]
        assert np.all(np.abs(w.astype(np.float64)).max(axis=1) <= MAXQ[mode] * scales)


@pytest.mark.parametrize("mode,dtype", FLOAT_MODE_CASES)
def test_float_mode_dequantize_and_matmul_match_mlx(mx, rng, mode, dtype):
    """Given the same packed weights, MLX and qlinear decode and multiply alike."""
    w = rng.standard_normal((37, 128)).astype(dtype)
    ours = qlinear.quantize(w, mode=mode)
    packed = [to_mx(mx, a) for a in ours]
    w_hat = qlinear.dequantize(*ours, mode=mode)
    np.testing.assert_array_equal(
        w_hat.view(np.uint8), from_mx(mx, mx.dequantize(*packed, mode=mode)).view(np.uint8)
    )
    for x, transpose in ((rng.standard_normal((5, 128)), True), (rng.standard_normal((3, 37)), False)):
        x = x.astype(dtype)
        y = qlinear.quantized_matmul(x, *ours, transpose=transpose, mode=mode)
        y_mlx = from_mx(mx, mx.quantized_matmul(to_mx(mx, x), *packed, transpose=transpose, mode=mode))
        w_exact = qlinear.dequantize(*ours, mode=mode, dtype=np.float32)
        assert_close_to_mlx_product(y, y_mlx, x, w_exact if transpose else w_exact.T)


def test_nvfp4_global_scale_matches_mlx(mx, rng):
    w = rng.standard_normal((37, 128)).astype(np.float32)
    global_scale = np.array(0.37, np.float32)
    ours = qlinear.quantize(w, mode="nvfp4", global_scale=global_scale)
    theirs = mx.quantize(to_mx(mx, w), mode="nvfp4", global_scale=mx.array(global_scale))
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, from_mx(mx, b))
    w_hat = qlinear.dequantize(*ours, mode="nvfp4", global_scale=global_scale, dtype=np.float32)
    packed = [to_mx(mx, a) for a in ours]
    expected = mx.dequantize(*packed, mode="nvfp4", global_scale=mx.array(global_scale), dtype=mx.float32)
    np.testing.assert_array_equal(w_hat, from_mx(mx, expected))
    # Without a dtype MLX returns float32 too when there is a global scale.
    by_default = qlinear.dequantize(*ours, mode="nvfp4", global_scale=global_scale)
    theirs_by_default = from_mx(mx, mx.dequantize(*packed, mode="nvfp4", global_scale=mx.array(global_scale)))
    assert by_default.dtype == theirs_by_default.dtype == np.float32
    np.testing.assert_array_equal(by_default, theirs_by_default)
