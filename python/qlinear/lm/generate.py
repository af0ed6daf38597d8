"""python -m qlinear.lm.generate --model DIR --prompt TEXT: mlx_lm.generate's command line
(its sampling flags and defaults; the chat template applied unless
--ignore-chat-template). --repetition-penalty / --repetition-context-size are
make_logits_processors' arguments (mlx_lm.generate 0.32.2 has no such flags). Under
mpirun the model is sharded over the ranks (sharded_load) and rank 0 prints."""

import argparse
import sys

from qlinear import distributed
from qlinear.lm import generate, load, sharded_load
from qlinear.lm.sample_utils import make_logits_processors, make_sampler


def build_parser():
    parser = argparse.ArgumentParser(description="Generate text from an mlx-lm model folder.")
    parser.add_argument("--model", required=True, help="The model folder")
    parser.add_argument("--prompt", "-p", default="hello", help="Message ('-' reads stdin)")
    parser.add_argument("--max-tokens", "-m", type=int, default=100, help="Tokens to generate")
    parser.add_argument("--temp", type=float, default=0.0, help="Sampling temperature (0: greedy)")
    parser.add_argument("--top-p", type=float, default=1.0, help="Sampling top-p")
    parser.add_argument("--min-p", type=float, default=0.0, help="Sampling min-p")
    parser.add_argument("--top-k", type=int, default=0, help="Sampling top-k")
    parser.add_argument("--min-tokens-to-keep", type=int, default=1,
                        help="Minimum tokens to keep for min-p sampling")
    parser.add_argument("--seed", type=int, default=None,
                        help="Seed of qlinear's random stream (not MLX's)")
    parser.add_argument("--repetition-penalty", type=float, default=None,
                        help="Multiplicative penalty of recent tokens' logits")
    parser.add_argument("--repetition-context-size", type=int, default=20,
                        help="Recent tokens the repetition penalty looks at")
    parser.add_argument("--system-prompt", default=None, help="System prompt for the chat template")
    parser.add_argument("--ignore-chat-template", action="store_true",
                        help="Use the raw prompt without the tokenizer's chat template")
    parser.add_argument("--verbose", type=lambda s: s.lower() in ("true", "1", "yes"), default=True,
                        help="Print the text and the statistics (default true)")
    # The quantized KV cache, as mlx_lm.generate's flags.
    parser.add_argument("--kv-bits", type=int, default=None,
                        help="Bits of the quantized KV cache (default: a float cache)")
    parser.add_argument("--kv-group-size", type=int, default=64,
                        help="Group size of the quantized KV cache")
    parser.add_argument("--quantized-kv-start", type=int, default=0,
                        help="Quantize the KV cache once it holds this many positions")
    return parser


def prompt_ids(tokenizer, prompt, ignore_chat_template=False, system_prompt=None):
    """Token ids of a prompt as mlx_lm.generate's main makes them: '\\n'/'\\t' escapes
    expanded, '-' read from stdin, the chat template applied when the tokenizer has one."""
    prompt = prompt.replace("\\n", "\n").replace("\\t", "\t")
    prompt = sys.stdin.read() if prompt == "-" else prompt
    use_chat_template = not ignore_chat_template and tokenizer.chat_template is not None
    if use_chat_template:
        messages = [] if system_prompt is None else [{"role": "system", "content": system_prompt}]
        messages.append({"role": "user", "content": prompt})
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer.encode(prompt, add_special_tokens=not use_chat_template)


def main(argv=None):
    args = build_parser().parse_args(argv)
    group = distributed.init()
    sharded = group.size() > 1
    model, tokenizer = sharded_load(args.model, tensor_group=group) if sharded else load(args.model)
    prints = group.rank() == 0
    ids = prompt_ids(tokenizer, args.prompt, args.ignore_chat_template, args.system_prompt)
    sampler = make_sampler(args.temp, args.top_p, args.min_p, args.min_tokens_to_keep,
                           top_k=args.top_k, seed=args.seed)
    processors = make_logits_processors(repetition_penalty=args.repetition_penalty,
                                        repetition_context_size=args.repetition_context_size)
    text = generate(model, tokenizer, ids, args.max_tokens, verbose=args.verbose and prints,
                    sampler=sampler, logits_processors=processors, kv_bits=args.kv_bits,
                    kv_group_size=args.kv_group_size, quantized_kv_start=args.quantized_kv_start)
    if not args.verbose and prints:
        print(text)


if __name__ == "__main__":
    main()
