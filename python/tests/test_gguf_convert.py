"""qlinear.convert_gguf (`qlinear convert MODEL.gguf OUT_DIR`): tiny llama / qwen2 / qwen3
models written by gguf-py with llama.cpp's names, Q/K row permutation and a mix of block
types, converted into mlx-lm folders: mlx-lm loads them (strict) with gguf-py's
dequantized weights under Hugging Face's names and order, its logits equal qlinear's on the
same folder, and the tokenizer transformers reads from the file is written beside them."""

import importlib
import json

import numpy as np
import pytest

import qlinear
from qlinear import lm

gguf = pytest.importorskip("gguf")
mlx_lm_utils = pytest.importorskip("mlx_lm.utils", exc_type=ImportError)
pytest.importorskip("transformers")
from gguf_files import K_SCALE_OFFSETS, T, k_blocks, llama_permute, write_gguf  # noqa: E402

VOCAB = 64
CONFIGS = {
    "llama": dict(model_type="llama", hidden_size=256, intermediate_size=256,
                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  rms_norm_eps=1e-5, vocab_size=VOCAB, rope_theta=500000.0,
                  max_position_embeddings=256, tie_word_embeddings=False),
    "qwen2": dict(model_type="qwen2", hidden_size=256, intermediate_size=256,
                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  rms_norm_eps=1e-6, vocab_size=VOCAB, rope_theta=1000000.0,
                  max_position_embeddings=256, tie_word_embeddings=True),
    "qwen3": dict(model_type="qwen3", hidden_size=256, intermediate_size=256,
                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  head_dim=128, rms_norm_eps=1e-6, vocab_size=VOCAB, rope_theta=1000000.0,
                  max_position_embeddings=256, tie_word_embeddings=True),
}
# llama.cpp name (after "blk.N.") -> (Hugging Face name, block type); K-quant blocks are
# random (gguf-py cannot quantize them), the others gguf-py's quantization.
BLOCK_TENSORS = {
    "attn_norm": ("input_layernorm", "F32"),
    "attn_q": ("self_attn.q_proj", "Q4_0"),
    "attn_k": ("self_attn.k_proj", "Q5_0"),
    "attn_v": ("self_attn.v_proj", "Q5_1"),
    "attn_output": ("self_attn.o_proj", "Q4_K"),
    "attn_q_norm": ("self_attn.q_norm", "F32"),
    "attn_k_norm": ("self_attn.k_norm", "F32"),
    "ffn_norm": ("post_attention_layernorm", "F32"),
    "ffn_gate": ("mlp.gate_proj", "Q4_K"),
    "ffn_up": ("mlp.up_proj", "Q5_K"),
    "ffn_down": ("mlp.down_proj", "Q6_K"),
}
TOP_TENSORS = {"token_embd": ("model.embed_tokens", "Q8_0"), "output_norm": ("model.norm", "F32"),
               "output": ("lm_head", "F16")}
TOKENS = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(32)] + \
    ["\u2581" + w for w in "the quick brown fox jumps over lazy dog".split()] + \
    list("abcdefghijklmnopqrstu")


def _blocks(rng, kind, values):
    if kind in K_SCALE_OFFSETS:
        return k_blocks(rng, kind, *values.shape, scale=2e-4)
    return gguf.quants.quantize(values, T[kind])


