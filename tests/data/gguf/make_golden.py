"""Writes tiny.gguf with gguf-py (llama.cpp's writer and quantizers) and what mx.load of
MLX 0.32.4 returns for it, tiny.mlx.safetensors, for tests/io/gguf_test.cpp.

Run with a Python that has gguf, numpy and mlx 0.32.4:  python make_golden.py
"""

from pathlib import Path

import mlx.core as mx
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter, quants

HERE = Path(__file__).parent


def main():
    rng = np.random.default_rng(16)
    x = rng.standard_normal((3, 64)).astype(np.float32)
    writer = GGUFWriter(HERE / "tiny.gguf", "llama")
    writer.add_uint32("llama.block_count", 1)
    writer.add_float32("llama.rope.freq_base", 10000.0)
    writer.add_string("general.name", "tiny")
    writer.add_array("tokenizer.ggml.tokens", ["<s>", "a", "b"])
    writer.add_array("tokenizer.ggml.scores", [0.0, -1.5, -2.5])
    for name, kind in [("f32", T.F32), ("f16", T.F16), ("bf16", T.BF16), ("q4_0", T.Q4_0),
                       ("q4_1", T.Q4_1), ("q8_0", T.Q8_0)]:
        writer.add_tensor(f"blk.0.{name}.weight", quants.quantize(x, kind), raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    arrays = mx.load(str(HERE / "tiny.gguf"))
    mx.save_safetensors(str(HERE / "tiny.mlx.safetensors"), arrays)


if __name__ == "__main__":
    main()
