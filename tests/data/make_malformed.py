#!/usr/bin/env python3
"""Writes tests/data/malformed/: safetensors files that break the format, one way each.

Each file is named after what is wrong with it. expected.json maps every file name to a
substring of the reason load_safetensors must give when it rejects the file (the test
also checks that the message names the path). Run from anywhere; standard library only:

    python3 tests/data/make_malformed.py
"""

import json
import pathlib
import struct

OUT = pathlib.Path(__file__).resolve().parent / "malformed"


def u64(n):
    return struct.pack("<Q", n)


def padded(text):
    """Header bytes as a writer would produce them: padded with spaces to 8 bytes."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return raw + b" " * (-len(raw) % 8)


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


def with_header(header, data=b""):
    """A file from a header (dict, str or raw bytes) and data section."""
    raw = padded(dumps(header) if isinstance(header, dict) else header)
    return u64(len(raw)) + raw + data


def tensor(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


W = tensor()  # a valid F32 [2] tensor at [0, 8)
DATA8 = bytes(range(8))

CASES = {
    # The 8-byte length field and the header length.
    "too_short_empty": (b"", "shorter than the 8-byte header length"),
    "too_short_5_bytes": (b"\x02\x00\x00\x00\x00", "shorter than the 8-byte header length"),
    "header_length_zero": (u64(0) + b"{}      ", "header length is 0"),
    "header_length_over_limit": (u64(100_000_001) + padded("{}"), "exceeds the limit of 100000000"),
    "header_length_max_u64": (u64(2**64 - 1) + padded("{}"), "exceeds the limit"),
    "header_length_past_eof": (u64(1000) + padded("{}"), "runs past the end of the file"),
    "header_length_one_past_eof": (u64(9) + padded("{}"), "runs past the end of the file"),
    # Header bytes: UTF-8, JSON, an object.
    "header_invalid_utf8_byte": (with_header(b'{"w\xff":{}}'), "not valid UTF-8"),
    "header_utf8_overlong": (with_header(b'{"\xc0\xaf":{}}'), "not valid UTF-8"),
    "header_utf8_surrogate": (with_header(b'{"\xed\xa0\x80":{}}'), "not valid UTF-8"),
    "header_utf8_above_max": (with_header(b'{"\xf4\x90\x80\x80":{}}'), "not valid UTF-8"),
    "header_utf8_cut_sequence": (u64(8) + b'{"a":"\xe2\x82', "not valid UTF-8"),
    "header_not_json": (with_header('{"w": '), "not valid JSON"),
    "header_nul_padding": (u64(8) + b"{}\0\0\0\0\0\0", "NUL byte at byte 2"),
    "header_nul_hides_tensor": (
        with_header(b'{}\0{"w":' + dumps(W).encode() + b"}", DATA8),
        "not valid JSON: NUL byte",
    ),
    "header_only_spaces": (u64(8) + b" " * 8, "not valid JSON"),
    "header_trailing_garbage": (with_header("{}x"), "not valid JSON"),
    "header_json_array": (with_header("[1,2]"), "not a JSON object"),
    "header_json_string": (with_header('"mlx"'), "not a JSON object"),
    "header_json_number": (with_header("42"), "not a JSON object"),
    # Duplicate keys (a JSON library silently keeps one of them).
    "duplicate_tensor_name": (
        with_header('{"w":%s,"w":%s}' % (dumps(W), dumps(W)), DATA8),
        "duplicate tensor name 'w'",
    ),
    "duplicate_metadata": (
        with_header('{"__metadata__":{},"__metadata__":{}}'),
        "duplicate __metadata__",
    ),
    "duplicate_key_in_entry": (
        with_header('{"w":{"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]}}', DATA8),
        "duplicate key 'dtype' inside 'w'",
    ),
    "duplicate_metadata_key": (
        with_header('{"__metadata__":{"a":"x","a":"y"}}'),
        "duplicate key 'a' inside '__metadata__'",
    ),
    # __metadata__.
    "metadata_number_value": (
        with_header({"__metadata__": {"format": "mlx", "bits": 4}}),
        "metadata value of 'bits' is not a string",
    ),
    "metadata_null_value": (
        with_header({"__metadata__": {"format": None}}),
        "metadata value of 'format' is not a string",
    ),
    "metadata_object_value": (
        with_header({"__metadata__": {"quantization": {"bits": "4"}}}),
        "metadata value of 'quantization' is not a string",
    ),
    "metadata_not_object": (with_header({"__metadata__": "mlx"}), "__metadata__ is not an object"),
    "metadata_is_tensor": (
        with_header({"__metadata__": tensor()}, DATA8),
        "a tensor may not be named __metadata__",
    ),
    # Tensor entries.
    "entry_not_object": (with_header({"w": [0, 8]}, DATA8), "tensor 'w' is not an object"),
    "entry_missing_dtype": (
        with_header({"w": {"shape": [2], "data_offsets": [0, 8]}}, DATA8),
        "tensor 'w' lacks 'dtype'",
    ),
    "entry_missing_shape": (
        with_header({"w": {"dtype": "F32", "data_offsets": [0, 8]}}, DATA8),
        "tensor 'w' lacks 'shape'",
    ),
    "entry_missing_offsets": (
        with_header({"w": {"dtype": "F32", "shape": [2]}}, DATA8),
        "tensor 'w' lacks 'data_offsets'",
    ),
    "entry_extra_key": (
        with_header({"w": dict(W, strides=[1])}, DATA8),
        "tensor 'w' has an unknown key 'strides'",
    ),
    "dtype_unknown_F12": (with_header({"w": tensor("F12")}, DATA8), 'unknown dtype "F12"'),
    "dtype_lower_case": (with_header({"w": tensor("f32")}, DATA8), 'unknown dtype "f32"'),
    "dtype_not_string": (
        with_header({"w": dict(W, dtype=32)}, DATA8),
        "dtype of tensor 'w' is not a string",
    ),
    # Shapes.
    "shape_not_array": (
        with_header({"w": dict(W, shape=2)}, DATA8),
        "shape of tensor 'w' is not an array",
    ),
    "shape_negative_dim": (
        with_header({"w": tensor(shape=(-2,))}, DATA8),
        "dimension 0 of the shape of tensor 'w' is negative: -2",
    ),
    "shape_negative_dims_cancel": (
        with_header({"w": tensor(shape=(-1, -2))}, DATA8),
        "is negative: -1",
    ),
    "shape_float_dim": (
        with_header({"w": dict(W, shape=[2.5])}, DATA8),
        "dimension 0 of the shape of tensor 'w' is not an integer: 2.5",
    ),
    "shape_integral_float_dim": (with_header('{"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}', DATA8), "is not an integer: 2.0"),
    "shape_exponent_dim": (with_header('{"w":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}}', DATA8), "is not an integer"),
    "shape_string_dim": (with_header({"w": dict(W, shape=["2"])}, DATA8), 'is not an integer: "2"'),
    "shape_dim_over_int64": (
        with_header({"w": tensor(shape=(2**64 - 1,))}, DATA8),
        "is too large: 18446744073709551615",
    ),
    "shape_dim_over_uint64": (with_header({"w": tensor(shape=(2**64,))}, DATA8), "is not an integer"),
    "shape_deeply_nested": (
        with_header('{"w":{"dtype":"F32","shape":' + "[" * 100_000 + "]" * 100_000 + ',"data_offsets":[0,8]}}', DATA8),
        "is not an integer: an array of 1 element",
    ),
    "shape_count_overflow": (
        with_header({"w": tensor("U8", shape=(2**62, 4), offsets=(0, 0))}),
        "element count of tensor 'w' with shape (4611686018427387904, 4) overflows int64",
    ),
    "shape_bytes_overflow": (
        with_header({"w": tensor("F32", shape=(2**62,), offsets=(0, 0))}),
        "byte size of tensor 'w' (4611686018427387904 elements of F32) overflows int64",
    ),
    # Data offsets.
    "offsets_not_array": (
        with_header({"w": dict(W, data_offsets=8)}, DATA8),
        "data_offsets of tensor 'w' is not a pair of integers",
    ),
    "offsets_length_3": (
        with_header({"w": tensor(offsets=(0, 8, 8))}, DATA8),
        "is not a pair of integers but an array of 3 elements",
    ),
    "offsets_length_1": (
        with_header({"w": tensor(offsets=(8,))}, DATA8),
        "is not a pair of integers but an array of 1 element",
    ),
    "offsets_negative": (
        with_header({"w": tensor(offsets=(-8, 0))}, DATA8),
        "data_offsets[0] of tensor 'w' is negative: -8",
    ),
    "offsets_float": (
        with_header({"w": tensor(offsets=(0, 8.5))}, DATA8),
        "data_offsets[1] of tensor 'w' is not an integer: 8.5",
    ),
    "offsets_begin_after_end": (
        with_header({"w": tensor(shape=(0,), offsets=(8, 0))}, DATA8),
        "data_offsets of tensor 'w' begin after they end: [8, 0]",
    ),
    "offsets_size_mismatch": (
        with_header({"w": tensor(shape=(3,), offsets=(0, 8))}, DATA8),
        "hold 8 bytes, but its dtype and shape need 12",
    ),
    "offsets_gap": (
        with_header({"a": tensor(offsets=(0, 8)), "b": tensor(offsets=(12, 20))}, bytes(20)),
        "gap of 4 bytes in the data between 'a' [0, 8] and 'b' [12, 20]",
    ),
    "offsets_overlap": (
        with_header({"a": tensor(offsets=(0, 8)), "b": tensor(offsets=(4, 12))}, bytes(12)),
        "data of 'b' [4, 12] overlaps 'a' [0, 8]",
    ),
    "offsets_same_range": (
        with_header({"a": tensor(), "b": tensor()}, DATA8),
        "data of 'b' [0, 8] overlaps 'a' [0, 8]",
    ),
    "offsets_not_from_zero": (
        with_header({"w": tensor(offsets=(4, 12))}, bytes(12)),
        "tensor data does not start at offset 0: the first tensor is 'w' [4, 12]",
    ),
    # The data section against the end of the file.
    "data_truncated": (
        with_header({"w": tensor(shape=(4,), offsets=(0, 16))}, DATA8),
        "tensor data needs 16 bytes but the file holds only 8 after the header",
    ),
    "data_missing": (with_header({"w": W}), "needs 8 bytes but the file holds only 0"),
    "data_claims_terabyte": (
        with_header({"w": tensor("U8", shape=(2**40,), offsets=(0, 2**40))}, DATA8),
        "truncated file?",
    ),
    "data_trailing_bytes": (with_header({"w": W}, DATA8 + b"\0\0\0\0"), "4 trailing bytes"),
    "data_after_empty_header": (with_header({}, DATA8), "8 trailing bytes after the tensor data"),
}


def main():
    OUT.mkdir(exist_ok=True)
    for stale in OUT.glob("*.safetensors"):
        stale.unlink()
    expected = {}
    for name, (content, reason) in CASES.items():
        file_name = name + ".safetensors"
        (OUT / file_name).write_bytes(content)
        expected[file_name] = reason
    (OUT / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
    print(f"wrote {len(CASES)} files to {OUT}")


if __name__ == "__main__":
    main()
