"""qlinear.lm.sample_utils against mlx-lm 0.32.2's sample_utils, live: the top_p, min_p and
top_k masks and the logits processors' values on the same arrays; generation with a
repetition penalty gives mlx-lm's tokens; seeded sampling reproduces itself; the command
line's sampling flags and the tokenizer helper of the C++ command line."""

import subprocess
import sys

import numpy as np
import pytest

from qlinear import lm
from qlinear.lm import sample_utils

mlx_sample_utils = pytest.importorskip("mlx_lm.sample_utils", exc_type=ImportError)
mlx_lm_utils = pytest.importorskip("mlx_lm.utils", exc_type=ImportError)
pytest.importorskip("transformers")

from test_lm_models import CONFIGS, PROMPT, _mlx_model, _write_tokenizer  # noqa: E402


def _logprobs(rng, rows, vocab, spread=2.0):
    logits = rng.normal(0, spread, size=(rows, vocab)).astype(np.float32)
    top = logits.max(axis=-1, keepdims=True)
    lse = top + np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))
    return (logits - lse).astype(np.float32)


def _theirs(mx, fn, logprobs, *args):
    return np.array(fn(mx.array(logprobs), *args))


@pytest.mark.parametrize("top_p", [0.1, 0.5, 0.9, 0.99])
def test_top_p_mask_matches_mlx_lm(mx, rng, top_p):
    logprobs = _logprobs(rng, 4, 300)
    ours = sample_utils.apply_top_p(logprobs, top_p)
    theirs = _theirs(mx, mlx_sample_utils.apply_top_p, logprobs, top_p)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("min_p,keep", [(0.01, 1), (0.1, 1), (0.5, 1), (0.9, 8), (1.0, 3)])
def test_min_p_mask_matches_mlx_lm(mx, rng, min_p, keep):
    logprobs = _logprobs(rng, 4, 300)
    ours = sample_utils.apply_min_p(logprobs, min_p, keep)
    theirs = _theirs(mx, mlx_sample_utils.apply_min_p, logprobs, min_p, keep)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("top_k", [1, 5, 50, 299])
def test_top_k_mask_matches_mlx_lm(mx, rng, top_k):
    logprobs = _logprobs(rng, 4, 300)
    ours = sample_utils.apply_top_k(logprobs, top_k)
    theirs = _theirs(mx, mlx_sample_utils.apply_top_k, logprobs, top_k)
    np.testing.assert_array_equal(ours, theirs)


def test_filter_errors_name_the_values(rng):
    logprobs = _logprobs(rng, 1, 10)
    with pytest.raises(ValueError, match=r"`top_k` has to be an integer in the \(0, 10\) "
                                         r"interval, but is 10"):
        sample_utils.apply_top_k(logprobs, 10)
    with pytest.raises(ValueError, match=r"`min_p` has to be a float in the \[0, 1\] interval"):
        sample_utils.make_sampler(1.0, min_p=1.5)
    with pytest.raises(ValueError, match=r"`min_tokens_to_keep` has to be a positive integer"):
        sample_utils.apply_min_p(logprobs, 0.1, 0)
    with pytest.raises(ValueError, match=r"penalty must be a non-negative float, got -1"):
        sample_utils.make_logits_processors(repetition_penalty=-1.0)


@pytest.mark.parametrize("kwargs", [
    dict(repetition_penalty=1.3),
    dict(repetition_penalty=0.7, repetition_context_size=3),
    dict(presence_penalty=0.5, presence_context_size=4),
    dict(frequency_penalty=0.25),
    dict(logit_bias={3: 2.0, 40: -1.5}),
    dict(logit_bias={5: 1.0}, repetition_penalty=1.5, presence_penalty=0.2,
         frequency_penalty=0.1, frequency_context_size=6),
])
def test_logits_processors_match_mlx_lm(mx, rng, kwargs):
    logits = rng.normal(0, 3, size=(1, 64)).astype(np.float32)
    tokens = np.array([3, 9, 9, 40, 3, 3, 12, 63, 0, 9], dtype=np.int64)
    ours = logits
    for process in sample_utils.make_logits_processors(**kwargs):
        ours = process(tokens, ours)
    theirs = mx.array(logits)
    for process in mlx_sample_utils.make_logits_processors(**kwargs):
        theirs = process(mx.array(tokens), theirs)
    np.testing.assert_array_equal(ours, np.array(theirs))


def test_temperature_zero_is_the_argmax(rng):
    logprobs = _logprobs(rng, 3, 500)
    sampler = sample_utils.make_sampler(0.0, top_k=3, seed=1)
    np.testing.assert_array_equal(sampler(logprobs), logprobs.argmax(axis=-1))


def test_a_seed_reproduces_its_draws_and_follows_the_softmax(rng):
    probs = np.array([0.5, 0.3, 0.15, 0.05], dtype=np.float32)
    logprobs = np.tile(np.log(probs), (20000, 1))
    draws = sample_utils.make_sampler(1.0, seed=9)(logprobs)
    np.testing.assert_array_equal(draws, sample_utils.make_sampler(1.0, seed=9)(logprobs))
    assert not np.array_equal(draws, sample_utils.make_sampler(1.0, seed=10)(logprobs))
    freq = np.bincount(draws, minlength=4) / len(draws)
    sigma = np.sqrt(probs * (1 - probs) / len(draws))
    assert np.all(np.abs(freq - probs) < 5 * sigma), freq
    # top_k=2 at temperature 2: only the two most likely, in ratio (0.5 / 0.3) ** 0.5.
    draws = sample_utils.make_sampler(2.0, top_k=2, seed=3)(logprobs)
    assert set(np.unique(draws)) == {0, 1}
    share = np.sqrt(0.5) / (np.sqrt(0.5) + np.sqrt(0.3))
    assert abs(np.mean(draws == 0) - share) < 5 * np.sqrt(share * (1 - share) / len(draws))


