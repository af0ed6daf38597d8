"""qlinear.lm against mlx-lm: tiny llama, qwen2, qwen3 and qwen3_moe models built and saved
by mlx-lm itself (float32, 4-bit, and the mixed_3_6 recipe), with a tokenizer trained here
with Hugging Face `tokenizers`. Logits agree within a float32 bound, greedy generation
gives the same 32 tokens and the same text, and bad folders are clear errors. The MoE
folders load with mlx-lm's exact parameters, and qwen3_moe folders converted by qlinear
load in mlx-lm with the parameters mlx-lm's own conversion gives."""

import importlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import qlinear
from qlinear import distributed, lm

mlx_lm_utils = pytest.importorskip("mlx_lm.utils", exc_type=ImportError)
mlx_lm_convert = pytest.importorskip("mlx_lm.convert", exc_type=ImportError)
tokenizers = pytest.importorskip("tokenizers")
pytest.importorskip("transformers")

VOCAB = 128
BASE = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "rms_norm_eps": 1e-5,
    "vocab_size": VOCAB,
    "max_position_embeddings": 512,
    "eos_token_id": 1,
}
CONFIGS = {
    # Llama 3.1's rope_scaling, an untied head.
    "llama": dict(BASE, model_type="llama", tie_word_embeddings=False, rope_theta=500000.0,
                  rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                "high_freq_factor": 4.0, "original_max_position_embeddings": 64}),
    # q/k/v biases, tied head.
    "qwen2": dict(BASE, model_type="qwen2", tie_word_embeddings=True, rope_theta=1000000.0),
    # q/k norms, head_dim that is not hidden / heads.
    "qwen3": dict(BASE, model_type="qwen3", tie_word_embeddings=True, head_dim=32,
                  rope_theta=1000000.0),
    # Sparse blocks 0 and 2 (8 experts, top 4, renormalised), dense block 1, untied head.
    "qwen3_moe": dict(BASE, model_type="qwen3_moe", tie_word_embeddings=False, head_dim=32,
                      rope_theta=1000000.0, num_hidden_layers=3, num_experts=8,
                      num_experts_per_tok=4, decoder_sparse_step=1, mlp_only_layers=[1],
                      moe_intermediate_size=64, norm_topk_prob=True),
}
QUANTIZATIONS = ["float32", "4bit", "mixed_3_6"]
PROMPT = [2, 17, 33, 5, 90, 61, 7]
CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant:{% endif %}"
)
CORPUS = ["the quick brown fox jumps over the lazy dog", "hello world, hello model",
          "quantized models run on ordinary cpus", "assistant user system said"] * 20
U = 2.0**-24


def _write_tokenizer(folder):
    """A BPE tokenizer trained offline on a tiny corpus, saved as transformers reads it."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<unk>", "</s>", "<s>"])
    tokenizer.train_from_iterator(CORPUS, trainer)
    assert tokenizer.get_vocab_size() <= VOCAB
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
        "unk_token": "<unk>", "chat_template": CHAT_TEMPLATE}))


def _mlx_model(mx, arch, config=None, seed=7):
    module = importlib.import_module(f"mlx_lm.models.{arch}")
    mx.random.seed(seed)
    model = module.Model(module.ModelArgs.from_dict(config or CONFIGS[arch]))
    # mlx's initial embedding (unit normal) dominates a tied head's logits and makes a
    # random model repeat one token; a smaller one gives varied greedy continuations.
    embed = model.model.embed_tokens
    embed.weight = embed.weight * 0.1
    mx.eval(model.parameters())
    return model


@pytest.fixture(scope="module")
def folders(tmp_path_factory, mx):
    """{(arch, quantization): folder}, each written by mlx-lm."""
    root = tmp_path_factory.mktemp("lm")
    out = {}
    for arch in CONFIGS:
        for quantization in QUANTIZATIONS:
            model = _mlx_model(mx, arch)
            config = dict(CONFIGS[arch])
            if quantization != "float32":
                predicate = None
                if quantization.startswith("mixed"):
                    predicate = mlx_lm_convert.mixed_quant_predicate_builder(quantization, model, 64)
                model, config = mlx_lm_utils.quantize_model(model, config, 64, 4,
                                                            quant_predicate=predicate)
            out[arch, quantization] = _save_folder(root / f"{arch}-{quantization}", model, config)
    return out


def _save_folder(folder, model, config):
    """An mlx-lm folder as mlx-lm saves it, with the test's tokenizer."""
    mlx_lm_utils.save_model(folder, model)
    mlx_lm_utils.save_config(config, folder / "config.json")
    _write_tokenizer(folder)
    return folder


