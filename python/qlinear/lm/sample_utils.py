"""Samplers and logits processors shaped like mlx-lm 0.32.2's ``mlx_lm.sample_utils``.

``make_sampler`` and ``make_logits_processors`` take mlx-lm's arguments, apply the same
filters in the same order (top_p, min_p, top_k; logit_bias, repetition, presence and
frequency penalties) and return callables on numpy arrays that ``qlinear.lm.generate``
runs in C++ without the GIL. Any other Python callable works there too: a sampler takes
log-probabilities (1, vocab) and returns a token id; a processor takes (tokens, logits)
and returns new logits.

The random stream is qlinear's own, not MLX's: ``seed`` reproduces qlinear's tokens on
any machine and thread count (mlx-lm's ``mx.random.seed`` has no effect here). Without a
seed each sampler starts from a fresh random one. XTC sampling is not implemented.
"""

import secrets

from qlinear._qlinear.lm import LogitsProcessor, Sampler, apply_min_p, apply_top_k, apply_top_p
from qlinear._qlinear.lm import make_logits_processors as _make_logits_processors
from qlinear._qlinear.lm import make_sampler as _make_sampler

__all__ = ["LogitsProcessor", "Sampler", "apply_min_p", "apply_top_k", "apply_top_p",
           "greedy_sampler", "make_logits_processors", "make_sampler"]


def make_sampler(temp=0.0, top_p=0.0, min_p=0.0, min_tokens_to_keep=1, top_k=0, *, seed=None):
    """mlx-lm's make_sampler: the argmax for temp 0, else the filters on the
    log-probabilities and a categorical draw from softmax(logprobs / temp)."""
    if seed is None:
        seed = secrets.randbits(64)
    return _make_sampler(temp, top_p, min_p, min_tokens_to_keep, top_k, seed)


greedy_sampler = make_sampler(0.0, seed=0)


def make_logits_processors(logit_bias=None, repetition_penalty=None, repetition_context_size=20,
                           presence_penalty=None, presence_context_size=20,
                           frequency_penalty=None, frequency_context_size=20):
    """mlx-lm's make_logits_processors: a list of processors (tokens, logits) -> logits."""
    bias = {int(k): float(v) for k, v in (logit_bias or {}).items()}
    return _make_logits_processors(bias, repetition_penalty, repetition_context_size,
                                   presence_penalty, presence_context_size, frequency_penalty,
                                   frequency_context_size)
