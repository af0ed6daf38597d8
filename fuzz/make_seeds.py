#!/usr/bin/env python3
"""Writes fuzz/corpus/: small valid inputs from which libFuzzer starts, one folder per
target (safetensors files, config.json texts, model.safetensors.index.json texts, GGUF
files; tests/data/gguf/tiny.gguf and exact.gguf, gguf-py's output, are further GGUF
seeds).
Standard library only; run from anywhere:

    python3 fuzz/make_seeds.py
"""

import json
import pathlib
import struct

OUT = pathlib.Path(__file__).resolve().parent / "corpus"


def safetensors(tensors, metadata=None):
    """A file as a writer lays it out: header padded to 8 bytes, then the data."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, payload) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


SAFETENSORS = {
    "empty": safetensors({}),
    "metadata_only": safetensors({}, {"format": "mlx"}),
    "one_f32": safetensors({"w": ("F32", [2], struct.pack("<2f", 1.5, -2.0))}, {"format": "pt"}),
    "mixed_dtypes": safetensors({
        "model.layers.0.mlp.down_proj.weight": ("U32", [2, 2], bytes(range(16))),
        "model.layers.0.mlp.down_proj.scales": ("BF16", [2, 1], b"\x80\x3f\x00\x40"),
        "model.layers.0.mlp.down_proj.biases": ("F16", [2, 1], b"\x00\x3c\x00\xbc"),
        "codes": ("U8", [3], b"\x01\x02\x03"),
        "signed": ("I8", [1, 1, 1], b"\xff"),
        "empty": ("F32", [0, 4], b""),
        "scalar": ("F64", [], struct.pack("<d", 0.25)),
        "flags": ("BOOL", [2], b"\x00\x01"),
        "wide": ("I64", [1], struct.pack("<q", -7)),
    }),
}

CONFIGS = {
    "no_quantization": {"model_type": "llama", "hidden_size": 64, "vocab_size": 32},
    "affine_defaults": {"model_type": "llama", "quantization": {"group_size": 64, "bits": 4}},
    "affine_overrides": {
        "quantization": {
            "group_size": 32, "bits": 4, "mode": "affine",
            "model.layers.0.self_attn.q_proj": {"group_size": 64, "bits": 8},
            "model.embed_tokens": True,
            "lm_head": False,
        },
    },
    "mxfp4": {"quantization": {"group_size": 32, "bits": 4, "mode": "mxfp4"}},
    "nvfp4_null_settings": {"quantization": {"group_size": None, "bits": None, "mode": "nvfp4"}},
    "copy_only": {"quantization_config": {"group_size": 64, "bits": 2}},
    "hugging_face_config": {"quantization_config": {"quant_method": "awq", "bits": 4}},
}

# The shards the index target writes (fuzz/tiny_model.h, 16 KiB shards).
SHARDS = {
    "lm_head.weight": 1,
    "model.embed_tokens.weight": 1,
    "model.layers.0.mlp.down_proj.biases": 2,
    "model.layers.0.mlp.down_proj.scales": 2,
    "model.layers.0.mlp.down_proj.weight": 2,
    "model.layers.0.self_attn.q_proj.bias": 2,
    "model.layers.0.self_attn.q_proj.weight": 3,
    "model.norm.weight": 4,
}


def index(weight_map):
    return {"metadata": {"total_size": 37888, "total_parameters": 0}, "weight_map": weight_map}


INDEXES = {
    "tiny_model": index({name: f"model-{k:05d}-of-00004.safetensors" for name, k in SHARDS.items()}),
    "two_shards_only": index({"lm_head.weight": "model-00001-of-00004.safetensors",
                              "model.norm.weight": "model-00004-of-00004.safetensors"}),
    "missing_shard": index({"lm_head.weight": "model-00009-of-00009.safetensors"}),
}


def gguf_string(text):
    return struct.pack("<Q", len(text)) + text.encode()


def gguf(metadata, tensors, version=3, alignment=32):
    """metadata: (key, value type id, packed value); tensors: (name, dims, ggml type, bytes)."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(metadata))
    for key, kind, packed in metadata:
        out += gguf_string(key) + struct.pack("<I", kind) + packed
    data = b""
    for name, dims, kind, payload in tensors:
        data += b"\0" * (-len(data) % alignment)
        out += gguf_string(name) + struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims, kind, len(data))
        data += payload
    return out + b"\0" * (-len(out) % alignment) + data


Q8_0_BLOCK = struct.pack("<e", 0.5) + bytes(range(32))
GGUFS = {
    "empty_v2": gguf([], [], version=2),
    "metadata": gguf([("general.architecture", 8, gguf_string("llama")),
                      ("general.alignment", 4, struct.pack("<I", 64)),
                      ("tokens", 9, struct.pack("<IQ", 8, 2) + gguf_string("a") + gguf_string("b")),
                      ("scores", 9, struct.pack("<IQ2f", 6, 2, 0.5, -1.0)),
                      ("f64", 12, struct.pack("<d", 0.1))], [], alignment=64),
    "tensors": gguf([], [("f32", [2, 2], 0, struct.pack("<4f", 1, 2, 3, 4)),
                         ("bf16", [2], 30, struct.pack("<2H", 0x3F80, 0x7FC1)),
                         ("q8.weight", [32, 2], 8, Q8_0_BLOCK * 2),
                         ("q4.weight", [32], 2, struct.pack("<e", -2.0) + bytes(range(16)))]),
}


def main():
    for folder, cases, encode in (
        ("safetensors", SAFETENSORS, lambda b: b),
        ("config", CONFIGS, lambda c: json.dumps(c, indent=4).encode()),
        ("index", INDEXES, lambda c: json.dumps(c, indent=4).encode()),
        ("gguf", GGUFS, lambda b: b),
    ):
        (OUT / folder).mkdir(parents=True, exist_ok=True)
        for name, case in cases.items():
            (OUT / folder / name).write_bytes(encode(case))


if __name__ == "__main__":
    main()
