"""qlinear.nn: the C++ layers through mlx.nn's Python surface, and Python subclasses of Module."""

import gc
import re
import threading

import numpy as np
import pytest

import qlinear
from qlinear import nn
from qlinear.utils import tree_flatten, tree_unflatten
from helpers import MLP, ran_during_the_call


def _linear_reference(x, weight, bias=None):
    y = x.astype(np.float64) @ weight.astype(np.float64).T
    return y if bias is None else y + bias


def test_a_python_subclass_is_one_tree_with_its_layers(rng):
    nn.seed(0)
    model = MLP()
    assert [path for path, _ in tree_flatten(model.parameters())] == [
        "gain",
        "embed.weight",
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",
    ]
    assert isinstance(model.layers, list) and isinstance(model.layers[1], nn.Linear)
    assert model.activation is np.tanh  # plain attributes stay plain
    assert repr(model) == (
        "MLP(\n"
        "  (embed): Embedding(50, 64)\n"
        "  (layers.0): Linear(input_dims=64, output_dims=128, bias=True)\n"
        "  (layers.1): Linear(input_dims=128, output_dims=64, bias=False)\n"
        ")"
    )
    ids = rng.integers(0, 50, (2, 3))
    x = model.embed.weight[ids]
    for layer in model.layers:
        bias = layer.bias if "bias" in layer.parameters() else None
        x = np.tanh(_linear_reference(x, layer.weight, bias))
    expected = _linear_reference(x * 2.0, model.embed.weight)
    np.testing.assert_allclose(model(ids), expected, rtol=1e-4, atol=1e-5)


def test_setting_a_parameter_from_numpy_shares_its_memory(rng):
    layer = nn.Linear(8, 4)
    weight = rng.standard_normal((4, 8)).astype(np.float32)
    layer.weight = weight
    assert np.shares_memory(layer.weight, weight)
    assert not layer.weight.flags.writeable  # a view on the caller's array, read-only here


def test_a_parameter_outlives_its_layer():
    layer = nn.QuantizedLinear(256, 64)
    weight = layer.weight
    expected = weight.copy()
    del layer
    gc.collect()
    _ = [np.full(expected.shape, 0xFFFFFFFF, np.uint32) for _ in range(64)]  # would reuse freed memory
    np.testing.assert_array_equal(weight, expected)


