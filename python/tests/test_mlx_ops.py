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


@pytest.mark.parametrize("mode", ["mxfp4", "mxfp8", "nvfp4"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_float_modes_match_mlx(mx, rng, mode, dtype):
    w = rng.standard_normal((37, 128)).astype(dtype)
    try:
        ours = qlinear.quantize(w, mode=mode)
    except ValueError as error:
        if "not implemented yet" in str(error):
            pytest.skip(str(error))
        raise
    _skip_unless_mlx_matches_the_golden_files(mx, mode)
    theirs = [from_mx(mx, a) for a in mx.quantize(to_mx(mx, w), mode=mode)]
    assert len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    packed = [to_mx(mx, a) for a in ours]
    np.testing.assert_array_equal(
        qlinear.dequantize(*ours, mode=mode).view(np.uint8),
        from_mx(mx, mx.dequantize(*packed, mode=mode)).view(np.uint8),
    )
