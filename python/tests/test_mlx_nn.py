"""qlinear.nn against mlx.nn: layers and weights move between them and compute the same."""

import numpy as np
import pytest

import qlinear
from helpers import MLP, assert_close_to_mlx_product, from_mx, to_mx
from qlinear import nn
from qlinear.utils import tree_flatten

LAYER_SETTINGS = [
    (1, 64, "affine"),
    (2, 32, "affine"),
    (3, 64, "affine"),
    (4, 64, "affine"),
    (6, 128, "affine"),
    (8, 32, "affine"),
    (None, None, "mxfp4"),
    (None, None, "mxfp8"),
    (None, None, "nvfp4"),
]


@pytest.fixture(scope="session")
def mnn(mx):
    return pytest.importorskip("mlx.nn", exc_type=ImportError)


def _mlx_mlp(mx, mnn, dims=64, hidden=128, vocab=50):
    """MLP (helpers.py) written with mlx.nn: the same parameter names and shapes."""

    class MlxMLP(mnn.Module):
        def __init__(self):
            super().__init__()
            self.embed = mnn.Embedding(vocab, dims)
            self.layers = [mnn.Linear(dims, hidden), mnn.Linear(hidden, dims, bias=False)]
            self.gain = mx.full((dims,), 2.0)

    return MlxMLP()


def _mlx_weights(mx, path):
    """What mlx.nn save_weights wrote, read by MLX, as (name, numpy array) pairs."""
    return [(name, from_mx(mx, value)) for name, value in mx.load(str(path)).items()]


def _assert_quantized_linears_agree(ours, theirs, mx, x):
    """Same packed weights; outputs within the bound for two float32 accumulations."""
    y = ours(x)
    y_mlx = from_mx(mx, theirs(to_mx(mx, x)))
    biases = ours.biases if ours.mode == "affine" else None
    w_hat = qlinear.dequantize(
        ours.weight, ours.scales, biases, group_size=ours.group_size, bits=ours.bits, mode=ours.mode, dtype=np.float32
    )
    assert_close_to_mlx_product(y - ours.bias, y_mlx - ours.bias, x, w_hat)


@pytest.mark.parametrize("bits,group_size,mode", LAYER_SETTINGS)
def test_a_layer_converted_by_qlinear_runs_in_mlx(tmp_path, mx, mnn, rng, bits, group_size, mode):
    ours = nn.QuantizedLinear.from_linear(nn.Linear(256, 96), group_size=group_size, bits=bits, mode=mode)
    ours.save_weights(str(tmp_path / "layer.safetensors"))
    theirs = mnn.QuantizedLinear(256, 96, bias=True, group_size=group_size, bits=bits, mode=mode)
    theirs.load_weights(str(tmp_path / "layer.safetensors"))
    _assert_quantized_linears_agree(ours, theirs, mx, rng.standard_normal((5, 256)).astype(np.float32))


@pytest.mark.parametrize("bits,group_size,mode", LAYER_SETTINGS)
def test_a_layer_converted_by_mlx_runs_in_qlinear(tmp_path, mx, mnn, rng, bits, group_size, mode):
    theirs = mnn.QuantizedLinear.from_linear(mnn.Linear(256, 96), group_size=group_size, bits=bits, mode=mode)
    theirs.save_weights(str(tmp_path / "layer.safetensors"))
    ours = nn.QuantizedLinear(256, 96, group_size=group_size, bits=bits, mode=mode)
    ours.load_weights(_mlx_weights(mx, tmp_path / "layer.safetensors"))
    _assert_quantized_linears_agree(ours, theirs, mx, rng.standard_normal((5, 256)).astype(np.float32))


def test_a_model_quantizes_to_the_same_bits_in_both(tmp_path, mx, mnn, rng):
    """Float weights saved by mlx.nn load into qlinear; nn.quantize with the same
    per-layer settings then gives bit-identical parameters on both sides, and the
    quantized weights saved by mlx.nn load strictly into the qlinear model."""

    def predicate(path, module):
        return {"group_size": 32, "bits": 8} if path == "layers.1" else True

    theirs = _mlx_mlp(mx, mnn)
    theirs.save_weights(str(tmp_path / "float.safetensors"))
    ours = MLP()
    ours.load_weights(_mlx_weights(mx, tmp_path / "float.safetensors"))

    mnn.quantize(theirs, group_size=64, bits=4, class_predicate=predicate)
    nn.quantize(ours, group_size=64, bits=4, class_predicate=predicate)
    theirs_flat = dict(tree_flatten(theirs.parameters()))
    ours_flat = dict(tree_flatten(ours.parameters()))
    assert ours_flat.keys() == theirs_flat.keys()
    for name, value in ours_flat.items():
        expected = from_mx(mx, theirs_flat[name])
        assert value.dtype == expected.dtype, name
        np.testing.assert_array_equal(value, expected, err_msg=name)

    theirs.save_weights(str(tmp_path / "quantized.safetensors"))
    reloaded = MLP()
    nn.quantize(reloaded, group_size=64, bits=4, class_predicate=predicate)
    reloaded.load_weights(_mlx_weights(mx, tmp_path / "quantized.safetensors"))
    ids = rng.integers(0, 50, (2, 7))
    np.testing.assert_array_equal(reloaded.embed(ids), from_mx(mx, theirs.embed(mx.array(ids))))
    for ours_layer, theirs_layer in zip(reloaded.layers, theirs.layers):
        x = rng.standard_normal((3, ours_layer.weight.shape[1] * 32 // ours_layer.bits)).astype(np.float32)
        y_mlx = from_mx(mx, theirs_layer(to_mx(mx, x)))
        w_hat = qlinear.dequantize(ours_layer.weight, ours_layer.scales, ours_layer.biases,
                                   group_size=ours_layer.group_size, bits=ours_layer.bits)
        bias = ours_layer.bias if "bias" in ours_layer.parameters() else 0
        assert_close_to_mlx_product(ours_layer(x) - bias, y_mlx - bias, x, w_hat)


def test_weights_saved_by_mlx_load_from_the_file(tmp_path, mx, mnn):
    theirs = mnn.QuantizedLinear(128, 32, group_size=64, bits=4)
    theirs.save_weights(str(tmp_path / "layer.safetensors"))
    ours = nn.QuantizedLinear(128, 32)
    # MLX writes "__metadata__": null when there is no metadata; the loader accepts it.
    ours.load_weights(str(tmp_path / "layer.safetensors"))
    for name in ("weight", "scales", "biases", "bias"):
        np.testing.assert_array_equal(getattr(ours, name), from_mx(mx, getattr(theirs, name)), err_msg=name)
