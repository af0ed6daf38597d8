"""qlinear.nn's sharded layers on every rank of an mpirun job (run by test_distributed.py).

Every rank builds the same unsharded layer (same seed). In every mode of the catalogue:
- the shards' parameters are MLX's own shards of the same layer, byte for byte
  (mlx.nn.layers.distributed.shard_linear, MLX 0.32.4 over its MPI backend);
- all-to-sharded outputs are the unsharded layer's columns bit for bit;
- sharded-to-all outputs are within the float32 summation bound of the unsharded ones
  and of MLX's sharded layer (2 (K + N + 1) u sum|w||x|, u = 2^-24: each side is a float32
  sum of the same K products, in N partial sums, plus the bias).
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from helpers import from_mx, to_mx  # noqa: E402

import mlx.core as mx  # noqa: E402
import mlx.nn as mnn  # noqa: E402
from mlx.nn.layers.distributed import shard_inplace as mlx_shard_inplace  # noqa: E402
from mlx.nn.layers.distributed import shard_linear as mlx_shard_linear  # noqa: E402

mx_group = mx.distributed.init(strict=True, backend="mpi")

import qlinear  # noqa: E402
import qlinear.distributed as dist  # noqa: E402
from qlinear import nn  # noqa: E402

group = dist.init()
rank, size = group.rank(), group.size()
OUTPUT, ROWS = 18, 3  # 18 = 3 segments of 6: whole for 2 and 3 ranks
U = 2.0**-24


def same_parameters(ours, theirs, where):
    theirs = dict(mlx_flatten(theirs.parameters()))
    ours = dict(ours.parameters())
    assert sorted(ours) == sorted(theirs), (where, sorted(ours), sorted(theirs))
    for name, value in ours.items():
        expected = from_mx(mx, theirs[name])
        assert value.dtype == expected.dtype and value.shape == expected.shape, (where, name)
        assert value.tobytes() == expected.tobytes(), (where, name)


def mlx_flatten(tree, prefix=""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from mlx_flatten(value, prefix + key + ".")
        else:
            yield prefix + key, value


def assert_within_sum_bound(y, y_reference, x, w_magnitude, bias, where):
    k = x.shape[-1]
    magnitude = np.abs(x.astype(np.float64)) @ w_magnitude.astype(np.float64).T + np.abs(bias)
    bound = 2 * (k + size + 1) * U * magnitude
    error = np.abs(y.astype(np.float64) - y_reference.astype(np.float64))
    assert np.all(error <= bound), (where, float(np.max(error - bound)))


def weight_magnitude(layer, mode):
    """|w| as the bound needs it: |dequantized| (affine: |scale| q + |bias| per code)."""
    if mode == "affine":
        return qlinear.dequantize(layer.weight, np.abs(layer.scales), np.abs(layer.biases),
                                  group_size=layer.group_size, bits=layer.bits, mode=mode)
    return np.abs(qlinear.dequantize(layer.weight, layer.scales, None, group_size=layer.group_size,
                                     bits=layer.bits, mode=mode))


def layers_from(weight, bias):
    ours, theirs = nn.Linear(weight.shape[1], weight.shape[0]), mnn.Linear(weight.shape[1], weight.shape[0])
    ours.weight, ours.bias = weight, bias
    theirs.weight, theirs.bias = mx.array(weight), mx.array(bias)
    return ours, theirs


rng = np.random.default_rng(5)  # the same draws on every rank
checked = 0
for mode in qlinear.quant_modes():
    for bits in mode["bits"]:
        name, group_size = mode["name"], mode["default_group_size"]
        where = f"{name} {bits}-bit"
        k = 6 * group_size  # whole groups for 1, 2 and 3 ranks
        weight = rng.uniform(-0.1, 0.1, (OUTPUT, k)).astype(np.float32)
        bias = rng.uniform(-1, 1, OUTPUT).astype(np.float32)
        x = rng.standard_normal((ROWS, k)).astype(np.float32)
        linear, mlx_linear = layers_from(weight, bias)
        layer = nn.QuantizedLinear.from_linear(linear, group_size, bits, mode=name)
        mlx_layer = mnn.QuantizedLinear.from_linear(mlx_linear, group_size, bits, mode=name)
        y = layer(x)

        for segments in (1, 3):
            ours = nn.QuantizedAllToShardedLinear.from_quantized_linear(layer, segments=segments,
                                                                        group=group)
            theirs = mlx_shard_linear(mlx_layer, "all-to-sharded", segments=segments, group=mx_group)
            same_parameters(ours, theirs, where)
            assert (ours.mode, ours.bits, ours.group_size) == (name, bits, group_size)
            part = OUTPUT // segments // size
            columns = np.concatenate([y[:, s * OUTPUT // segments + rank * part:][:, :part]
                                      for s in range(segments)], axis=1)
            assert ours(x).tobytes() == columns.tobytes(), where

        ours = nn.shard_linear(layer, "sharded-to-all", group=group)
        theirs = mlx_shard_linear(mlx_layer, "sharded-to-all", group=mx_group)
        same_parameters(ours, theirs, where)
        assert type(ours) is nn.QuantizedShardedToAllLinear and ours.mode == name
        width = k // size
        x_part = np.ascontiguousarray(x[:, rank * width:(rank + 1) * width])
        y_sharded = ours(x_part)
        magnitude = weight_magnitude(layer, name)
        assert_within_sum_bound(y_sharded, y, x, magnitude, bias, where)
        y_mlx = np.array(theirs(mx.array(x_part)))
        assert_within_sum_bound(y_sharded, y_mlx, x, magnitude, bias, where + " vs MLX")
        checked += 1

# Float layers and shard_inplace with fractions.
weight = rng.uniform(-0.1, 0.1, (OUTPUT, 96)).astype(np.float32)
bias = rng.uniform(-1, 1, OUTPUT).astype(np.float32)
x = rng.standard_normal((ROWS, 96)).astype(np.float32)
linear, mlx_linear = layers_from(weight, bias)
for sharding in ("all-to-sharded", "sharded-to-all"):
    same_parameters(nn.shard_linear(linear, sharding, group=group),
                    mlx_shard_linear(mlx_linear, sharding, group=mx_group), sharding)
ours = nn.ShardedToAllLinear.from_linear(linear)
width = 96 // size
assert_within_sum_bound(ours(np.ascontiguousarray(x[:, rank * width:(rank + 1) * width])),
                        linear(x), x, np.abs(weight), bias, "ShardedToAllLinear")
nn.shard_inplace(linear, "all-to-sharded", segments=[1 / 3, 2 / 3], group=group)
mlx_shard_inplace(mlx_linear, "all-to-sharded", segments=[1 / 3, 2 / 3], group=mx_group)
same_parameters(linear, mlx_linear, "shard_inplace")
assert type(linear) is nn.Linear

# Whole groups or a clear error.
if size > 1:
    try:
        nn.QuantizedShardedToAllLinear(64 * (size + 1), 4, group=group)
    except ValueError as error:
        assert str(error) == (f"[QuantizedShardedToAllLinear] The input of size {64 * (size + 1)} "
                              f"({size + 1} groups of 64) cannot be sharded across {size} devices "
                              "in whole groups."), str(error)
    else:
        raise AssertionError("no ValueError")

print(f"rank {rank} of {size}: ok, {checked} quantized settings, same shards as MLX", flush=True)
