"""MLX-compatible quantized linear layers on a C++ engine, with numpy arrays.

The functions take and return numpy arrays and follow ``mlx.core``'s names,
defaults and errors (``ValueError("[quantize] ...")``). C-contiguous arrays are
used in place, not copied; results share memory with the engine's buffers.

bfloat16 (and the float8 formats) come out as ml_dtypes arrays when ml_dtypes is
installed. Without it, ``BFLOAT16_AS_UINT16`` is True and they come out as their
raw uint16 (uint8) bits with a tagged dtype, ``qlinear.bfloat16``; arrays of that
dtype go back in as bfloat16. Mark raw bits yourself with ``a.view(qlinear.bfloat16)``.
"""

from qlinear import distributed, lm, nn, utils
from qlinear._qlinear import (
    BFLOAT16_AS_UINT16,
    active_isa,
    bfloat16,
    convert,
    convert_gguf,
    dequantize,
    export_gguf,
    gather_qmm,
    fast,
    linear,
    load,
    load_gguf,
    matmul_precision,
    num_threads,
    quant_modes,
    quantize,
    quantized_matmul,
    save_safetensors,
    set_isa,
    set_matmul_precision,
    set_num_threads,
    silu,
    softmax,
    supported_isas,
    swiglu,
)

__all__ = [
    "BFLOAT16_AS_UINT16",
    "active_isa",
    "bfloat16",
    "convert",
    "convert_gguf",
    "distributed",
    "dequantize",
    "export_gguf",
    "gather_qmm",
    "fast",
    "linear",
    "lm",
    "load",
    "load_gguf",
    "matmul_precision",
    "nn",
    "num_threads",
    "quant_modes",
    "quantize",
    "quantized_matmul",
    "save_safetensors",
    "set_isa",
    "set_matmul_precision",
    "set_num_threads",
    "silu",
    "softmax",
    "supported_isas",
    "swiglu",
    "utils",
]
