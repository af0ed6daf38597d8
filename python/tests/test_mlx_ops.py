"""qlinear against mlx.core itself on random inputs: same bits, same values, close products."""

import itertools

import numpy as np
import pytest

import qlinear
from conftest import AFFINE_BITS, GOLDEN, GROUP_SIZES
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


def _skip_unless_mlx_matches_the_golden_files(mx, mode):
    """The golden files are the spec's final word; MLX releases have changed how the
    microscaling modes round their scales. Cross-check only against an MLX that agrees."""
    (path,) = GOLDEN.glob(f"{mode}_*_f32.safetensors")
    golden, metadata = qlinear.load(path, return_metadata=True)
    theirs = [from_mx(mx, a) for a in mx.quantize(to_mx(mx, golden["w"]), mode=mode)]
    if not all(np.array_equal(a, golden[name]) for a, name in zip(theirs, ("wq", "scales"))):
        pytest.skip(
            f"MLX {mx.__version__} quantizes {mode} differently from the MLX that wrote the golden "
            f"files (commit {metadata['mlx_commit'][:7]})"
        )


def _quantize_or_skip(w, **settings):
    try:
        return qlinear.quantize(w, **settings)
    except ValueError as error:
        if "not implemented yet" in str(error):
            pytest.skip(str(error))
        raise


FLOAT_MODE_CASES = list(itertools.product(["mxfp4", "mxfp8", "nvfp4"], FLOAT_DTYPES))


@pytest.mark.parametrize("mode,dtype", FLOAT_MODE_CASES)
def test_float_mode_quantize_matches_mlx(mx, rng, mode, dtype):
    w = rng.standard_normal((37, 128)).astype(dtype)
    ours = _quantize_or_skip(w, mode=mode)
    _skip_unless_mlx_matches_the_golden_files(mx, mode)
    theirs = [from_mx(mx, a) for a in mx.quantize(to_mx(mx, w), mode=mode)]
    assert len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode,dtype", FLOAT_MODE_CASES)
def test_float_mode_dequantize_and_matmul_match_mlx(mx, rng, mode, dtype):
    """Given the same packed weights, MLX and qlinear decode and multiply alike."""
    w = rng.standard_normal((37, 128)).astype(dtype)
    ours = _quantize_or_skip(w, mode=mode)
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
    ours = _quantize_or_skip(w, mode="nvfp4", global_scale=global_scale)
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
