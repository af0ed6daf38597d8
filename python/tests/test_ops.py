"""The ops' Python surface: MLX's defaults, ValueErrors with the engine's "[op] ..." text,
and the GIL released while they compute."""

import re
import threading

import numpy as np
import pytest

import qlinear
from helpers import ran_during_the_call


@pytest.fixture
def packed(rng):
    w = rng.standard_normal((8, 64)).astype(np.float32)
    return qlinear.quantize(w)


def test_defaults_are_group_size_64_and_4_bits(rng):
    w = rng.standard_normal((4, 128)).astype(np.float32)
    wq, scales, biases = qlinear.quantize(w)
    assert wq.shape == (4, 16) and scales.shape == biases.shape == (4, 2)
    for a, b in zip(qlinear.quantize(w, group_size=64, bits=4, mode="affine"), (wq, scales, biases)):
        np.testing.assert_array_equal(a, b)


BAD_CALLS = [
    (
        lambda p: qlinear.quantize(np.zeros((2, 64), np.float32), bits=7),
        "[quantize] The requested number of bits 7 is not supported. The supported bits are 1, 2, 3, 4, 5, 6 and 8.",
    ),
    (
        lambda p: qlinear.quantize(np.zeros((2, 96), np.float32), group_size=48),
        "[quantize] The requested group size 48 is not supported. The supported group sizes are 32, 64 and 128.",
    ),
    (
        lambda p: qlinear.quantize(np.zeros((64,), np.float32)),
        "[quantize] The matrix to be quantized must have at least 2 dimensions but it has shape (64,).",
    ),
    (
        lambda p: qlinear.quantize(np.zeros((2, 64), np.int32)),
        "[quantize] Only real floating types can be quantized but w has type int32.",
    ),
    (
        lambda p: qlinear.quantize(np.zeros((2, 64), np.float32), mode="int4"),
        "[quantize] Unknown quantization mode 'int4'; expected affine, mxfp4, mxfp8 or nvfp4.",
    ),
    (
        lambda p: qlinear.dequantize(p[0], p[1]),
        "[dequantize] Biases must be provided for affine quantization.",
    ),
    (
        lambda p: qlinear.dequantize(p[0].view(np.float32), p[1], p[2]),
        "[dequantize] The weight matrix should be uint32 but received float32.",
    ),
    (
        lambda p: qlinear.quantized_matmul(np.zeros((2, 63), np.float32), *p),
        "[quantized_matmul] Last dimension of x with shape (2, 63) must be 64 to match the quantized "
        "matrix with shape (8, 8) (transpose=true, bits=4).",
    ),
]


@pytest.mark.parametrize("call,message", BAD_CALLS)
def test_bad_arguments_raise_value_error_with_the_engine_message(packed, call, message):
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        call(packed)


@pytest.mark.parametrize("op", ["quantize", "dequantize", "quantized_matmul"])
def test_compute_releases_the_gil(rng, op):
    w = rng.standard_normal((512, 1024)).astype(np.float32)
    packed = qlinear.quantize(w)
    x = rng.standard_normal((64, 1024)).astype(np.float32)
    calls = {
        "quantize": lambda: qlinear.quantize(w),
        "dequantize": lambda: qlinear.dequantize(*packed),
        "quantized_matmul": lambda: qlinear.quantized_matmul(x, *packed),
    }
    assert ran_during_the_call(calls[op])


def test_threads_running_at_once_get_the_serial_results(rng):
    packed = qlinear.quantize(rng.standard_normal((64, 256)).astype(np.float16))
    inputs = [rng.standard_normal((9, 256)).astype(np.float16) for _ in range(8)]
    expected = [qlinear.quantized_matmul(x, *packed) for x in inputs]
    results = [None] * len(inputs)

    def run(i):
        results[i] = qlinear.quantized_matmul(inputs[i], *packed)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)


def test_the_catalogue_of_modes_is_the_one_the_ops_enforce():
    """quant_modes() lists what quantize accepts: each mode at its defaults and every
    allowed setting works; one past the widths is refused."""
    w = np.ones((2, 256), np.float32)
    for mode in qlinear.quant_modes():
        assert mode["default_bits"] in mode["bits"] and mode["default_group_size"] in mode["group_sizes"]
        assert len(qlinear.quantize(w, mode=mode["name"])) == (3 if mode["has_biases"] else 2)
        for bits in mode["bits"]:
            for group_size in mode["group_sizes"]:
                qlinear.quantize(w, group_size=group_size, bits=bits, mode=mode["name"])
        with pytest.raises(ValueError, match=r"^\[quantize\]"):
            qlinear.quantize(w, bits=max(mode["bits"]) + 1, mode=mode["name"])
