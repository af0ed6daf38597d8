"""mlx-lm's side of `qlinear bench-model`: greedy decode and prefill speed of a model folder
in mlx-lm on MLX's CPU device (the C++ command line runs this module):

  python -m qlinear.lm.bench_mlx_lm DIR [--decode-prompt-tokens 16] [--decode-tokens 4]
         [--prefill-tokens 8]

prints one JSON object: the MLX and mlx-lm versions, and for "decode" and "prefill" the
prompt and generated lengths, tokens per second and seconds. It drives
``mlx_lm.generate.generate_step``, the token loop under ``mlx_lm.generate`` and
``stream_generate`` (those two also need a tokenizer, which a synthesized folder has not).
Prompt ids are i * 7919 mod vocab for position i, as `qlinear bench-model` makes them.
"""

import argparse
import json
import statistics
import time
from importlib import metadata
from pathlib import Path

import mlx.core as mx
from mlx_lm.generate import generate_step
from mlx_lm.utils import load_model


def prompt_ids(length, vocab):
    """The benchmark's prompt: fixed ids spread over the vocabulary."""
    return [(i * 7919) % vocab for i in range(length)]


def token_times(model, prompt, max_tokens):
    """Greedy generation as mlx_lm.generate runs it; returns the start and the time each
    token arrived."""
    arrivals = []
    start = time.perf_counter()
    for _token, _logprobs in generate_step(mx.array(prompt), model, max_tokens=max_tokens):
        arrivals.append(time.perf_counter())
    return start, arrivals


def decode_rate(model, prompt, tokens):
    """Tokens per second of one decode step: one over the median gap between consecutive
    tokens (each gap is one forward pass of one token and its sampling)."""
    _start, arrivals = token_times(model, prompt, tokens)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    median = statistics.median(gaps)
    return {"prompt_tokens": len(prompt), "tokens": len(arrivals), "tps": 1.0 / median,
            "ms_per_token": 1e3 * median}


def prefill_rate(model, prompt):
    """mlx-lm's prompt_tps: prompt tokens over the time to the first generated token."""
    start, arrivals = token_times(model, prompt, 1)
    seconds = arrivals[0] - start
    return {"tokens": len(prompt), "tps": len(prompt) / seconds, "seconds": seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--decode-prompt-tokens", type=int, default=16)
    parser.add_argument("--decode-tokens", type=int, default=4)
    parser.add_argument("--prefill-tokens", type=int, default=8)
    args = parser.parse_args(argv)
    if args.decode_tokens < 3 or args.decode_prompt_tokens < 1 or args.prefill_tokens < 1:
        parser.error("--decode-tokens must be at least 3, the prompt lengths at least 1")
    mx.set_default_device(mx.cpu)
    model, config = load_model(Path(args.model))
    vocab = config["vocab_size"]
    token_times(model, prompt_ids(4, vocab), 2)  # warm-up: weights paged in, kernels built
    result = {
        "mlx": metadata.version("mlx"),
        "mlx_lm": metadata.version("mlx-lm"),
        "device": str(mx.default_device()),
        "decode": decode_rate(model, prompt_ids(args.decode_prompt_tokens, vocab),
                              args.decode_tokens),
        "prefill": prefill_rate(model, prompt_ids(args.prefill_tokens, vocab)),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