def _mlx_greedy(mx, model, prompt, n):
    from mlx_lm.generate import generate_step

    return [int(t) for t, _ in zip((t for t, _ in generate_step(mx.array(prompt), model,
                                                                  max_tokens=n)), range(n))]


CASES = [(a, q) for a in CONFIGS for q in QUANTIZATIONS]


@pytest.mark.parametrize("arch,quantization", CASES)
def test_logits_match_mlx_lm(folders, mx, arch, quantization):
    folder = folders[arch, quantization]
    theirs_model, _ = mlx_lm_utils.load_model(folder)
    model, tokenizer = lm.load(folder)
    # qwen3_moe: 21 tokens route 84 token-expert pairs, mlx-lm's sorted path (>= 64).
    for prompt in [PROMPT] + ([PROMPT * 3] if arch == "qwen3_moe" else []):
        theirs = np.array(theirs_model(mx.array([prompt])))
        ours = model(np.array([prompt]))
        assert isinstance(ours, np.ndarray) and ours.dtype == np.float32
        assert ours.shape == (1, len(prompt), VOCAB)
        # Both compute in float32 (mlx-lm: float32 weights or float32 scales); each sum of K
        # <= 128 products is off by at most K u of its magnitude, and the layers pass such
        # errors on with a gain of order one: a bound of (layers + 1) * 2 K u relative to the
        # largest logit, with a factor 8 for the softmax, norms and rope between.
        bound = 8 * (CONFIGS[arch]["num_hidden_layers"] + 1) * 2 * 128 * U * np.abs(theirs).max()
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=bound)


def test_load_reads_the_weights_into_memory_unless_lazy(folders, tmp_path):
    """lazy as mlx_lm.load's: by default the model needs its files no more (one still on
    the mapping would fault on the truncated files); lazy=True computes the same logits."""
    folder = shutil.copytree(folders["llama", "4bit"], tmp_path / "model")
    lazy_model, _ = lm.load(folder, lazy=True)
    expected = lazy_model(np.array([PROMPT]))
    del lazy_model
    model, _ = lm.load(folder)
    for weights in folder.glob("*.safetensors"):
        weights.write_bytes(b"")
    np.testing.assert_array_equal(model(np.array([PROMPT])), expected)


@pytest.mark.parametrize("arch,quantization", CASES)
def test_greedy_tokens_match_mlx_lm(folders, mx, arch, quantization):
    folder = folders[arch, quantization]
    theirs_model, _ = mlx_lm_utils.load_model(folder)
    expected = _mlx_greedy(mx, theirs_model, PROMPT, 32)
    model, _ = lm.load(folder)
    tokens = []
    stats = model.generate_tokens(PROMPT, 32, [], lambda t: tokens.append(t) is None)
    assert tokens == expected
    assert stats["generation_tokens"] == 32 and stats["prompt_tokens"] == len(PROMPT)
    assert stats["prompt_tps"] > 0 and stats["generation_tps"] > 0 and stats["peak_memory_mb"] > 0
    # A cache fed one token at a time gives the same logits as the whole sequence.
    cache = lm.make_prompt_cache(model)
    steps = [model(np.array([PROMPT[:4]]), cache)] + [
        model(np.array([[t]]), cache) for t in PROMPT[4:]]
    assert cache.offset == len(PROMPT)
    full = model(np.array([PROMPT]))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=0,
                               atol=1e-4 * np.abs(full).max())