def test_linear_initialisation_and_call(rng):
    layer = nn.Linear(100, 30)
    bound = np.sqrt(1 / 100)
    assert layer.weight.shape == (30, 100) and layer.bias.shape == (30,)
    assert np.all(np.abs(layer.weight) <= bound) and np.abs(layer.weight).max() > 0.9 * bound
    x = rng.standard_normal((5, 100)).astype(np.float32)
    np.testing.assert_allclose(layer(x), _linear_reference(x, layer.weight, layer.bias), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bits,group_size", [(2, 32), (4, 64), (8, 128)])
def test_quantized_linear_from_linear_is_quantize_plus_quantized_matmul(rng, bits, group_size):
    linear = nn.Linear(256, 48)
    layer = nn.QuantizedLinear.from_linear(linear, group_size=group_size, bits=bits)
    wq, scales, biases = qlinear.quantize(linear.weight, group_size=group_size, bits=bits)
    for name, expected in (("weight", wq), ("scales", scales), ("biases", biases), ("bias", linear.bias)):
        np.testing.assert_array_equal(getattr(layer, name), expected, err_msg=name)
    assert (layer.group_size, layer.bits, layer.mode) == (group_size, bits, "affine")
    x = rng.standard_normal((3, 256)).astype(np.float32)
    y = qlinear.quantized_matmul(x, wq, scales, biases, group_size=group_size, bits=bits)
    np.testing.assert_array_equal(layer(x), y + linear.bias)
    assert repr(layer) == (
        f"QuantizedLinear(input_dims=256, output_dims=48, bias=True, group_size={group_size}, "
        f"bits={bits}, mode=affine)"
    )


def test_quantized_linear_defaults_and_frozen_parameters():
    layer = nn.QuantizedLinear(128, 16)
    assert (layer.group_size, layer.bits, layer.mode) == (64, 4, "affine")
    assert sorted(layer.parameters()) == ["bias", "biases", "scales", "weight"]
    np.testing.assert_array_equal(layer.bias, np.zeros(16, np.float32))
    assert layer.trainable_parameters() == {}
    layer.unfreeze()
    assert layer.trainable_parameters() == {}
    with pytest.raises(ValueError, match=r"^\[QuantizedLinear\] The requested number of bits 7"):
        nn.QuantizedLinear(128, 16, bits=7)


def test_freeze_and_unfreeze_by_key():
    model = MLP()
    model.freeze(keys="bias")
    assert "bias" not in model.trainable_parameters()["layers"][0]
    model.freeze()
    assert tree_flatten(model.trainable_parameters()) == []
    model.unfreeze(keys=["weight"])
    assert [p for p, _ in tree_flatten(model.trainable_parameters())] == [
        "embed.weight",
        "layers.0.weight",
        "layers.1.weight",
    ]


def test_quantize_replaces_layers_in_place_and_follows_the_predicate(rng):
    model = MLP()
    ids = rng.integers(0, 50, (4,))
    seen = []

    def predicate(path, module):
        seen.append((path, type(module).__name__))
        if path == "layers.1":
            return {"group_size": 32, "bits": 8}
        return path != "embed"

    nn.quantize(model, group_size=64, bits=4, class_predicate=predicate)
    assert sorted(seen) == [("embed", "Embedding"), ("layers.0", "Linear"), ("layers.1", "Linear")]
    assert type(model.embed) is nn.Embedding
    first, second = model.layers
    assert type(first) is nn.QuantizedLinear and (first.group_size, first.bits) == (64, 4)
    assert type(second) is nn.QuantizedLinear and (second.group_size, second.bits) == (32, 8)
    assert model(ids).shape == (4, 50)


def test_quantize_refuses_what_it_cannot_do_and_changes_nothing():
    model = MLP(dims=48)  # 48 is not a multiple of 64
    before = repr(model)
    with pytest.raises(ValueError, match=r"^\[nn::quantize\] Layer 'embed': input dims 48 is not divisible by group_size 64\.$"):
        nn.quantize(model)
    with pytest.raises(ValueError, match=r"^\[nn::quantize\] class_predicate must return a bool or a dict"):
        nn.quantize(model, group_size=32, class_predicate=lambda path, module: "yes")
    assert repr(model) == before


def test_quantized_embedding_lookup_and_as_linear(rng):
    embedding = nn.Embedding(40, 64)
    layer = nn.QuantizedEmbedding.from_embedding(embedding, group_size=32, bits=6)
    packed = (layer.weight, layer.scales, layer.biases)
    w_hat = qlinear.dequantize(*packed, group_size=32, bits=6)
    ids = rng.integers(0, 40, (2, 5))
    np.testing.assert_array_equal(layer(ids), w_hat[ids])
    x = rng.standard_normal((3, 64)).astype(np.float32)
    np.testing.assert_array_equal(layer.as_linear(x), qlinear.quantized_matmul(x, *packed, group_size=32, bits=6))
    assert repr(nn.QuantizedEmbedding(10, 64)) == "QuantizedEmbedding(10, 64, group_size=64, bits=4, mode=affine)"


def test_weights_round_trip_through_a_file(tmp_path, rng):
    model = MLP()
    nn.quantize(model, group_size=32)
    path = tmp_path / "weights.safetensors"
    model.save_weights(str(path))
    assert qlinear.load(path, return_metadata=True)[1] == {"format": "mlx"}
    fresh = MLP()
    nn.quantize(fresh, group_size=32)
    fresh.load_weights(str(path))
    for (name, a), (_, b) in zip(tree_flatten(model.parameters()), tree_flatten(fresh.parameters())):
        np.testing.assert_array_equal(a, b, err_msg=name)
    ids = rng.integers(0, 50, (3,))
    np.testing.assert_array_equal(model(ids), fresh(ids))


def test_strict_load_reports_every_problem_and_changes_nothing():
    layer = nn.Linear(4, 2)
    weight_before = layer.weight.copy()
    weights = [("weight", np.zeros((2, 5), np.float32)), ("extra", np.zeros(1, np.float32))]
    message = (
        "[load_weights] The weights do not match the Linear (3 problems):\n"
        "  1 parameter not in model: extra\n"
        "  missing 1 parameter: bias\n"
        "  shape of weight: expected (2, 4), received (2, 5)"
    )
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        layer.load_weights(weights)
    np.testing.assert_array_equal(layer.weight, weight_before)
    layer.load_weights([("bias", np.ones(2, np.float32)), ("extra", np.zeros(1))], strict=False)
    np.testing.assert_array_equal(layer.bias, np.ones(2, np.float32))


def test_update_modules_takes_a_nested_dict():
    model = MLP()
    replacement = nn.Linear(128, 64, bias=False)
    model.update_modules({"layers": {"1": replacement}})
    assert model.layers[1] is replacement
    assert tree_unflatten(tree_flatten({"a": [1, {"b": 2}]})) == {"a": [1, {"b": 2}]}


def test_layers_compute_without_the_gil(rng):
    layer = nn.QuantizedLinear(1024, 512)
    embedding = nn.QuantizedEmbedding(512, 1024)
    x = rng.standard_normal((64, 1024)).astype(np.float32)
    assert ran_during_the_call(lambda: layer(x))
    assert ran_during_the_call(lambda: embedding.as_linear(x))


def test_layers_run_in_parallel_threads(rng):
    layer = nn.QuantizedLinear(512, 256)
    inputs = [rng.standard_normal((7, 512)).astype(np.float32) for _ in range(6)]
    expected = [layer(x) for x in inputs]
    results = [None] * len(inputs)

    def run(i):
        results[i] = layer(inputs[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)
