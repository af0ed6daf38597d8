"""qlinear.nn's expert layers against mlx-lm's (mlx_lm/models/switch_layers.py) with the
same weights: SwitchLinear / QuantizedSwitchLinear, SwitchGLU and SwitchMLP, float and
quantized in every mode, with few tokens (mlx-lm's unsorted path) and with 64 or more
indices (its sorted path). Both libraries quantize the same float weights to the same
bits; outputs agree within error bounds propagated through each layer."""

import math

import numpy as np
import pytest

import qlinear
from conftest import MODES
from helpers import UNIT_ROUNDOFF, from_mx, matmul_tolerance, to_mx
from qlinear import nn
from qlinear.utils import tree_flatten

switch_layers = pytest.importorskip("mlx_lm.models.switch_layers", exc_type=ImportError)

U = UNIT_ROUNDOFF[np.dtype(np.float32)]
SETTINGS = [(None, None, "float")] + [
    (group_size, bits, "affine") for bits, group_size in [(2, 32), (3, 64), (4, 64), (8, 32)]
] + [(None, None, mode) for mode in MODES if mode != "affine"]
IDS = [f"{mode}-{bits}" for _, bits, mode in SETTINGS]
D, HIDDEN, EXPERTS, TOP_K = 64, 128, 6, 4
TOKENS = {"unsorted": 3, "sorted": 16}  # 12 and 64 indices: mlx-lm sorts from 64


@pytest.fixture(scope="module")
def mnn(mx):
    return pytest.importorskip("mlx.nn", exc_type=ImportError)


def _routes(rng, tokens, k=TOP_K, experts=EXPERTS):
    """k distinct experts per token, uint32 as argpartition gives them: (1, tokens, k)."""
    return np.stack([rng.permutation(experts)[:k] for _ in range(tokens)])[None].astype(np.uint32)


def _twins(mx, mnn, make_mlx, make_ours, settings):
    """The mlx-lm layer (seeded init) and ours with its weights, both quantized alike;
    their packed parameters must be the same bits."""
    group_size, bits, mode = settings
    mx.random.seed(7)
    theirs = make_mlx()
    ours = make_ours()
    ours.load_weights([(k, from_mx(mx, v)) for k, v in tree_flatten(theirs.parameters())])
    if mode != "float":
        mnn.quantize(theirs, group_size, bits, mode=mode)
        nn.quantize(ours, group_size, bits, mode=mode)
    theirs_params = dict(tree_flatten(theirs.parameters()))
    ours_params = dict(tree_flatten(ours.parameters()))
    assert sorted(theirs_params) == sorted(ours_params)
    for name, value in ours_params.items():
        np.testing.assert_array_equal(value, from_mx(mx, theirs_params[name]), err_msg=name)
    return theirs, ours


def _float_weight(layer, settings):
    """A layer's weight (E, N, K) as float64: dequantized when quantized."""
    group_size, bits, mode = settings
    if mode == "float":
        return np.asarray(layer.weight, np.float64)
    biases = layer.biases if mode == "affine" else None
    return qlinear.dequantize(layer.weight, layer.scales, biases, group_size=layer.group_size,
                              bits=layer.bits, mode=layer.mode, dtype=np.float32).astype(np.float64)


def _product_with_bound(x, w, ids):
    """x (P, K) times each row's expert w[ids] (E, N, K): the exact value and the bound on
    |ours - mlx-lm's| (each float32 accumulation within matmul_tolerance)."""
    wi = w[ids]
    exact = np.einsum("pk,pnk->pn", x, wi)
    bound = 2 * matmul_tolerance(x[:, None, :], wi, np.float32)[:, 0, :]
    return exact, bound


def _glu_reference(x_rows, ids, weights):
    """mlx-lm's SwitchGLU per (token, expert) pair in float64, with the bound on the distance
    of two float32 evaluations: the gate and up bounds carried through silu(g) * u (silu'
    stays below 1.1) plus the roundings of silu and the product, then through down_proj."""
    gate, up, down = weights
    g, g_bound = _product_with_bound(x_rows, gate, ids)
    u, u_bound = _product_with_bound(x_rows, up, ids)
    silu = g / (1 + np.exp(-g))
    h = silu * u
    h_bound = 1.1 * g_bound * np.abs(u) + np.abs(silu) * u_bound + 2 * 8 * U * np.abs(h)
    y, y_bound = _product_with_bound(h, down, ids)
    return y, y_bound + np.einsum("pk,pnk->pn", h_bound, np.abs(down[ids]))


