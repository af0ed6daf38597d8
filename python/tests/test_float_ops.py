"""The float ops against mlx.core: mx.fast.rms_norm, mx.fast.rope, mx.softmax,
mx.fast.scaled_dot_product_attention, nn.silu and a float matmul, in float32, within
bounds from the sums' lengths (both sides compute in float32)."""

import numpy as np
import pytest

import qlinear
from helpers import from_mx

U = 2.0**-24


def _close(ours, theirs, terms):
    """|ours - theirs| <= 2 (terms + 8) u max|theirs| per row's scale."""
    bound = 2 * (terms + 8) * U * np.abs(theirs).max()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=bound)


@pytest.mark.parametrize("dims", [1, 33, 256])
def test_rms_norm(mx, rng, dims):
    x = rng.standard_normal((3, 5, dims)).astype(np.float32) * 3
    w = rng.standard_normal(dims).astype(np.float32)
    _close(qlinear.fast.rms_norm(x, w, 1e-5), from_mx(mx, mx.fast.rms_norm(mx.array(x), mx.array(w), 1e-5)), dims)
    _close(qlinear.fast.rms_norm(x, None, 1e-5), from_mx(mx, mx.fast.rms_norm(mx.array(x), None, 1e-5)), dims)


@pytest.mark.parametrize("traditional", [False, True])
@pytest.mark.parametrize("dims", [64, 32])
def test_rope(mx, rng, traditional, dims):
    x = rng.standard_normal((1, 4, 9, 64)).astype(np.float32)
    theirs = mx.fast.rope(mx.array(x), dims, traditional=traditional, base=10000.0, scale=0.5, offset=13)
    ours = qlinear.fast.rope(x, dims, traditional=traditional, base=10000.0, scale=0.5, offset=13)
    # The angle (position * frequency) rounds to about (position + 1) u of itself.
    _close(ours, from_mx(mx, theirs), 64)
    freqs = (10000.0 ** (np.arange(0, dims, 2) / dims) * 3).astype(np.float32)
    theirs = mx.fast.rope(mx.array(x), dims, traditional=traditional, base=None, scale=1.0, offset=3,
                          freqs=mx.array(freqs))
    ours = qlinear.fast.rope(x, dims, traditional=traditional, base=None, scale=1.0, offset=3, freqs=freqs)
    _close(ours, from_mx(mx, theirs), 64)


def test_softmax_silu_swiglu_linear(mx, rng):
    x = rng.standard_normal((4, 300)).astype(np.float32) * 4
    up = rng.standard_normal((4, 300)).astype(np.float32)
    _close(qlinear.softmax(x), from_mx(mx, mx.softmax(mx.array(x), axis=-1, precise=True)), 300)
    import mlx.nn as mlx_nn

    _close(qlinear.silu(x), from_mx(mx, mlx_nn.silu(mx.array(x))), 4)
    _close(qlinear.swiglu(x, up), from_mx(mx, mlx_nn.silu(mx.array(x)) * mx.array(up)), 4)
    w = rng.standard_normal((70, 300)).astype(np.float32)
    b = rng.standard_normal(70).astype(np.float32)
    theirs = mx.addmm(mx.array(b), mx.array(x), mx.array(w).T)
    _close(qlinear.linear(x, w, b), from_mx(mx, theirs), 300)


@pytest.mark.parametrize("shape", [(8, 2, 1, 40, 64), (4, 4, 7, 7, 32), (6, 2, 5, 19, 128)])
@pytest.mark.parametrize("mask", [None, "causal"])
def test_scaled_dot_product_attention(mx, rng, shape, mask):
    heads, kv_heads, tq, tk, d = shape
    q = rng.standard_normal((1, heads, tq, d)).astype(np.float32)
    k = rng.standard_normal((1, kv_heads, tk, d)).astype(np.float32)
    v = rng.standard_normal((1, kv_heads, tk, d)).astype(np.float32)
    scale = d**-0.5
    theirs = mx.fast.scaled_dot_product_attention(mx.array(q), mx.array(k), mx.array(v),
                                                  scale=scale, mask=mask)
    ours = qlinear.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=mask or "")
    # Score errors of d u |q||k| scale (times e for the softmax), then tk products.
    _close(ours, from_mx(mx, theirs), 4 * d + tk)
