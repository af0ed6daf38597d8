"""Layers shaped like mlx.nn, computing with qlinear's engine on numpy arrays.

Subclass Module as in mlx.nn: assigning a module, a list of modules or an array to an
attribute makes it part of the tree that parameters(), freeze(), load_weights() and
quantize() walk. Reading a list attribute gives a new list of the same modules.
"""

from qlinear._qlinear.nn import (
    AllToShardedLinear,
    Container,
    Embedding,
    Linear,
    Module,
    QuantizedAllToShardedLinear,
    QuantizedEmbedding,
    QuantizedLinear,
    QuantizedShardedToAllLinear,
    QuantizedSwitchLinear,
    ShardedToAllLinear,
    SwitchGLU,
    SwitchLinear,
    SwitchMLP,
    load_model,
    quantize,
    seed,
    shard_inplace,
    shard_linear,
)

__all__ = [
    "AllToShardedLinear",
    "Container",
    "Embedding",
    "Linear",
    "Module",
    "QuantizedAllToShardedLinear",
    "QuantizedEmbedding",
    "QuantizedLinear",
    "QuantizedShardedToAllLinear",
    "QuantizedSwitchLinear",
    "ShardedToAllLinear",
    "SwitchGLU",
    "SwitchLinear",
    "SwitchMLP",
    "load_model",
    "quantize",
    "seed",
    "shard_inplace",
    "shard_linear",
]

# Shown as qlinear.nn.Linear rather than the extension module they are defined in.
for _class in (AllToShardedLinear, Container, Embedding, Linear, Module,
               QuantizedAllToShardedLinear, QuantizedEmbedding, QuantizedLinear,
               QuantizedShardedToAllLinear, QuantizedSwitchLinear, ShardedToAllLinear,
               SwitchGLU, SwitchLinear, SwitchMLP):
    _class.__module__ = __name__
del _class