def _gelu_approx(a):
    """mlx.nn.GELU(approx="precise"), SwitchMLP's activation: the tanh approximation."""
    return 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a**3)))


def _assert_agree(y, y_mlx, reference, bound):
    assert y.shape == y_mlx.shape and y.dtype == y_mlx.dtype == np.float32
    flat, flat_mlx = y.reshape(reference.shape), y_mlx.reshape(reference.shape)
    # Each within its own bound of the exact value, so the two within the sum.
    for name, value in (("qlinear", flat), ("mlx-lm", flat_mlx)):
        excess = np.abs(value - reference) - bound / 2
        assert np.all(excess <= 0), f"{name}: max excess over the bound {excess.max()}"
    assert np.all(np.abs(flat - flat_mlx) <= bound)


@pytest.mark.parametrize("path", TOKENS)
@pytest.mark.parametrize("settings", SETTINGS, ids=IDS)
def test_switch_glu_matches_mlx_lm(mx, mnn, rng, settings, path):
    theirs, ours = _twins(mx, mnn, lambda: switch_layers.SwitchGLU(D, HIDDEN, EXPERTS),
                          lambda: nn.SwitchGLU(D, HIDDEN, EXPERTS), settings)
    if settings[2] != "float":
        assert type(ours.up_proj).__name__ == "QuantizedSwitchLinear"
        assert ours.up_proj.mode == settings[2]
    tokens = TOKENS[path]
    x = rng.standard_normal((1, tokens, D)).astype(np.float32)
    indices = _routes(rng, tokens)
    y = ours(x, indices)
    y_mlx = from_mx(mx, theirs(to_mx(mx, x), to_mx(mx, indices)))
    assert y.shape == (1, tokens, TOP_K, D)
    weights = [_float_weight(getattr(ours, n), settings) for n in ("gate_proj", "up_proj", "down_proj")]
    rows = np.repeat(x[0].astype(np.float64), TOP_K, axis=0)
    reference, bound = _glu_reference(rows, indices.reshape(-1), weights)
    _assert_agree(y, y_mlx, reference, bound)


@pytest.mark.parametrize("path", TOKENS)
@pytest.mark.parametrize("settings", [SETTINGS[0], SETTINGS[3], SETTINGS[-3]], ids=["float", "affine-4", "mxfp4"])
def test_switch_mlp_matches_mlx_lm(mx, mnn, rng, settings, path):
    theirs, ours = _twins(mx, mnn, lambda: switch_layers.SwitchMLP(D, HIDDEN, EXPERTS, bias=True),
                          lambda: nn.SwitchMLP(D, HIDDEN, EXPERTS, bias=True), settings)
    # mlx-lm starts the biases at zero: give them values so that adding them is checked.
    biases = [(f"{n}.bias", rng.standard_normal((EXPERTS, d)).astype(np.float32))
              for n, d in (("fc1", HIDDEN), ("fc2", D))]
    ours.load_weights(biases, strict=False)
    theirs.load_weights([(k, to_mx(mx, v)) for k, v in biases], strict=False)
    tokens = TOKENS[path]
    x = rng.standard_normal((1, tokens, D)).astype(np.float32)
    indices = _routes(rng, tokens)
    y = ours(x, indices)
    y_mlx = from_mx(mx, theirs(to_mx(mx, x), to_mx(mx, indices)))
    ids = indices.reshape(-1)
    fc1, fc2 = (_float_weight(getattr(ours, n), settings) for n in ("fc1", "fc2"))
    rows = np.repeat(x[0].astype(np.float64), TOP_K, axis=0)
    # The biases enter as one more term of each dot product (a float32 addition each).
    a, a_bound = _product_with_bound(rows, fc1, ids)
    a = a + biases[0][1][ids]
    a_bound += 2 * 2 * U * np.abs(a)
    h = _gelu_approx(a)
    # Its slope stays below 1.13; tanh, the cube and the products round a few times.
    h_bound = 1.13 * a_bound + 2 * 8 * U * np.abs(h)
    reference, bound = _product_with_bound(h, fc2, ids)
    reference = reference + biases[1][1][ids]
    bound += np.einsum("pk,pnk->pn", h_bound, np.abs(fc2[ids])) + 2 * 2 * U * np.abs(reference)
    _assert_agree(y, y_mlx, reference, bound)


