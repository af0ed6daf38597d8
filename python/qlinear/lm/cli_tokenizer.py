"""The tokenizer side of `qlinear generate --prompt TEXT` (the C++ command line runs this
module; Hugging Face transformers does the work, as in mlx-lm):

  python -m qlinear.lm.cli_tokenizer encode DIR PROMPT [--ignore-chat-template]
         [--system-prompt S]   prints {"ids": [...], "eos": [...]} as one JSON line
  python -m qlinear.lm.cli_tokenizer stream DIR
         reads token ids, one per line, and prints the text as it grows
"""

import argparse
import json
import sys

from transformers import AutoTokenizer

from qlinear.lm import _eos_ids
from qlinear.lm.generate import prompt_ids


def _stream(tokenizer):
    tokens, shown = [], ""
    for line in sys.stdin:
        tokens.append(int(line))
        text = tokenizer.decode(tokens)
        # Hold back an incomplete UTF-8 sequence until the tokens that finish it come.
        if text.endswith("\ufffd"):
            continue
        sys.stdout.write(text[len(shown):])
        sys.stdout.flush()
        shown = text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    encode = sub.add_parser("encode")
    encode.add_argument("model")
    encode.add_argument("prompt")
    encode.add_argument("--ignore-chat-template", action="store_true")
    encode.add_argument("--system-prompt", default=None)
    stream = sub.add_parser("stream")
    stream.add_argument("model")
    args = parser.parse_args(argv)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    if args.command == "encode":
        ids = prompt_ids(tokenizer, args.prompt, args.ignore_chat_template, args.system_prompt)
        print(json.dumps({"ids": [int(i) for i in ids], "eos": _eos_ids(tokenizer)}))
    else:
        _stream(tokenizer)


if __name__ == "__main__":
    main()
