"""python -m qlinear.lm.generate --model DIR --prompt TEXT: mlx_lm.generate's command line
(greedy decoding; the chat template applied unless --ignore-chat-template)."""

import argparse
import sys

from qlinear.lm import generate, load


def main(argv=None):
    parser = argparse.ArgumentParser(description="Generate text from an mlx-lm model folder.")
    parser.add_argument("--model", required=True, help="The model folder")
    parser.add_argument("--prompt", "-p", default="hello", help="Message ('-' reads stdin)")
    parser.add_argument("--max-tokens", "-m", type=int, default=100, help="Tokens to generate")
    parser.add_argument("--temp", type=float, default=0.0, help="Sampling temperature (0 only)")
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
    args = parser.parse_args(argv)

    model, tokenizer = load(args.model)
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not args.ignore_chat_template and tokenizer.chat_template is not None:
        messages = [{"role": "user", "content": prompt}]
        if args.system_prompt is not None:
            messages.insert(0, {"role": "system", "content": args.system_prompt})
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    text = generate(model, tokenizer, prompt, args.max_tokens, verbose=args.verbose, temp=args.temp,
                    kv_bits=args.kv_bits, kv_group_size=args.kv_group_size,
                    quantized_kv_start=args.quantized_kv_start)
    if not args.verbose:
        print(text)


if __name__ == "__main__":
    main()
