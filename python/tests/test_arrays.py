"""How numpy arrays cross into the engine and back: dtypes, copies, bfloat16."""

import subprocess
import sys
import textwrap

import ml_dtypes
import numpy as np
import pytest

import qlinear


def test_results_have_mlx_dtypes_and_shapes(rng):
    w = rng.standard_normal((3, 5, 128)).astype(np.float16)
    wq, scales, biases = qlinear.quantize(w, group_size=32, bits=3)
    assert (wq.dtype, wq.shape) == (np.uint32, (3, 5, 12))
    assert (scales.dtype, scales.shape) == (np.float16, (3, 5, 4))
    assert (biases.dtype, biases.shape) == (np.float16, (3, 5, 4))
    assert qlinear.dequantize(wq, scales, biases, group_size=32, bits=3).dtype == np.float16


def test_results_are_writable_arrays_owning_their_memory(rng):
    wq, _, _ = qlinear.quantize(rng.standard_normal((4, 64)).astype(np.float32))
    assert wq.flags.writeable and wq.flags.c_contiguous
    assert wq.base is not None  # the capsule that keeps the engine's buffer alive
    wq[0, 0] = 7
    assert wq[0, 0] == 7


def test_bfloat16_goes_in_and_comes_out_as_ml_dtypes(rng):
    w = rng.standard_normal((2, 64)).astype(ml_dtypes.bfloat16)
    wq, scales, biases = qlinear.quantize(w)
    assert scales.dtype == ml_dtypes.bfloat16 and qlinear.bfloat16 == ml_dtypes.bfloat16
    assert not qlinear.BFLOAT16_AS_UINT16
    w_hat = qlinear.dequantize(wq, scales, biases)
    assert w_hat.dtype == ml_dtypes.bfloat16
    # The scale and bias are rounded to bfloat16, the codes are not: one step plus rounding.
    step = np.abs(scales.astype(np.float32)).repeat(64, axis=-1)
    assert np.all(np.abs(w_hat.astype(np.float32) - w.astype(np.float32)) <= step)


def test_float64_is_taken_as_float32_like_mx_array(rng):
    w = rng.standard_normal((2, 64))
    expected = qlinear.quantize(w.astype(np.float32))
    got = qlinear.quantize(w)
    assert got[1].dtype == np.float32
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def test_strided_and_list_inputs_give_the_same_result_as_contiguous_ones(rng):
    big = rng.standard_normal((4, 256)).astype(np.float32)
    strided = big[:, ::2]
    assert not strided.flags.c_contiguous
    for a, b in zip(qlinear.quantize(strided), qlinear.quantize(np.ascontiguousarray(strided))):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(qlinear.quantize(big[:, :64].tolist()), qlinear.quantize(big[:, :64])):
        np.testing.assert_array_equal(a, b)


def test_misaligned_input_is_copied_not_rejected(rng):
    w = rng.standard_normal((2, 64)).astype(np.float32)
    raw = np.zeros(w.nbytes + 1, np.uint8)
    misaligned = raw[1:].view(np.float32).reshape(w.shape)
    misaligned[...] = w
    assert not misaligned.flags.aligned
    for a, b in zip(qlinear.quantize(misaligned), qlinear.quantize(w)):
        np.testing.assert_array_equal(a, b)


def test_unsupported_inputs_raise_type_errors():
    with pytest.raises(TypeError):
        qlinear.quantize("weights")
    with pytest.raises(TypeError):
        qlinear.quantize(np.zeros((2, 64), np.complex64))


def test_dequantize_dtype_accepts_numpy_names_and_types(rng):
    q = qlinear.quantize(rng.standard_normal((2, 64)).astype(np.float32))
    assert qlinear.dequantize(*q, dtype=np.float16).dtype == np.float16
    assert qlinear.dequantize(*q, dtype="bfloat16").dtype == ml_dtypes.bfloat16
    assert qlinear.dequantize(*q, dtype=qlinear.bfloat16).dtype == ml_dtypes.bfloat16
    with pytest.raises(ValueError, match=r"^\[dequantize\] Unsupported dtype complex64\.$"):
        qlinear.dequantize(*q, dtype=np.complex64)


def test_without_ml_dtypes_bfloat16_travels_as_tagged_uint16(rng, tmp_path):
    """A fresh interpreter where ml_dtypes cannot be imported: raw bits, tagged dtype."""
    w = rng.standard_normal((2, 64)).astype(ml_dtypes.bfloat16)
    np.save(tmp_path / "bits.npy", w.view(np.uint16))
    script = textwrap.dedent(
        """
        import sys
        sys.modules["ml_dtypes"] = None  # makes `import ml_dtypes` fail
        import numpy as np, qlinear
        assert qlinear.BFLOAT16_AS_UINT16
        bits = np.load("bits.npy")
        wq, scales, biases = qlinear.quantize(bits.view(qlinear.bfloat16))
        w_hat = qlinear.dequantize(wq, scales, biases)
        assert w_hat.dtype == np.uint16 and w_hat.dtype.metadata == {"qlinear": "bfloat16"}
        np.save("scales.npy", scales)
        np.save("w_hat.npy", w_hat)
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True)
    wq, scales, biases = qlinear.quantize(w)
    np.testing.assert_array_equal(np.load(tmp_path / "scales.npy"), scales.view(np.uint16))
    w_hat = qlinear.dequantize(wq, scales, biases)
    np.testing.assert_array_equal(np.load(tmp_path / "w_hat.npy"), w_hat.view(np.uint16))
