"""qlinear against the vectors MLX wrote (tests/data/golden): the check that needs no MLX."""

import numpy as np
import pytest

import qlinear
from conftest import FLOAT_MODES, GOLDEN, RELEASE_GOLDEN
from helpers import assert_close_to_mlx_product

AFFINE_FILES = sorted(p.name for p in GOLDEN.glob("affine_*.safetensors"))
EDGE_FILES = sorted(p.name for p in GOLDEN.glob("edge_*.safetensors") if "nonfinite" not in p.name)
SHAPE_FILES = sorted(p.name for p in GOLDEN.glob("shape_*.safetensors"))
FLOAT_MODE_FILES = sorted(p.name for f in FLOAT_MODES for p in GOLDEN.glob(f"{f}_*.safetensors"))
# The release's 1-bit affine and float-mode files (gather_qmm: live in test_gather_qmm.py).
RELEASE_FILES = sorted(
    f"{RELEASE_GOLDEN.name}/{p.name}"
    for f in ("affine_b1",) + FLOAT_MODES
    for p in RELEASE_GOLDEN.glob(f"{f}_*.safetensors")
)


def _load(name):
    arrays, metadata = qlinear.load(GOLDEN / name, return_metadata=True)
    settings = dict(group_size=int(metadata["group_size"]), bits=int(metadata["bits"]), mode=metadata["mode"])
    return arrays, settings


def _assert_same_bits(actual, expected, name):
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, name
    np.testing.assert_array_equal(actual.view(np.uint8), expected.view(np.uint8), err_msg=name)


def _check_file(name, suffixes=("", "_nt"), check_quantize=True):
    """quantize reproduces the file's codes (unless check_quantize is False: then its
    given codes are used), dequantize its w_hat, quantized_matmul its products."""
    g, settings = _load(name)
    for suffix in suffixes:
        if "w" + suffix not in g:
            continue
        fields = [f for f in ("wq", "scales", "biases") if f + suffix in g]
        if check_quantize:
            packed = qlinear.quantize(g["w" + suffix], **settings)
            assert len(packed) == len(fields)
            for field, actual in zip(fields, packed):
                _assert_same_bits(actual, g[field + suffix], field + suffix)
        else:
            packed = tuple(g[f + suffix] for f in fields)
        # The golden w_hat of the float modes was asked for in w's dtype.
        w_hat = qlinear.dequantize(*packed, **settings, dtype=g["w" + suffix].dtype)
        if suffix == "":
            _assert_same_bits(w_hat, g["w_hat"], "w_hat")
        transpose = suffix == ""
        x = g["x" + suffix]
        y = qlinear.quantized_matmul(x, *packed, transpose=transpose, **settings)
        assert_close_to_mlx_product(y, g["y" + suffix], x, w_hat if transpose else np.swapaxes(w_hat, -1, -2))


@pytest.mark.parametrize("name", AFFINE_FILES)
def test_affine_golden(name):
    _check_file(name)


@pytest.mark.parametrize("name", EDGE_FILES + SHAPE_FILES)
def test_edge_and_shape_golden(name):
    _check_file(name)


@pytest.mark.parametrize("name", FLOAT_MODE_FILES)
def test_float_mode_golden(name):
    # The older commit's mxfp4/mxfp8 codes come from its round-to-nearest scale exponent,
    # which the release replaced (see test_release_golden); its nvfp4 rule is unchanged.
    _check_file(name, check_quantize=name.startswith("nvfp4"))


@pytest.mark.parametrize("name", RELEASE_FILES)
def test_release_golden(name):
    _check_file(name)


def test_nonfinite_weights_are_refused_with_their_position():
    g, settings = _load("edge_nonfinite.safetensors")
    with pytest.raises(ValueError, match=r"^\[quantize\] w contains NaN at index \(0, 5\)"):
        qlinear.quantize(g["w"], **settings)


def test_golden_sets_are_all_there():
    assert (len(AFFINE_FILES), len(EDGE_FILES), len(SHAPE_FILES), len(FLOAT_MODE_FILES)) == (54, 9, 2, 6)
    assert len(RELEASE_FILES) == 18  # 1-bit affine, mxfp4, mxfp8, nvfp4 x 3 dtypes (x 3 group sizes)