@pytest.fixture(scope="module")
def folder(tmp_path_factory, mx):
    model = _mlx_model(mx, "llama")
    out = tmp_path_factory.mktemp("sampling") / "llama-float32"
    mlx_lm_utils.save_model(out, model)
    mlx_lm_utils.save_config(dict(CONFIGS["llama"]), out / "config.json")
    _write_tokenizer(out)
    return out


def _ours(model, n, **kwargs):
    tokens = []
    model.generate_tokens(PROMPT, n, [], lambda t: tokens.append(t) is None, **kwargs)
    return tokens


def _mlx_tokens(mx, model, n, **kwargs):
    from mlx_lm.generate import generate_step

    steps = generate_step(mx.array(PROMPT), model, max_tokens=n, **kwargs)
    return [int(t) for t, _ in steps]


def test_generation_with_logits_processors_matches_mlx_lm(folder, mx):
    theirs_model, _ = mlx_lm_utils.load_model(folder)
    model, _ = lm.load(folder)
    for kwargs in [dict(repetition_penalty=1.5, repetition_context_size=8),
                   dict(frequency_penalty=0.8, presence_penalty=0.3)]:
        expected = _mlx_tokens(mx, theirs_model, 24,
                               logits_processors=mlx_sample_utils.make_logits_processors(**kwargs))
        assert _ours(model, 24, logits_processors=sample_utils.make_logits_processors(**kwargs)) \
            == expected, kwargs
        assert expected != _mlx_tokens(mx, theirs_model, 24)  # the penalty changed something
    # top_k=1 leaves one token to draw, whatever the stream: mlx-lm's greedy tokens.
    greedy = _mlx_tokens(mx, theirs_model, 16)
    assert _ours(model, 16, sampler=sample_utils.make_sampler(0.7, top_k=1, seed=1)) == greedy


def test_python_callables_are_samplers_and_processors(folder):
    model, _ = lm.load(folder)
    greedy = _ours(model, 12)
    assert _ours(model, 12, sampler=lambda logprobs: np.argmax(logprobs, axis=-1)) == greedy

    def forbid_first(tokens, logits):
        assert list(tokens[:len(PROMPT)]) == PROMPT
        logits = np.array(logits)
        logits[:, greedy[0]] = -np.inf
        return logits

    assert greedy[0] not in _ours(model, 4, logits_processors=[forbid_first])


def test_seeded_generation_reproduces_itself(folder):
    model, tokenizer = lm.load(folder)
    run = lambda seed: lm.generate(model, tokenizer, PROMPT, max_tokens=24,  # noqa: E731
                                   sampler=sample_utils.make_sampler(1.0, top_p=0.95, seed=seed))
    assert run(11) == run(11)
    assert run(11) != run(12)


def test_command_line_sampling_flags(folder):
    def run(*flags):
        return subprocess.run([sys.executable, "-m", "qlinear.lm.generate", "--model", str(folder),
                               "--prompt", "the quick fox", "-m", "16", "--verbose", "false",
                               *flags], capture_output=True, text=True, check=True).stdout

    sampled = run("--temp", "1.0", "--top-p", "0.9", "--min-p", "0.01", "--top-k", "20",
                  "--seed", "4")
    assert sampled == run("--temp", "1.0", "--top-p", "0.9", "--min-p", "0.01", "--top-k", "20",
                          "--seed", "4")
    assert run("--temp", "1.0", "--top-k", "1", "--seed", "5") == run()  # one candidate: greedy
    assert run("--repetition-penalty", "2.0") != run()


def test_cli_tokenizer_encodes_as_mlx_lm_generate_and_streams_the_text(folder):
    """The helper `qlinear generate --prompt` runs: mlx_lm.generate's prompt ids (chat
    template, system prompt, or raw), and the decoded text of the ids it is fed."""
    import json

    import mlx_lm

    _, their_tokenizer = mlx_lm.load(str(folder))

    def encode(*flags):
        out = subprocess.run([sys.executable, "-m", "qlinear.lm.cli_tokenizer", "encode",
                              str(folder), "the quick fox", *flags], capture_output=True,
                             text=True, check=True).stdout
        return json.loads(out)

    messages = [{"role": "system", "content": "be brief"},
                {"role": "user", "content": "the quick fox"}]
    chat = their_tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert encode("--system-prompt", "be brief")["ids"] == \
        their_tokenizer.encode(chat, add_special_tokens=False)
    raw = encode("--ignore-chat-template")
    assert raw["ids"] == their_tokenizer.encode("the quick fox", add_special_tokens=True)
    assert raw["eos"] == [their_tokenizer.eos_token_id]
    ids = their_tokenizer.encode("hello world, hello model", add_special_tokens=False)
    text = subprocess.run([sys.executable, "-m", "qlinear.lm.cli_tokenizer", "stream", str(folder)],
                          input="".join(f"{i}\n" for i in ids), capture_output=True, text=True,
                          check=True).stdout
    assert text == their_tokenizer.decode(ids)
