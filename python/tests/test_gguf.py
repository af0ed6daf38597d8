"""qlinear.load of .gguf files written by gguf-py (llama.cpp's writer and quantizers),
checked live against mx.load of MLX 0.32.4: same names, shapes, dtypes, bytes, metadata."""

import numpy as np
import pytest

import qlinear

gguf = pytest.importorskip("gguf")
T = gguf.GGMLQuantizationType

MLX_MAPPED_TYPES = ("F32", "F16", "BF16", "Q4_0", "Q4_1", "Q8_0")
SHAPES = [(64,), (3, 64), (2, 3, 96), (2, 2, 2, 32)]


def write_gguf(path, tensors, metadata=()):
    """tensors: (name, float32 array, type name); metadata: (gguf-py add_* method, key, value)."""
    writer = gguf.GGUFWriter(str(path), "llama")
    for method, key, value in metadata:
        getattr(writer, method)(key, value)
    for name, values, kind in tensors:
        # uint8 values are blocks already (for types gguf-py cannot quantize)
        blocks = values if values.dtype == np.uint8 else gguf.quants.quantize(values, T[kind])
        writer.add_tensor(name, blocks, raw_dtype=T[kind])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def assert_same_as_mlx(mx, path):
    ours, our_metadata = qlinear.load(path, return_metadata=True)
    theirs, their_metadata = mx.load(str(path), return_metadata=True)
    assert sorted(ours) == sorted(theirs)
    for name, expected in theirs.items():
        expected = np.array(expected)
        got = ours[name]
        assert (got.dtype, got.shape) == (expected.dtype, expected.shape), name
        assert got.tobytes() == expected.tobytes(), name
    assert sorted(our_metadata) == sorted(their_metadata)
    for key, expected in their_metadata.items():
        got = our_metadata[key]
        if isinstance(expected, (str, list)):
            assert got == expected, key
        else:
            expected = np.array(expected)
            assert (got.dtype, got.shape) == (expected.dtype, expected.shape), key
            assert got.tobytes() == expected.tobytes(), key
    return ours


@pytest.mark.parametrize("kind", MLX_MAPPED_TYPES)
def test_each_type_loads_as_mlx_loads_it(mx, tmp_path, rng, kind):
    tensors = []
    for i, shape in enumerate(SHAPES):
        values = (rng.standard_normal(shape) * 10.0 ** (i - 2)).astype(np.float32)
        tensors.append((f"blk.{i}.ffn_up.weight", values, kind))
    ours = assert_same_as_mlx(mx, write_gguf(tmp_path / f"{kind}.gguf", tensors))
    if kind in ("Q4_0", "Q4_1", "Q8_0"):
        assert ours["blk.1.ffn_up.weight"].dtype == np.uint32
        assert ours["blk.1.ffn_up.scales"].shape == (3, 2)


def test_quantized_values_are_gguf_pys_dequantization(tmp_path, rng):
    """The affine triple MLX maps Q4_0/Q4_1/Q8_0 onto loses nothing: scale * q + bias in
    float32 is gguf-py's dequantization bit for bit."""
    values = rng.standard_normal((4, 64)).astype(np.float32)
    for kind, bits in (("Q4_0", 4), ("Q4_1", 4), ("Q8_0", 8)):
        path = write_gguf(tmp_path / f"{kind}.gguf", [("w.weight", values, kind)])
        arrays = qlinear.load(path)
        packed = arrays["w.weight"].view(np.uint8)
        if bits == 4:  # value i in nibble i % 2 of byte i / 2
            codes = np.stack([packed & 0xF, packed >> 4], axis=-1).reshape(4, 64)
        else:
            codes = packed
        scales = np.repeat(arrays["w.scales"].astype(np.float32), 32, axis=-1)
        biases = np.repeat(arrays["w.biases"].astype(np.float32), 32, axis=-1)
        ours = scales * codes.astype(np.float32) + biases
        reference = gguf.quants.dequantize(gguf.quants.quantize(values, T[kind]), T[kind])
        np.testing.assert_array_equal(ours, reference.astype(np.float32), err_msg=kind)