@pytest.mark.parametrize("arch", list(CONFIGS))
def test_generate_text_matches_mlx_lm(folders, mx, arch):
    import mlx_lm

    folder = folders[arch, "4bit"]
    their_model, their_tokenizer = mlx_lm.load(str(folder))
    prompt = "hello model"
    expected = mlx_lm.generate(their_model, their_tokenizer, prompt, max_tokens=24)
    model, tokenizer = lm.load(folder)
    assert lm.generate(model, tokenizer, prompt, max_tokens=24) == expected


def test_command_line_prints_the_text_and_mlx_lm_summary(folders, mx):
    import mlx_lm

    folder = folders["llama", "4bit"]
    their_model, their_tokenizer = mlx_lm.load(str(folder))
    messages = [{"role": "user", "content": "the quick fox"}]
    chat = their_tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    expected = mlx_lm.generate(their_model, their_tokenizer, chat, max_tokens=12)
    result = subprocess.run(
        [sys.executable, "-m", "qlinear.lm.generate", "--model", str(folder), "--prompt",
         "the quick fox", "--max-tokens", "12"], capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert lines[0] == "=" * 10
    assert "\n".join(lines[1:-4]) == expected
    assert lines[-4] == "=" * 10
    assert lines[-3].startswith("Prompt: ") and lines[-3].endswith(" tokens-per-sec")
    assert lines[-2].startswith("Generation: 12 tokens, ")
    assert lines[-1].startswith("Peak memory: ") and lines[-1].endswith(" GB")


@pytest.mark.skipif(shutil.which("mpirun") is None or not distributed.is_available("mpi"),
                    reason="qlinear was built without MPI, or mpirun is missing")
# Folders whose sharded-to-all inputs split into whole groups of 64 on 2 ranks.
@pytest.mark.parametrize("arch, quantization",
                         [("llama", "float32"), ("qwen3", "4bit"), ("qwen3_moe", "float32")])
def test_command_line_under_mpirun_prints_mlx_lms_text_once(folders, mx, arch, quantization):
    import mlx_lm

    folder = folders[arch, quantization]
    their_model, their_tokenizer = mlx_lm.load(str(folder))
    messages = [{"role": "user", "content": "the quick fox"}]
    chat = their_tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    expected = mlx_lm.generate(their_model, their_tokenizer, chat, max_tokens=12)
    result = subprocess.run(
        ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "2", sys.executable, "-m",
         "qlinear.lm.generate", "--model", str(folder), "--prompt", "the quick fox",
         "--max-tokens", "12"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "=" * 10 and lines[-4] == "=" * 10, result.stdout
    assert "\n".join(lines[1:-4]) == expected
    # Rank 0 alone prints the summary.
    assert [line for line in lines if line.startswith("Generation: ")] == lines[-2:-1]


def test_bad_folders_are_clear_errors(folders, tmp_path, mx):
    import shutil

    source = folders["qwen2", "float32"]
    unknown = tmp_path / "unknown"
    shutil.copytree(source, unknown)
    config = json.loads((unknown / "config.json").read_text())
    (unknown / "config.json").write_text(json.dumps(dict(config, model_type="gpt9")))
    with pytest.raises(RuntimeError, match=r'has model_type "gpt9", which qlinear does not '
                                           r"support; supported: llama, mistral, qwen2, qwen3, qwen3_moe"):
        lm.load(unknown)

    missing = tmp_path / "missing"
    shutil.copytree(source, missing)
    weights = {k: v for k, v in mx.load(str(missing / "model.safetensors")).items()
               if k != "model.layers.1.mlp.up_proj.weight"}
    (missing / "model.safetensors.index.json").unlink()
    mx.save_safetensors(str(missing / "model.safetensors"), weights, metadata={"format": "mlx"})
    with pytest.raises(RuntimeError, match=r"needs model.layers.1.mlp.up_proj, which the "
                                           r"weights lack"):
        lm.load(missing)

    truncated = tmp_path / "truncated"
    shutil.copytree(source, truncated)
    data = (truncated / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(Exception, match=r"model.safetensors"):
        lm.load(truncated)

    model, _ = lm.load(source)
    with pytest.raises(ValueError, match=r"\[lm.Model\] ids must have shape \(1, T\)"):
        model(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match=r"out of range"):
        model(np.array([[VOCAB + 5]]))


def _assert_same_parameters(ours, theirs, mx):
    """The same names, dtypes and bytes (either model qlinear's or mlx-lm's; all float32)."""
    ours_flat = {k: np.array(v) for k, v in qlinear.utils.tree_flatten(ours.parameters())}
    theirs_flat = {k: np.array(v) for k, v in qlinear.utils.tree_flatten(theirs.parameters())}
    assert sorted(ours_flat) == sorted(theirs_flat)
    for name, value in theirs_flat.items():
        assert ours_flat[name].dtype == value.dtype, name
        np.testing.assert_array_equal(ours_flat[name].view(np.uint8), value.view(np.uint8), err_msg=name)


@pytest.mark.parametrize("quantization", QUANTIZATIONS)
def test_moe_folder_written_by_mlx_lm_loads_with_its_parameters(folders, mx, quantization):
    folder = folders["qwen3_moe", quantization]
    theirs, config = mlx_lm_utils.load_model(folder)
    ours, our_config = qlinear.nn.load_model(folder)
    _assert_same_parameters(ours, theirs, mx)
    experts = "model.layers.0.mlp.switch_mlp.down_proj"
    kinds = {p: type(m).__name__ for p, m in ours.named_modules()}
    assert kinds[experts] == ("SwitchLinear" if quantization == "float32" else "QuantizedSwitchLinear")
    assert kinds["model.layers.1.mlp.down_proj"] == ("Linear" if quantization == "float32" else "QuantizedLinear")
    if quantization == "4bit":  # qwen3_moe's quant_predicate: the routers at 8 bits
        assert config["quantization"]["model.layers.0.mlp.gate"] == {"group_size": 64, "bits": 8}
        assert dict(ours.named_modules())["model.layers.0.mlp.gate"].bits == 8


def _with_mode(block):
    """mlx-lm writes its model rules' entries without "mode" (to_quantized's default,
    affine); qlinear writes it out."""
    return {k: dict({"mode": "affine"}, **v) if isinstance(v, dict) else v for k, v in block.items()}


@pytest.mark.parametrize("recipe,mode", [(None, "affine"), (None, "mxfp4"), ("mixed_3_6", "affine")])
def test_moe_folder_converted_by_qlinear_loads_in_mlx_lm(folders, tmp_path, mx, recipe, mode):
    source = folders["qwen3_moe", "float32"]
    qlinear.convert(source, tmp_path / "out", quantize=True, q_mode=mode, quant_predicate=recipe)
    loaded, config = mlx_lm_utils.load_model(tmp_path / "out")  # mlx-lm's loader, strict
    model, expected_config = mlx_lm_utils.load_model(source)
    predicate = recipe and mlx_lm_convert.mixed_quant_predicate_builder(recipe, model, 64)
    expected, expected_config = mlx_lm_utils.quantize_model(model, expected_config, None, None, mode=mode,
                                                            quant_predicate=predicate)
    assert _with_mode(config["quantization"]) == _with_mode(expected_config["quantization"])
    _assert_same_parameters(loaded, expected, mx)
    _assert_same_parameters(qlinear.nn.load_model(tmp_path / "out")[0], expected, mx)


# --- the quantized KV cache ------------------------------------------------------------
# mlx-lm quantizes keys and values along head_dim in groups of kv_group_size (32, 64 or
# 128), so these models have head_dim 32 (llama, qwen2: hidden 128 / 4 heads) and 64
# (qwen3), with 2 kv heads: a GQA repeat of 2.
KV_CONFIGS = {
    "llama": dict(CONFIGS["llama"], hidden_size=128),
    "qwen2": dict(CONFIGS["qwen2"], hidden_size=128),
    "qwen3": dict(CONFIGS["qwen3"], hidden_size=128, head_dim=64),
}
KV_GROUP_SIZE = {"llama": 32, "qwen2": 32, "qwen3": 64}
# A prompt past one cache step would cost seconds; this one makes the prefill's causal
# mask and the decode's growth both run on the quantized cache.
KV_PROMPT = PROMPT + [11, 40, 3, 77]


@pytest.fixture(scope="module")
def kv_folders(tmp_path_factory, mx):
    """{(arch, quantization): (folder, mlx-lm model)} for float32 and 4-bit weights."""
    root = tmp_path_factory.mktemp("lm-kv")
    out = {}
    for arch, config in KV_CONFIGS.items():
        for quantization in ("float32", "4bit"):
            model = _mlx_model(mx, arch, config, seed=11)
            saved = dict(config)
            if quantization == "4bit":
                model, saved = mlx_lm_utils.quantize_model(model, saved, 64, 4)
            out[arch, quantization] = _save_folder(root / f"{arch}-{quantization}", model, saved)
    return out


@pytest.mark.parametrize("kv_bits", [4, 8])
@pytest.mark.parametrize("quantization", ["float32", "4bit"])
@pytest.mark.parametrize("arch", list(KV_CONFIGS))
def test_quantized_kv_cache_tokens_match_mlx_lm(kv_folders, mx, arch, quantization, kv_bits):
    from mlx_lm.generate import generate_step

    folder = kv_folders[arch, quantization]
    group_size = KV_GROUP_SIZE[arch]
    their_model, _ = mlx_lm_utils.load_model(folder)
    steps = generate_step(mx.array(KV_PROMPT), their_model, max_tokens=32, kv_bits=kv_bits,
                          kv_group_size=group_size, quantized_kv_start=0)
    expected = [int(t) for t, _ in steps]
    model, _ = lm.load(folder)
    tokens = []
    model.generate_tokens(KV_PROMPT, 32, [], lambda t: tokens.append(t) is None,
                          kv_bits=kv_bits, kv_group_size=group_size, quantized_kv_start=0)
    assert tokens == expected
    # The float cache generates other tokens on some of these (so the check above sees
    # the quantized cache); a start past the sequence keeps the float cache's tokens.
    float_tokens = []
    model.generate_tokens(KV_PROMPT, 32, [], lambda t: float_tokens.append(t) is None)
    late = []
    model.generate_tokens(KV_PROMPT, 32, [], lambda t: late.append(t) is None, kv_bits=kv_bits,
                          kv_group_size=group_size, quantized_kv_start=len(KV_PROMPT) + 32)
    assert late == float_tokens


def test_quantized_kv_cache_text_and_command_line_match_mlx_lm(kv_folders, mx):
    import mlx_lm

    folder = kv_folders["qwen3", "4bit"]
    their_model, their_tokenizer = mlx_lm.load(str(folder))
    expected = mlx_lm.generate(their_model, their_tokenizer, "hello model", max_tokens=16,
                               kv_bits=4, kv_group_size=64, quantized_kv_start=3)
    model, tokenizer = lm.load(folder)
    assert lm.generate(model, tokenizer, "hello model", max_tokens=16, kv_bits=4,
                       kv_group_size=64, quantized_kv_start=3) == expected
    result = subprocess.run(
        [sys.executable, "-m", "qlinear.lm.generate", "--model", str(folder), "--prompt",
         "hello model", "--max-tokens", "16", "--ignore-chat-template", "--verbose", "false",
         "--kv-bits", "4", "--kv-group-size", "64", "--quantized-kv-start", "3"],
        capture_output=True, text=True, check=True)
    assert result.stdout == expected + "\n"
    with pytest.raises(ValueError, match=r"kv_group_size 128 does not divide the head "
                                         r"dimension 64"):
        lm.generate(model, tokenizer, "hello", max_tokens=2, kv_bits=4, kv_group_size=128)
    with pytest.raises(ValueError, match=r"The requested number of bits 7 is not supported"):
        lm.generate(model, tokenizer, "hello", max_tokens=2, kv_bits=7)


@pytest.mark.parametrize("bits,group_size,heads,L,T", [(8, 64, 8, 1, 300), (4, 32, 4, 5, 40),
                                                       (4, 64, 2, 3, 257), (8, 32, 6, 1, 9)])
def test_quantized_attention_matches_mlx_lm(mx, bits, group_size, heads, L, T):
    from mlx_lm.models.base import quantized_scaled_dot_product_attention as theirs

    rng = np.random.default_rng(bits * 1000 + T)
    D, kv_heads, scale = 64, 2, 64**-0.5
    q = rng.standard_normal((1, heads, L, D)).astype(np.float32)
    keys, values = (mx.quantize(mx.array(rng.standard_normal((1, kv_heads, T, D)).astype(
        np.float32)), group_size=group_size, bits=bits) for _ in range(2))
    mask = "causal" if L > 1 else None
    expected = np.array(theirs(mx.array(q), keys, values, scale=scale, mask=mask,
                               group_size=group_size, bits=bits))
    ours = lm.quantized_scaled_dot_product_attention(
        q, tuple(np.array(t) for t in keys), tuple(np.array(t) for t in values), scale, mask,
        group_size=group_size, bits=bits)
    assert ours.shape == expected.shape == (1, heads, L, D)
    # Both sum the same products in float32 in other orders: a score is off by at most
    # 2 D u sum|q||k|, each output by max|v| (2 max score error + T u), times 4 for the
    # softmax's own rounding (the analysis of tests/models/kv_cache_test.cpp).
    k = np.array(mx.dequantize(*keys, group_size=group_size, bits=bits))
    v = np.array(mx.dequantize(*values, group_size=group_size, bits=bits))
    qk = scale * np.abs(q).reshape(kv_heads, -1, D) @ np.abs(k[0]).transpose(0, 2, 1)
    bound = 4 * np.abs(v).max() * (2 * 2 * D * U * qk.max() + T * U)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=bound)


def test_bench_mlx_lm_times_mlx_lm_on_the_cpu(folders, mx):
    """mlx-lm's side of `qlinear bench-model`: its rates come from generate_step on the CPU
    with the prompts qlinear's side uses."""
    from importlib import metadata

    from qlinear.lm import bench_mlx_lm

    assert bench_mlx_lm.prompt_ids(4, 1000) == [0, 919, 838, 757]  # i * 7919 mod vocab
    result = subprocess.run(
        [sys.executable, "-m", "qlinear.lm.bench_mlx_lm", str(folders["llama", "4bit"]),
         "--decode-prompt-tokens", "3", "--decode-tokens", "5", "--prefill-tokens", "6"],
        capture_output=True, text=True, check=True)
    out = json.loads(result.stdout)
    assert out["mlx"] == metadata.version("mlx") and out["mlx_lm"] == metadata.version("mlx-lm")
    assert "cpu" in out["device"]
    decode, prefill = out["decode"], out["prefill"]
    assert decode["prompt_tokens"] == 3 and decode["tokens"] == 5
    assert decode["tps"] > 0 and decode["ms_per_token"] == pytest.approx(1e3 / decode["tps"])
    assert prefill["tokens"] == 6 and prefill["tps"] * prefill["seconds"] == pytest.approx(6)
    bad = subprocess.run([sys.executable, "-m", "qlinear.lm.bench_mlx_lm", "x",
                          "--decode-tokens", "2"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--decode-tokens must be at least 3" in bad.stderr