@pytest.mark.parametrize("settings", SETTINGS[1:], ids=IDS[1:])
def test_quantized_switch_linear_matches_mlx_lm_sorted_and_not(mx, mnn, rng, settings):
    group_size, bits, mode = settings
    mx.random.seed(11)
    float_layer = switch_layers.SwitchLinear(D, HIDDEN, EXPERTS, bias=True)
    float_layer.bias = to_mx(mx, rng.standard_normal((EXPERTS, HIDDEN)).astype(np.float32))
    theirs = float_layer.to_quantized(group_size or MODES[mode]["default_group_size"],
                                      bits or MODES[mode]["default_bits"], mode=mode)
    ours_float = nn.SwitchLinear(D, HIDDEN, EXPERTS)
    ours_float.load_weights([(k, from_mx(mx, v)) for k, v in tree_flatten(float_layer.parameters())])
    ours = ours_float.to_quantized(group_size, bits, mode)
    same = nn.QuantizedSwitchLinear.from_switch_linear(ours_float, group_size, bits, mode)
    for (name, a), (_, b) in zip(tree_flatten(ours.parameters()), tree_flatten(same.parameters())):
        np.testing.assert_array_equal(a, b, err_msg=name)
    for name, value in tree_flatten(ours.parameters()):
        np.testing.assert_array_equal(value, from_mx(mx, theirs[name]), err_msg=name)
    assert ours.trainable_parameters() == {}
    w = _float_weight(ours, settings)
    x = rng.standard_normal((8, 1, 1, D)).astype(np.float32)
    ids = rng.integers(0, EXPERTS, size=(8, 2)).astype(np.uint32)
    for sorted_indices in (False, True):
        if sorted_indices:  # mlx-lm's _gather_sort: the rows of each pair, by expert
            order = np.argsort(ids.reshape(-1), kind="stable")
            xs, idx = x.reshape(8, 1, D)[order // 2], ids.reshape(-1)[order]
        else:
            xs, idx = x, ids
        y = ours(xs, idx, sorted_indices=sorted_indices)
        y_mlx = from_mx(mx, theirs(to_mx(mx, xs), to_mx(mx, idx), sorted_indices=sorted_indices))
        rows = xs.reshape(-1, D).astype(np.float64)
        if not sorted_indices:
            rows = np.repeat(rows, 2, axis=0)
        reference, bound = _product_with_bound(rows, w, idx.reshape(-1))
        reference = reference + ours.bias[idx.reshape(-1)]
        _assert_agree(y, y_mlx, reference, bound + 2 * 2 * U * np.abs(reference))


def test_quantized_switch_linear_constructor_and_errors(rng):
    layer = nn.QuantizedSwitchLinear(64, 16, 4, bias=False, mode="mxfp4")
    assert (layer.input_dims, layer.output_dims, layer.num_experts) == (64, 16, 4)
    assert (layer.group_size, layer.bits, layer.mode) == (32, 4, "mxfp4")
    assert layer.weight.shape == (4, 16, 8) and layer.scales.shape == (4, 16, 2)
    assert repr(layer) == "QuantizedSwitchLinear()"
    x = rng.standard_normal((2, 1, 64)).astype(np.float32)
    with pytest.raises(ValueError, match=r"\[gather_qmm\] rhs_indices holds 4 at flat position 1"):
        layer(x, np.array([0, 4], np.int32))
    with pytest.raises(ValueError, match=r"\[SwitchLinear\] indices hold -1 at flat position 0"):
        nn.SwitchLinear(64, 16, 4)(x, np.array([-1, 0], np.int32))
    with pytest.raises(ValueError, match=r"\[nn::quantize\] Layer 'fc1': input dims 64 is not divisible"):
        nn.quantize(nn.SwitchMLP(64, 32, 2), 128, 4)
