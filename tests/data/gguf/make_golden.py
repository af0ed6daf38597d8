"""Writes the GGUF files of tests/io/gguf_test.cpp with gguf-py (llama.cpp's writer and
quantizers) and what they must load as:

- tiny.gguf and tiny.mlx.safetensors, what mx.load of MLX 0.32.4 returns for it;
- exact.gguf (every type load_gguf's exact option maps or dequantizes) and
  exact.ggufpy.safetensors, gguf-py's float32 dequantization of each of its tensors.

Run with a Python that has gguf, numpy and mlx 0.32.4:  python make_golden.py
"""

from pathlib import Path

import mlx.core as mx
import numpy as np
from gguf import GGML_QUANT_SIZES, GGUFWriter, quants
from gguf import GGMLQuantizationType as T

HERE = Path(__file__).parent

# Byte offsets of the float16 super-block scales (d, dmin) in each K-quant block.
K_SCALE_OFFSETS = {T.Q2_K: (80, 82), T.Q3_K: (108,), T.Q4_K: (0, 2), T.Q5_K: (0, 2),
                   T.Q6_K: (208,)}


def k_blocks(rng, kind, rows, cols):
    """Random K-quant blocks (gguf-py cannot quantize these) with finite scales."""
    block_size, block_bytes = GGML_QUANT_SIZES[kind]
    blocks = rng.integers(0, 256, (rows, cols // block_size, block_bytes), dtype=np.uint8)
    for offset in K_SCALE_OFFSETS[kind]:
        scale = (rng.standard_normal((rows, cols // block_size, 1)) * 0.01).astype(np.float16)
        blocks[..., offset:offset + 2] = scale.view(np.uint8)
    return blocks.reshape(rows, -1)


def write(path, tensors, metadata=lambda writer: None):
    writer = GGUFWriter(path, "llama")
    metadata(writer)
    for name, blocks, kind in tensors:
        writer.add_tensor(name, blocks, raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def tiny_metadata(writer):
    writer.add_uint32("llama.block_count", 1)
    writer.add_float32("llama.rope.freq_base", 10000.0)
    writer.add_string("general.name", "tiny")
    writer.add_array("tokenizer.ggml.tokens", ["<s>", "a", "b"])
    writer.add_array("tokenizer.ggml.scores", [0.0, -1.5, -2.5])


def main():
    rng = np.random.default_rng(16)
    x = rng.standard_normal((3, 64)).astype(np.float32)
    tensors = [(f"blk.0.{kind.name.lower()}.weight", quants.quantize(x, kind), kind)
               for kind in (T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q8_0)]
    tensors += [(f"blk.0.{kind.name.lower()}.weight", k_blocks(rng, kind, 2, 256), kind)
                for kind in (T.Q2_K, T.Q4_K, T.Q6_K)]
    write(HERE / "tiny.gguf", tensors, tiny_metadata)
    mx.save_safetensors(str(HERE / "tiny.mlx.safetensors"), mx.load(str(HERE / "tiny.gguf")))

    x = rng.standard_normal((2, 256)).astype(np.float32)
    tensors = [(f"{kind.name.lower()}.weight", quants.quantize(x, kind), kind)
               for kind in (T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0)]
    tensors += [(f"{kind.name.lower()}.weight", k_blocks(rng, kind, 2, 256), kind)
                for kind in (T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K)]
    write(HERE / "exact.gguf", tensors)
    dequantized = {name: mx.array(quants.dequantize(blocks, kind).astype(np.float32))
                   for name, blocks, kind in tensors}
    mx.save_safetensors(str(HERE / "exact.ggufpy.safetensors"), dequantized)


if __name__ == "__main__":
    main()
