"""Language models from mlx-lm folders, shaped like ``mlx_lm.load`` / ``mlx_lm.generate``.

``load(path)`` returns ``(model, tokenizer)``: ``model(ids)`` with ids of shape [1, T]
gives numpy logits [1, T, vocab] (float32); the tokenizer is Hugging Face's
``transformers.AutoTokenizer`` for the folder, as mlx-lm uses. ``generate`` takes mlx-lm's
``sampler`` and ``logits_processors`` (``qlinear.lm.sample_utils``); without them it is
greedy. The KV cache is mlx-lm's float one, or its quantized one (kv_bits).
"""

import sys

import numpy as np

from qlinear._qlinear.lm import (SUPPORTED_MODEL_TYPES, Cache, Model, load_model,
                                 quantized_scaled_dot_product_attention)
from qlinear.lm import sample_utils

__all__ = ["SUPPORTED_MODEL_TYPES", "Cache", "Model", "load", "load_model", "sharded_load",
           "generate",
           "make_prompt_cache", "quantized_scaled_dot_product_attention", "sample_utils"]


def load(path_or_hf_repo, tokenizer_config=None, *, lazy=False, group=None):
    """(model, tokenizer) from a local mlx-lm model folder; with a group, the model is
    sharded over it (see ``sharded_load``). ``lazy`` as mlx_lm.load's: False (the default)
    reads the weights into memory, True leaves them on the mapped weight files."""
    from transformers import AutoTokenizer

    model, _config = load_model(str(path_or_hf_repo), group, lazy)
    tokenizer = AutoTokenizer.from_pretrained(str(path_or_hf_repo), **(tokenizer_config or {}))
    return model, tokenizer


def sharded_load(path_or_hf_repo, pipeline_group=None, tensor_group=None):
    """``mlx_lm.utils.sharded_load`` for a local folder: (model, tokenizer) with the model
    sharded over tensor_group (default: ``qlinear.distributed.init()``) as mlx-lm's
    ``Model.shard``. Every rank must call it and then generate the same way; each gets
    the whole logits, and ``generate`` makes every rank take rank 0's tokens. Pipeline
    parallelism is not implemented."""
    from qlinear import distributed

    if pipeline_group is not None:
        raise ValueError("[sharded_load] pipeline_group is not supported; use tensor_group.")
    return load(path_or_hf_repo, group=tensor_group or distributed.init())


def make_prompt_cache(model):
    """One KV cache per layer, for ``model(ids, cache)``."""
    return model.make_cache()


def _prompt_ids(tokenizer, prompt):
    """Token ids of a prompt (text or ids); text gets the tokenizer's special tokens
    unless it already starts with BOS, as mlx_lm.generate decides."""
    if not isinstance(prompt, str):
        return [int(t) for t in np.asarray(prompt).reshape(-1)]
    bos = tokenizer.bos_token
    return tokenizer.encode(prompt, add_special_tokens=bos is None or not prompt.startswith(bos))


def _eos_ids(tokenizer):
    eos = tokenizer.eos_token_id
    if eos is None:
        return []
    return list(eos) if isinstance(eos, (list, tuple, set)) else [int(eos)]


def generate(model, tokenizer, prompt, max_tokens=256, verbose=False, on_token=None, *,
             sampler=None, logits_processors=None, kv_bits=None, kv_group_size=64,
             quantized_kv_start=0):
    """The generated text, as ``mlx_lm.generate``: ``sampler`` and ``logits_processors`` as
    mlx-lm's (``sample_utils.make_sampler`` / ``make_logits_processors``, or any callables
    on numpy arrays); greedy without a sampler. kv_bits, kv_group_size and
    quantized_kv_start quantize the KV cache as mlx-lm's do. verbose prints the text and
    the summary lines. on_token(id) is called as each token is generated."""
    tokens = []

    def collect(token):
        tokens.append(token)
        if on_token is not None:
            on_token(token)
        return True

    stats = model.generate_tokens(_prompt_ids(tokenizer, prompt), max_tokens, _eos_ids(tokenizer),
                                  collect, sampler, logits_processors, kv_bits=kv_bits,
                                  kv_group_size=kv_group_size,
                                  quantized_kv_start=quantized_kv_start)
    text = tokenizer.decode(tokens)
    if verbose:
        print("=" * 10)
        print(text)
        print("=" * 10)
        print(f"Prompt: {stats['prompt_tokens']} tokens, {stats['prompt_tps']:.3f} tokens-per-sec")
        print(f"Generation: {stats['generation_tokens']} tokens, "
              f"{stats['generation_tps']:.3f} tokens-per-sec")
        print(f"Peak memory: {stats['peak_memory_mb'] / 1024:.3f} GB")
        sys.stdout.flush()
    return text