def test_names_and_metadata_as_mlx_gives_them(mx, tmp_path, rng):
    values = rng.standard_normal((2, 32)).astype(np.float32)
    metadata = [
        ("add_bool", "b", True), ("add_array", "bools", [True, False]),
        ("add_int8", "i8", -3), ("add_uint8", "u8", 200), ("add_int16", "i16", -7),
        ("add_uint16", "u16", 7), ("add_int32", "i32", -9), ("add_uint32", "u32", 9),
        ("add_int64", "i64", -5), ("add_uint64", "u64", 2**40), ("add_float32", "f32", 0.1),
        ("add_array", "ints", [1, 2, 3]), ("add_array", "floats", [1.5, 2.5]),
        ("add_array", "strings", ["<s>", "héllo", ""]), ("add_string", "s", "héllo"),
    ]
    tensors = [("token_embd.weight", values, "F32"), ("abcdefgh", values, "Q8_0"),
               ("short", values, "Q4_0"), ("output.weight", values, "Q4_1")]
    ours = assert_same_as_mlx(mx, write_gguf(tmp_path / "m.gguf", tensors, metadata))
    # MLX cuts 7 characters off a quantized tensor's name, ".weight" or not.
    assert {"a.scales", "short.scales", "output.scales"} <= ours.keys()


def test_float64_metadata_becomes_float32_as_in_mlx(mx, tmp_path):
    # MLX 0.32.4 steps over 4 of a float64's 8 bytes and misreads (or crashes on) whatever
    # follows, so the comparison uses a file where it is the last thing.
    path = write_gguf(tmp_path / "f64.gguf", [], [("add_float64", "f64", 0.1)])
    assert_same_as_mlx(mx, path)
    metadata = qlinear.load(path, return_metadata=True)[1]
    assert metadata["f64"].dtype == np.float32 and metadata["f64"] == np.float32(0.1)


def test_f32_tensors_are_read_only_views(tmp_path, rng):
    values = rng.standard_normal((2, 32)).astype(np.float32)
    path = write_gguf(tmp_path / "v.gguf", [("w", values, "F32")])
    w = qlinear.load(path)["w"]
    assert not w.flags.writeable and not w.flags.owndata
    np.testing.assert_array_equal(w, values)


def test_types_mlx_does_not_map_are_refused(mx, tmp_path, rng):
    values = rng.standard_normal((2, 256)).astype(np.float32)
    q5 = write_gguf(tmp_path / "q5.gguf", [("w", values, "Q5_0")])
    q4k_blocks = rng.integers(0, 256, (2, 144), dtype=np.uint8)  # one 256-value block a row
    with pytest.raises(RuntimeError, match=r"\[load_gguf\] .*q5\.gguf: tensor 'w' has type Q5_0, which MLX 0.32.4 cannot load either"):
        qlinear.load(q5)
    with pytest.raises(RuntimeError, match=r"\[load_gguf\]"):
        mx.load(str(q5))
    q4k = write_gguf(tmp_path / "q4k.gguf", [("w", q4k_blocks, "Q4_K")])
    with pytest.raises(RuntimeError, match="type Q4_K, which MLX dequantizes to float16; qlinear does not load it yet"):
        qlinear.load(q4k)


def test_bfloat16_edge_values_become_float16_as_in_mlx(mx, tmp_path):
    # NaNs with payloads and either sign, infinities, overflow to inf, bf16 subnormals that
    # flush to 0, rounding into float16's subnormals, -0.
    bits = np.array([0x7FC1, 0xFFC0, 0x7F80, 0xFF80, 0x0001, 0x477F, 0x4780, 0x3380, 0x8000,
                     0x7F81] * 4, dtype=np.uint16).reshape(1, 40)
    path = write_gguf(tmp_path / "bf16.gguf", [("x", bits.view(np.uint8), "BF16")])
    assert_same_as_mlx(mx, path)
    np.testing.assert_array_equal(qlinear.load(path)["x"].view(np.uint16)[0, :4],
                                  [0x7E00, 0xFE00, 0x7C00, 0xFC00])
