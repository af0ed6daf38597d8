"""qlinear.load of .gguf files written by gguf-py (llama.cpp's writer and quantizers),
checked live against mx.load of MLX 0.32.4: same names, shapes, dtypes, bytes, metadata."""

import numpy as np
import pytest

import qlinear

gguf = pytest.importorskip("gguf")
from gguf_files import K_SCALE_OFFSETS, T, k_blocks, write_gguf  # noqa: E402

MLX_MAPPED_TYPES = ("F32", "F16", "BF16", "Q4_0", "Q4_1", "Q8_0")
SHAPES = [(64,), (3, 64), (2, 3, 96), (2, 2, 2, 32)]


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
    with pytest.raises(RuntimeError, match=r"\[load_gguf\] .*q5\.gguf: tensor 'w' has type Q5_0, which MLX 0.32.4 cannot load either"):
        qlinear.load(q5)
    with pytest.raises(RuntimeError, match=r"\[load_gguf\]"):
        mx.load(str(q5))
    q3k = write_gguf(tmp_path / "q3k.gguf", [("w", k_blocks(rng, "Q3_K", 2, 256), "Q3_K")])
    with pytest.raises(RuntimeError, match="type Q3_K, which MLX 0.32.4 cannot load either"):
        qlinear.load(q3k)
    with pytest.raises(RuntimeError, match=r"\[load_gguf\]"):
        mx.load(str(q3k))
    iq4 = rng.integers(0, 256, (2, 18), dtype=np.uint8)  # one 32-value block a row
    iq4 = write_gguf(tmp_path / "iq4.gguf", [("w", iq4, "IQ4_NL")])
    with pytest.raises(RuntimeError, match="type IQ4_NL, which qlinear cannot load yet"):
        qlinear.load(iq4, exact=True)


EXACT_AFFINE = {"Q4_0": 4, "Q4_1": 4, "Q5_0": 5, "Q5_1": 5, "Q8_0": 8, "Q4_K": 4, "Q5_K": 5}
EXACT_DEQUANTIZED = ("Q2_K", "Q3_K", "Q6_K")


def blocks_of(rng, kind, shape):
    if kind in K_SCALE_OFFSETS:
        rows = int(np.prod(shape[:-1]))
        return k_blocks(rng, kind, rows, shape[-1]).reshape(*shape[:-1], -1)
    return gguf.quants.quantize(rng.standard_normal(shape).astype(np.float32), T[kind])


def affine_values(arrays, name, bits):
    """scale * code + bias in float32, codes unpacked from MLX's little-endian bit stream."""
    prefix = name[:-7]
    scales = arrays[prefix + ".scales"].astype(np.float32)
    bitstream = np.unpackbits(arrays[name].view(np.uint8), axis=-1, bitorder="little")
    codes = bitstream.reshape(*bitstream.shape[:-1], -1, bits)
    codes = (codes.astype(np.uint32) << np.arange(bits, dtype=np.uint32)).sum(-1)
    groups = np.repeat(np.arange(scales.shape[-1]), 32)
    biases = arrays[prefix + ".biases"].astype(np.float32)
    return scales[..., groups] * codes.astype(np.float32) + biases[..., groups]


@pytest.mark.parametrize("kind", ("Q2_K", "Q4_K", "Q6_K"))
def test_k_quants_become_float16_as_mlx_makes_them(mx, tmp_path, rng, kind):
    tensors = [(f"blk.{i}.ffn_down.weight", blocks_of(rng, kind, shape), kind)
               for i, shape in enumerate([(256,), (3, 256), (2, 2, 512)])]
    path = write_gguf(tmp_path / f"{kind}.gguf", tensors)
    assert_same_as_mlx(mx, path)
    report = qlinear.load_gguf(path)[2]
    assert [(r["type"], r["method"], r["dtype"]) for r in report] == \
        [(kind, "float16", np.float16)] * 3


def test_mlx_gives_q4_k_odd_sub_blocks_the_scale_before_them(mx, tmp_path, rng):
    """gguflib (MLX 0.32.4) dequantizes sub-block 2c+1 of a Q4_K block with the scale and
    min of sub-block 2c; qlinear.load does the same, exact=True gives ggml's values."""
    blocks = k_blocks(rng, "Q4_K", 2, 512)
    path = write_gguf(tmp_path / "q4k.gguf", [("w.weight", blocks, "Q4_K")])
    reference = gguf.quants.dequantize(blocks, T.Q4_K).astype(np.float32)
    arrays, _, report = qlinear.load_gguf(path)
    mlx_like = arrays["w.weight"].reshape(2, 16, 32)
    np.testing.assert_array_equal(mlx_like, np.array(mx.load(str(path))["w.weight"]).reshape(2, 16, 32))
    np.testing.assert_array_equal(mlx_like[:, 0::2], reference.reshape(2, 16, 32)[:, 0::2].astype(np.float16))
    assert (mlx_like[:, 1::2] != reference.reshape(2, 16, 32)[:, 1::2].astype(np.float16)).any()
    assert report[0]["exact"] is False
    arrays, _, report = qlinear.load_gguf(path, exact=True)
    np.testing.assert_array_equal(affine_values(arrays, "w.weight", 4), reference)
    assert report[0]["exact"] is True