def _write_model(path, arch, rng):
    """The GGUF file and {Hugging Face name: the float32 weight it dequantizes to}."""
    config = CONFIGS[arch]
    hidden, heads, kv_heads = config["hidden_size"], config["num_attention_heads"], config["num_key_value_heads"]
    head_dim = config.get("head_dim", hidden // heads)
    metadata = [
        ("add_block_count", config["num_hidden_layers"]), ("add_embedding_length", hidden),
        ("add_feed_forward_length", config["intermediate_size"]), ("add_head_count", heads),
        ("add_head_count_kv", kv_heads), ("add_layer_norm_rms_eps", config["rms_norm_eps"]),
        ("add_rope_freq_base", config["rope_theta"]),
        ("add_context_length", config["max_position_embeddings"]),
        ("add_tokenizer_model", "llama"), ("add_token_list", TOKENS),
        ("add_token_scores", [0.0] * 35 + [-float(i) for i in range(len(TOKENS) - 35)]),
        ("add_token_types", [2, 3, 3] + [6] * 32 + [1] * (len(TOKENS) - 35)),
        ("add_bos_token_id", 1), ("add_eos_token_id", 2),
    ]
    if "head_dim" in config:
        metadata += [("add_key_length", head_dim), ("add_value_length", head_dim)]
    shapes = {"attn_q": (heads * head_dim, hidden), "attn_k": (kv_heads * head_dim, hidden),
              "attn_v": (kv_heads * head_dim, hidden), "attn_output": (hidden, heads * head_dim),
              "ffn_gate": (config["intermediate_size"], hidden),
              "ffn_up": (config["intermediate_size"], hidden),
              "ffn_down": (hidden, config["intermediate_size"]),
              "attn_q_norm": (head_dim,), "attn_k_norm": (head_dim,)}
    top_shapes = {"token_embd": (VOCAB, hidden), "output": (VOCAB, hidden)}
    tensors = [(name, hf_name, kind, top_shapes.get(name, (hidden,)))
               for name, (hf_name, kind) in TOP_TENSORS.items()
               if not (name == "output" and config["tie_word_embeddings"])]
    for i in range(config["num_hidden_layers"]):
        for name, (hf_name, kind) in BLOCK_TENSORS.items():
            if name in ("attn_q_norm", "attn_k_norm") and arch != "qwen3":
                continue
            tensors.append((f"blk.{i}.{name}", f"model.layers.{i}.{hf_name}", kind,
                            shapes.get(name, (hidden,))))
    if arch == "qwen2":  # q/k/v biases
        for i in range(config["num_hidden_layers"]):
            for name, rows in (("attn_q", heads), ("attn_k", kv_heads), ("attn_v", kv_heads)):
                tensors.append((f"blk.{i}.{name}.bias", f"model.layers.{i}.self_attn.{name[-1]}_proj.bias",
                                "F32", (rows * head_dim,)))
    expected, blocks_written = {}, []
    for gguf_name, hf_name, kind, shape in tensors:
        values = (rng.standard_normal(shape) * (1.0 if len(shape) == 1 else 0.05)).astype(np.float32)
        if len(shape) == 1 and "bias" not in gguf_name:
            values = 1.0 + 0.1 * values  # norms
        name = gguf_name if gguf_name.endswith(".bias") else gguf_name + ".weight"
        hf = hf_name if hf_name.endswith(".bias") else hf_name + ".weight"
        blocks = _blocks(rng, kind, values)
        dequantized = gguf.quants.dequantize(blocks, T[kind]).astype(np.float32)
        expected[hf] = dequantized
        if arch == "llama" and gguf_name.split(".")[-1] in ("attn_q", "attn_k"):
            # llama.cpp stores the permuted rows; blocks are per row, so permuting the
            # blocks permutes the dequantized rows
            blocks = llama_permute(blocks, heads if gguf_name.endswith("attn_q") else kv_heads)
        blocks_written.append((name, np.ascontiguousarray(blocks).view(np.uint8), kind))
    write_gguf(path, blocks_written, metadata, arch=arch)
    return expected


@pytest.mark.parametrize("arch", list(CONFIGS))
def test_gguf_model_converts_to_a_folder_mlx_lm_loads(mx, tmp_path, rng, arch):
    expected = _write_model(tmp_path / "model.gguf", arch, rng)
    report = qlinear.convert_gguf(tmp_path / "model.gguf", tmp_path / "out")
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    for key, value in CONFIGS[arch].items():
        assert config[key] == pytest.approx(value), key
    quantization = config["quantization"]
    assert (quantization["group_size"], quantization["bits"]) == (32, 4)
    assert quantization["model.layers.0.self_attn.k_proj"] == {"group_size": 32, "bits": 5,
                                                                "mode": "affine"}
    assert quantization["model.layers.1.mlp.down_proj"] is False  # Q6_K: float32
    assert quantization["model.embed_tokens"] == {"group_size": 32, "bits": 8, "mode": "affine"}
    rows = {row["mlx_name"]: row for row in report}
    assert rows["model.layers.0.mlp.down_proj.weight"]["method"] == "dequantized"
    assert rows["model.layers.0.mlp.up_proj.weight"]["type"] == "Q5_K"
    assert all(row["exact"] for row in report)

    model, _ = mlx_lm_utils.load_model(tmp_path / "out")  # mlx-lm's loader, strict
    params = dict(mlx_lm_utils.tree_flatten(model.parameters()))
    for name, values in expected.items():
        got = params[name].astype(mx.float32)
        if rows[name]["method"] == "affine":
            prefix = name[:-len(".weight")]
            got = mx.dequantize(params[name], params[prefix + ".scales"].astype(mx.float32),
                                params[prefix + ".biases"].astype(mx.float32), group_size=32,
                                bits=rows[name]["bits"])
        np.testing.assert_array_equal(np.array(got), values, err_msg=name)

    prompt = [1, 40, 41, 7, 50, 3, 60]
    theirs = np.array(model(mx.array([prompt])).astype(mx.float32))
    ours = lm.load(tmp_path / "out")[0](np.array([prompt]))
    # Both compute in float32 (float32 scales, float32 norms); a float32 bound as in
    # test_lm_models: (layers + 1) * 2 K u relative to the largest logit, times 8.
    bound = 8 * 3 * 2 * 256 * 2.0**-24 * np.abs(theirs).max()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=bound)

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "out")
    assert tokenizer.convert_tokens_to_ids("\u2581fox") == TOKENS.index("\u2581fox")
    assert tokenizer.eos_token == "</s>"


def test_unsupported_files_are_refused_and_leave_nothing(tmp_path, rng):
    embed = ("token_embd.weight", rng.standard_normal((4, 32)).astype(np.float32), "F32")
    head_count = [("add_head_count", 2)]
    gpt2 = write_gguf(tmp_path / "gpt2.gguf", [embed], head_count, arch="gpt2")
    with pytest.raises(RuntimeError, match=r"\[convert\] .*gpt2\.gguf: general\.architecture "
                                           r"'gpt2' is not one of llama, qwen2, qwen3"):
        qlinear.convert_gguf(gpt2, tmp_path / "out")
    # Llama 3's rope scaling factors: not supported yet
    rope = write_gguf(tmp_path / "rope.gguf",
                      [embed, ("rope_freqs.weight", np.ones(32, dtype=np.float32), "F32")],
                      head_count)
    with pytest.raises(RuntimeError, match="tensor 'rope_freqs.weight' has no mlx-lm counterpart for llama"):
        qlinear.convert_gguf(rope, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpt2.gguf", "rope.gguf"]
    with pytest.raises(ValueError, match="already exists"):
        qlinear.convert_gguf(rope, tmp_path)
