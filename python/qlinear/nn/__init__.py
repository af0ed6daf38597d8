"""Layers shaped like mlx.nn, computing with qlinear's engine on numpy arrays.

Subclass Module as in mlx.nn: assigning a module, a list of modules or an array to an
attribute makes it part of the tree that parameters(), freeze(), load_weights() and
quantize() walk. Reading a list attribute gives a new list of the same modules.
"""

from qlinear._qlinear.nn import (
    Container,
    Embedding,
    Linear,
    Module,
    QuantizedEmbedding,
    QuantizedLinear,
    QuantizedSwitchLinear,
    SwitchGLU,
    SwitchLinear,
    SwitchMLP,
    load_model,
    quantize,
    seed,
)

__all__ = [
    "Container",
    "Embedding",
    "Linear",
    "Module",
    "QuantizedEmbedding",
    "QuantizedLinear",
    "QuantizedSwitchLinear",
    "SwitchGLU",
    "SwitchLinear",
    "SwitchMLP",
    "load_model",
    "quantize",
    "seed",
]

# Shown as qlinear.nn.Linear rather than the extension module they are defined in.
for _class in (Container, Embedding, Linear, Module, QuantizedEmbedding, QuantizedLinear,
               QuantizedSwitchLinear, SwitchGLU, SwitchLinear, SwitchMLP):
    _class.__module__ = __name__
del _class