@pytest.mark.parametrize("kind", list(EXACT_AFFINE) + list(EXACT_DEQUANTIZED))
def test_exact_import_is_gguf_pys_dequantization(mx, tmp_path, rng, kind):
    shapes = [(2, 256), (2, 2, 512)]
    tensors = [(f"blk.{i}.attn_q.weight", blocks_of(rng, kind, shape), kind)
               for i, shape in enumerate(shapes)]
    arrays, _, report = qlinear.load_gguf(write_gguf(tmp_path / "e.gguf", tensors), exact=True)
    for (name, blocks, _), row in zip(tensors, report):
        reference = gguf.quants.dequantize(blocks, T[kind]).astype(np.float32)
        assert (row["name"], row["type"], row["exact"]) == (name, kind, True)
        if kind in EXACT_DEQUANTIZED:
            assert (row["method"], row["dtype"], row["bits"]) == ("dequantized", np.float32, 0)
            assert arrays[name].dtype == np.float32
            np.testing.assert_array_equal(arrays[name], reference)
            continue
        bits = EXACT_AFFINE[kind]
        # ggml's own block scales are float16s; d * sc of the K-quants is not
        scales_dtype = np.float32 if kind.endswith("_K") else np.float16
        assert (row["method"], row["dtype"], row["bits"]) == ("affine", scales_dtype, bits)
        assert arrays[name[:-7] + ".scales"].dtype == scales_dtype
        assert arrays[name].shape == reference.shape[:-1] + (reference.shape[-1] * bits // 32,)
        np.testing.assert_array_equal(affine_values(arrays, name, bits), reference)
        # MLX reads the same codes (its 5-bit packing too): float32 scales make its
        # dequantize exact.
        live = mx.dequantize(mx.array(arrays[name]),
                             mx.array(arrays[name[:-7] + ".scales"].astype(np.float32)),
                             mx.array(arrays[name[:-7] + ".biases"].astype(np.float32)),
                             group_size=32, bits=bits)
        np.testing.assert_array_equal(np.array(live), reference)


def test_exact_scales_become_float32_where_float16_cannot_hold_them(tmp_path, rng):
    """A Q8_0 block with d > 511.75: MLX's bias -128 d overflows float16 (reported as not
    exact); exact=True keeps it in float32 scales and biases."""
    values = (rng.standard_normal((2, 64)) * 1e5).astype(np.float32)
    path = write_gguf(tmp_path / "big.gguf", [("w.weight", values, "Q8_0")])
    reference = gguf.quants.dequantize(gguf.quants.quantize(values, T.Q8_0), T.Q8_0)
    arrays, _, report = qlinear.load_gguf(path)
    assert np.isinf(arrays["w.biases"]).all() and report[0]["exact"] is False
    arrays, _, report = qlinear.load_gguf(path, exact=True)
    assert (report[0]["dtype"], report[0]["exact"]) == (np.float32, True)
    np.testing.assert_array_equal(affine_values(arrays, "w.weight", 8), reference)


def test_exact_keeps_bf16_i64_f64_as_stored(tmp_path, rng):
    bf16 = rng.integers(0, 2**16, (2, 32), dtype=np.uint16)
    i64 = rng.integers(-2**62, 2**62, (2, 32), dtype=np.int64)
    f64 = rng.standard_normal((2, 32))
    tensors = [("b", bf16.view(np.uint8), "BF16"), ("i", i64.view(np.uint8), "I64"),
               ("f", f64.view(np.uint8), "F64")]
    arrays, _, report = qlinear.load_gguf(write_gguf(tmp_path / "s.gguf", tensors), exact=True)
    assert [(r["method"], r["exact"]) for r in report] == [("stored", True)] * 3
    assert arrays["b"].view(np.uint16).tobytes() == bf16.tobytes()
    assert arrays["i"].dtype == np.int64 and np.array_equal(arrays["i"], i64)
    assert arrays["f"].dtype == np.float64 and np.array_equal(arrays["f"], f64)
    with pytest.raises(RuntimeError, match="type I64, which MLX 0.32.4 cannot load either"):
        qlinear.load(tmp_path / "s.gguf")


def test_bfloat16_edge_values_become_float16_as_in_mlx(mx, tmp_path):
    # NaNs with payloads and either sign, infinities, overflow to inf, bf16 subnormals that
    # flush to 0, rounding into float16's subnormals, -0.
    bits = np.array([0x7FC1, 0xFFC0, 0x7F80, 0xFF80, 0x0001, 0x477F, 0x4780, 0x3380, 0x8000,
                     0x7F81] * 4, dtype=np.uint16).reshape(1, 40)
    path = write_gguf(tmp_path / "bf16.gguf", [("x", bits.view(np.uint8), "BF16")])
    assert_same_as_mlx(mx, path)
    np.testing.assert_array_equal(qlinear.load(path)["x"].view(np.uint16)[0, :4],
                                  [0x7E00, 0xFE00, 0x7C00, 0xFC00])
