"""qlinear.export_gguf (`qlinear convert MLX_DIR OUT.gguf`): mlx-lm folders of tiny llama /
qwen2 / qwen3 models quantized by mlx-lm itself, written as GGUF and read back by gguf-py
(llama.cpp's reader and dequantizers): Q4_1 / Q5_1 blocks dequantize to MLX's values bit
for bit, 8-bit and other widths come out as float16 with the error the report gives, names,
Q/K order and metadata are llama.cpp's, and GGUF -> folder gives MLX's weights back."""

import importlib
import json

import numpy as np
import pytest

import qlinear

gguf = pytest.importorskip("gguf")
mlx_lm_utils = pytest.importorskip("mlx_lm.utils", exc_type=ImportError)
from gguf_files import llama_permute  # noqa: E402

BASE = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, rms_norm_eps=1e-5, vocab_size=64,
            max_position_embeddings=256, bos_token_id=1, eos_token_id=2)
CONFIGS = {
    "llama": dict(BASE, model_type="llama", tie_word_embeddings=False, rope_theta=500000.0),
    "qwen2": dict(BASE, model_type="qwen2", tie_word_embeddings=True, rope_theta=1e6),
    "qwen3": dict(BASE, model_type="qwen3", tie_word_embeddings=True, head_dim=64, rope_theta=1e6),
}


def _folder(mx, path, arch, bits, group_size):
    module = importlib.import_module(f"mlx_lm.models.{arch}")
    mx.random.seed(3)
    model = module.Model(module.ModelArgs.from_dict(CONFIGS[arch]))
    model.set_dtype(mx.float16)  # float16 scales, as mlx-lm's checkpoints have
    model, config = mlx_lm_utils.quantize_model(model, dict(CONFIGS[arch]), group_size, bits)
    mlx_lm_utils.save_model(path, model)
    mlx_lm_utils.save_config(config, path / "config.json")
    tokenizer = {"model": {"type": "BPE", "vocab": {f"t{i}": i for i in range(62)},
                           "merges": [["t1", "t2"], ["t3", "t4"]]},
                 "added_tokens": [{"id": 62, "content": "<s>", "special": True},
                                  {"id": 63, "content": "</s>", "special": True}]}
    (path / "tokenizer.json").write_text(json.dumps(tokenizer))
    return path


def _mlx_values(mx, weights, layer, bits, group_size):
    """MLX's dequantized float32 weight of a layer (float32 scales: exact products)."""
    if layer + ".scales" not in weights:
        return np.array(weights[layer + ".weight"].astype(mx.float32))
    return np.array(mx.dequantize(weights[layer + ".weight"],
                                  weights[layer + ".scales"].astype(mx.float32),
                                  weights[layer + ".biases"].astype(mx.float32),
                                  group_size=group_size, bits=bits))


@pytest.mark.parametrize("arch,bits,group_size,gguf_type", [
    ("llama", 4, 64, "Q4_1"), ("llama", 5, 32, "Q5_1"), ("qwen2", 4, 32, "Q4_1"),
    ("qwen3", 5, 64, "Q5_1"), ("llama", 8, 64, "F16"), ("qwen2", 3, 32, "F16")])
