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
