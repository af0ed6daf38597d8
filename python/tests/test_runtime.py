"""Thread count and instruction set: settable, and the results do not depend on them."""

import numpy as np
import pytest

import qlinear


@pytest.fixture
def restore_runtime():
    isa = qlinear.active_isa()
    yield
    qlinear.set_num_threads(0)
    qlinear.set_isa(isa)
    qlinear.set_matmul_precision("exact")


def test_thread_count_is_settable_and_resettable(restore_runtime):
    default = qlinear.num_threads()
    qlinear.set_num_threads(3)
    assert qlinear.num_threads() == 3
    qlinear.set_num_threads(0)
    assert qlinear.num_threads() == default


def test_results_do_not_depend_on_the_thread_count(restore_runtime, rng):
    w = rng.standard_normal((96, 512)).astype(np.float16)
    x = rng.standard_normal((33, 512)).astype(np.float16)
    outputs = []
    for threads in (1, 2, 5):
        qlinear.set_num_threads(threads)
        packed = qlinear.quantize(w, bits=5)
        outputs.append((*packed, qlinear.quantized_matmul(x, *packed, bits=5)))
    for other in outputs[1:]:
        for a, b in zip(outputs[0], other):
            np.testing.assert_array_equal(a, b)


def test_every_instruction_set_quantizes_to_the_same_bytes(restore_runtime, rng):
    w = rng.standard_normal((40, 256)).astype(np.float32)
    assert qlinear.supported_isas()[0] == "scalar"
    results = {}
    for isa in qlinear.supported_isas():
        qlinear.set_isa(isa)
        assert qlinear.active_isa() == isa
        packed = qlinear.quantize(w, group_size=32, bits=3)
        results[isa] = (*packed, qlinear.dequantize(*packed, group_size=32, bits=3))
    for isa, arrays in results.items():
        for a, b in zip(arrays, results["scalar"]):
            np.testing.assert_array_equal(a, b, err_msg=isa)


def test_an_unknown_instruction_set_is_a_value_error(restore_runtime):
    with pytest.raises(ValueError, match=r"^\[qlinear\] instruction set 'sparc' is not supported on this CPU"):
        qlinear.set_isa("sparc")


def test_matmul_precision_defaults_to_exact_and_is_settable(restore_runtime):
    assert qlinear.matmul_precision() == "exact"
    for name in ("bfloat16", "int8", "exact"):
        qlinear.set_matmul_precision(name)
        assert qlinear.matmul_precision() == name
    with pytest.raises(ValueError, match="unknown matmul precision 'fp8'"):
        qlinear.set_matmul_precision("fp8")
    assert qlinear.matmul_precision() == "exact"


def test_int8_precision_stays_close_to_exact(restore_runtime, rng):
    # Where the CPU has no int8 path the results are identical; where it has, within the
    # documented error of int8 activations (docs/kernels.md).
    w = rng.standard_normal((64, 512)).astype(np.float32)
    x = rng.standard_normal((20, 512)).astype(np.float32)
    packed = qlinear.quantize(w)
    exact = qlinear.quantized_matmul(x, *packed)
    qlinear.set_matmul_precision("int8")
    rounded = qlinear.quantized_matmul(x, *packed)
    assert np.max(np.abs(rounded - exact)) <= 0.02 * np.max(np.abs(exact))


@pytest.mark.parametrize("mode", ["mxfp4", "nvfp4"])
def test_int8_precision_on_fp4_weights_stays_close_to_exact(restore_runtime, rng, mode):
    # mxfp4 / nvfp4 take the int8 kernel from 3 rows where the CPU has it (nvfp4 up to 64).
    w = rng.standard_normal((64, 512)).astype(np.float32)
    x = rng.standard_normal((20, 512)).astype(np.float32)
    packed = qlinear.quantize(w, mode=mode)
    exact = qlinear.quantized_matmul(x, *packed, mode=mode)
    qlinear.set_matmul_precision("int8")
    rounded = qlinear.quantized_matmul(x, *packed, mode=mode)
    assert np.max(np.abs(rounded - exact)) <= 0.02 * np.max(np.abs(exact))
