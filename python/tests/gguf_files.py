"""GGUF files for the tests, written by gguf-py (llama.cpp's writer and quantizers)."""

import gguf
import numpy as np

T = gguf.GGMLQuantizationType

# Byte offsets of the float16 super-block scales (d, dmin) in each K-quant block.
K_SCALE_OFFSETS = {"Q2_K": (80, 82), "Q3_K": (108,), "Q4_K": (0, 2), "Q5_K": (0, 2),
                   "Q6_K": (208,)}


def write_gguf(path, tensors, metadata=(), arch="llama"):
    """tensors: (name, float32 array, type name); metadata: (gguf-py add_* method, key, value)
    or (method, value) for the writer's named keys."""
    writer = gguf.GGUFWriter(str(path), arch)
    for method, *args in metadata:
        getattr(writer, method)(*args)
    for name, values, kind in tensors:
        # uint8 values are blocks already (for types gguf-py cannot quantize)
        blocks = values if values.dtype == np.uint8 else gguf.quants.quantize(values, T[kind])
        writer.add_tensor(name, blocks, raw_dtype=T[kind])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def k_blocks(rng, kind, rows, cols, scale=0.01):
    """Random K-quant blocks (gguf-py cannot quantize these) with finite scales d, dmin
    drawn from a normal distribution of deviation `scale`."""
    block_size, block_bytes = gguf.GGML_QUANT_SIZES[T[kind]]
    blocks = rng.integers(0, 256, (rows, cols // block_size, block_bytes), dtype=np.uint8)
    for offset in K_SCALE_OFFSETS[kind]:
        d = (rng.standard_normal((rows, cols // block_size, 1)) * scale).astype(np.float16)
        blocks[..., offset:offset + 2] = d.view(np.uint8)
    return blocks.reshape(rows, -1)


def llama_permute(w, heads):
    """convert_hf_to_gguf.py's LlamaModel.permute, rewritten: rows of each head reordered
    from (half, pair) to (pair, half)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