def test_export_dequantizes_to_mlx_values(mx, tmp_path, arch, bits, group_size, gguf_type):
    folder = _folder(mx, tmp_path / "mlx", arch, bits, group_size)
    report = qlinear.export_gguf(folder, tmp_path / "model.gguf")
    weights = mx.load(str(folder / "model.safetensors"))
    reader = gguf.GGUFReader(tmp_path / "model.gguf")
    tensors = {t.name: t for t in reader.tensors}
    rows = {row["gguf_name"]: row for row in report}
    assert sorted(rows) == sorted(tensors)
    config = CONFIGS[arch]
    for row in report:
        layer = row["mlx_name"].rsplit(".", 1)[0]
        tensor = tensors[row["gguf_name"]]
        ours = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        if row["mlx_name"].endswith(".bias"):
            expected = np.array(weights[row["mlx_name"]].astype(mx.float32))
        else:
            expected = _mlx_values(mx, weights, layer, bits, group_size)
        if arch == "llama" and layer.endswith(("q_proj", "k_proj")):
            heads = config["num_attention_heads" if layer.endswith("q_proj") else "num_key_value_heads"]
            expected = llama_permute(expected, heads)
        quantized = row["mlx_name"].endswith(".weight") and layer + ".scales" in weights
        assert row["type"] == (gguf_type if quantized else "F32" if expected.ndim == 1 else "F16")
        assert ours.shape == expected.shape
        if row["exact"]:
            np.testing.assert_array_equal(ours, expected, err_msg=row["gguf_name"])
            assert row["max_error"] == 0
        else:
            assert row["max_error"] == np.abs(ours - expected).max() > 0
        # float16 scales hold Q4_1 / Q5_1 exactly; 8-bit (not symmetric) and 3-bit round
        assert row["exact"] == (not quantized or gguf_type != "F16"), row
    assert ("token_embd.weight" in tensors) and ("output.weight" in tensors) == (arch == "llama")

    fields = reader.fields
    def value(key):
        return fields[key].contents()
    assert value("general.architecture") == arch
    assert value(f"{arch}.block_count") == 2
    assert value(f"{arch}.embedding_length") == 128
    assert value(f"{arch}.attention.head_count_kv") == 2
    assert value(f"{arch}.rope.freq_base") == np.float32(config["rope_theta"])
    assert value(f"{arch}.attention.layer_norm_rms_epsilon") == np.float32(1e-5)
    assert (f"{arch}.attention.key_length" in fields) == (arch == "qwen3")
    assert value("tokenizer.ggml.model") == "gpt2"
    assert value("tokenizer.ggml.tokens")[:2] == ["t0", "t1"] and value("tokenizer.ggml.tokens")[62] == "<s>"
    assert value("tokenizer.ggml.token_type")[61:] == [1, 3, 3]
    assert value("tokenizer.ggml.merges") == ["t1 t2", "t3 t4"]
    assert value("tokenizer.ggml.eos_token_id") == 2


@pytest.mark.parametrize("arch", list(CONFIGS))
def test_gguf_round_trip_gives_mlx_weights_back(mx, tmp_path, arch):
    folder = _folder(mx, tmp_path / "mlx", arch, 4, 64)
    qlinear.export_gguf(folder, tmp_path / "model.gguf")
    qlinear.convert_gguf(tmp_path / "model.gguf", tmp_path / "back", tokenizer=False)
    original = mx.load(str(folder / "model.safetensors"))
    back = mx.load(str(tmp_path / "back" / "model.safetensors"))
    config = json.loads((tmp_path / "back" / "config.json").read_text())
    assert config["quantization"]["group_size"] == 32 and config["quantization"]["bits"] == 4
    for name in original:
        if not name.endswith(".weight"):
            continue
        layer = name[:-len(".weight")]
        expected = _mlx_values(mx, original, layer, 4, 64)
        got = _mlx_values(mx, back, layer, 4, 32)
        np.testing.assert_array_equal(got, expected, err_msg=name)


def test_export_refusals_leave_no_file(mx, tmp_path):
    folder = _folder(mx, tmp_path / "mlx", "llama", 4, 64)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "gemma"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(RuntimeError, match=r"\[convert\] .*model_type 'gemma' is not one of llama, qwen2, qwen3"):
        qlinear.export_gguf(folder, tmp_path / "model.gguf")
    assert not (tmp_path / "model.gguf").exists()


def test_symmetric_8bit_layers_become_q8_0(mx, tmp_path):
    """8-bit groups whose bias is -128 * scale (symmetric) are Q8_0 blocks, exactly."""
    folder = _folder(mx, tmp_path / "mlx", "qwen2", 8, 32)
    weights = mx.load(str(folder / "model.safetensors"))
    for name in [n for n in weights if n.endswith(".scales")]:
        weights[name[:-len(".scales")] + ".biases"] = -128 * weights[name]
    mx.save_safetensors(str(folder / "model.safetensors"), weights, metadata={"format": "mlx"})
    report = qlinear.export_gguf(folder, tmp_path / "model.gguf")
    tensors = {t.name: t for t in gguf.GGUFReader(tmp_path / "model.gguf").tensors}
    quantized = [row for row in report if row["mlx_name"][:-len(".weight")] + ".scales" in weights]
    assert quantized and all(row["type"] == "Q8_0" and row["exact"] for row in quantized)
    for row in quantized:
        tensor = tensors[row["gguf_name"]]
        ours = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        expected = _mlx_values(mx, weights, row["mlx_name"][:-len(".weight")], 8, 32)
        np.testing.assert_array_equal(ours, expected, err_msg=row["gguf_name"])
