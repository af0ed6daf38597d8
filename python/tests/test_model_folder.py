"""Model folders between qlinear and mlx-lm: each loads what the other writes, and both
quantize a checkpoint to the same bits (uniform and mixed-precision recipes)."""

import json

import numpy as np
import pytest

import qlinear
from helpers import assert_close_to_mlx_product, from_mx, to_mx
from qlinear import nn
from qlinear.utils import tree_flatten

mlx_lm_utils = pytest.importorskip("mlx_lm.utils", exc_type=ImportError)
mlx_lm_convert = pytest.importorskip("mlx_lm.convert", exc_type=ImportError)

# A small Llama: eight blocks, so that the mixed recipes' "first and last eighth, every
# third block between" picks some blocks and not others.
LLAMA = {
    "model_type": "llama",
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 8,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-5,
    "vocab_size": 96,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}
RECIPES = [(None, 4), (None, 1), ("mixed_3_6", 3)]


def _float_llama(mx, folder):
    """A bfloat16 Llama checkpoint written by mlx-lm's own save_model and save_config."""
    from mlx.utils import tree_map
    from mlx_lm.models import llama

    mx.random.seed(0)
    model = llama.Model(llama.ModelArgs.from_dict(LLAMA))
    model.update(tree_map(lambda v: v.astype(mx.bfloat16), model.parameters()))
    mlx_lm_utils.save_model(folder, model)
    mlx_lm_utils.save_config(dict(LLAMA), folder / "config.json")
    return model


def _mlx_lm_quantized(mx, float_folder, recipe, bits):
    """What mlx_lm.convert makes of the float folder: (model, config)."""
    model, config = mlx_lm_utils.load_model(float_folder)
    predicate = recipe and mlx_lm_convert.mixed_quant_predicate_builder(recipe, model, 64)
    return mlx_lm_utils.quantize_model(model, config, 64, bits, quant_predicate=predicate)


def _assert_same_parameters(ours, theirs, mx):
    ours_flat = dict(tree_flatten(ours.parameters()))
    theirs_flat = {name: from_mx(mx, value) for name, value in tree_flatten(theirs.parameters())}
    assert sorted(ours_flat) == sorted(theirs_flat)
    for name, value in theirs_flat.items():
        assert ours_flat[name].dtype == value.dtype, name
        np.testing.assert_array_equal(ours_flat[name].view(np.uint8), value.view(np.uint8), err_msg=name)


def _assert_same_layers(ours, theirs, mx, rng):
    """Every layer quantized on one side is quantized alike on the other and computes alike."""
    our_modules = dict(ours.named_modules())
    quantized = 0
    for path, module in theirs.named_modules():
        if type(module).__name__ != "QuantizedLinear":
            continue
        quantized += 1
        layer = our_modules[path]
        assert (type(layer), layer.group_size, layer.bits) == (nn.QuantizedLinear, module.group_size, module.bits)
        x = rng.standard_normal((2, module.weight.shape[1] * 32 // module.bits)).astype(np.float32)
        w_hat = qlinear.dequantize(layer.weight, layer.scales, layer.biases, group_size=layer.group_size, bits=layer.bits)
        y_mlx = from_mx(mx, module(to_mx(mx, x)))
        assert_close_to_mlx_product(layer(x), y_mlx, x, w_hat.astype(np.float32))
    assert quantized == 8 * 7 + 1  # q, k, v, o, gate, up, down per block, and lm_head


@pytest.mark.parametrize("recipe,bits", RECIPES)
def test_a_folder_quantized_by_mlx_lm_loads_in_qlinear(tmp_path, mx, rng, recipe, bits):
    _float_llama(mx, tmp_path / "float")
    theirs, config = _mlx_lm_quantized(mx, tmp_path / "float", recipe, bits)
    mlx_lm_utils.save_model(tmp_path / "quantized", theirs)
    mlx_lm_utils.save_config(config, tmp_path / "quantized" / "config.json")

    ours, our_config = nn.load_model(tmp_path / "quantized")
    assert our_config == json.loads((tmp_path / "quantized" / "config.json").read_text())
    _assert_same_parameters(ours, theirs, mx)
    _assert_same_layers(ours, theirs, mx, rng)


@pytest.mark.parametrize("recipe,bits", RECIPES)
def test_a_folder_converted_by_qlinear_loads_in_mlx_lm(tmp_path, mx, rng, recipe, bits):
    _float_llama(mx, tmp_path / "float")
    qlinear.convert(tmp_path / "float", tmp_path / "quantized", quantize=True, q_bits=bits, quant_predicate=recipe)

    loaded, config = mlx_lm_utils.load_model(tmp_path / "quantized")  # mlx-lm's loader, strict
    expected, expected_config = _mlx_lm_quantized(mx, tmp_path / "float", recipe, bits)
    assert config["quantization"] == expected_config["quantization"]
    for (name, value), (_, want) in zip(tree_flatten(loaded.parameters()), tree_flatten(expected.parameters())):
        np.testing.assert_array_equal(from_mx(mx, value).view(np.uint8), from_mx(mx, want).view(np.uint8), err_msg=name)
    ours, _ = nn.load_model(tmp_path / "quantized")
    _assert_same_layers(ours, loaded, mx, rng)


def test_a_folder_dequantized_by_qlinear_matches_mlx_lm(tmp_path, mx):
    _float_llama(mx, tmp_path / "float")
    qlinear.convert(tmp_path / "float", tmp_path / "quantized", quantize=True, quant_predicate="mixed_3_6")
    qlinear.convert(tmp_path / "quantized", tmp_path / "dequantized", dequantize=True)

    loaded, config = mlx_lm_utils.load_model(tmp_path / "dequantized")
    assert "quantization" not in config
    expected = mlx_lm_utils.dequantize_model(mlx_lm_utils.load_model(tmp_path / "quantized")[0])
    _assert_same_parameters(nn.load_model(tmp_path / "dequantized")[0], expected, mx)
    for (name, value), (_, want) in zip(tree_flatten(loaded.parameters()), tree_flatten(expected.parameters())):
        np.testing.assert_array_equal(from_mx(mx, value).view(np.uint8), from_mx(mx, want).view(np.uint8), err_msg=name)


def test_convert_refuses_an_existing_output_folder(tmp_path, mx):
    _float_llama(mx, tmp_path / "float")
    (tmp_path / "out").mkdir()
    with pytest.raises(ValueError, match=r"^\[convert\] "):
        qlinear.convert(tmp_path / "float", tmp_path / "out", quantize=True)
