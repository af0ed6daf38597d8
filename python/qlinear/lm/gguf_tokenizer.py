"""The tokenizer side of `qlinear convert MODEL.gguf OUT_DIR` (the C++ command line runs
this module): the tokenizer stored in the GGUF metadata, built by Hugging Face
transformers' own GGUF converters and saved as tokenizer.json and tokenizer_config.json.

transformers' `from_pretrained(..., gguf_file=...)` reads the file with a reader that needs
PyTorch; the metadata here comes from gguf-py's reader instead, grouped by transformers'
own table of GGUF tokenizer keys.

  python -m qlinear.lm.gguf_tokenizer MODEL.gguf OUT_DIR
"""

import sys

from gguf import GGUFReader
from transformers import PreTrainedTokenizerFast
from transformers.integrations.gguf.gguf_tokenizer_mapping import (
    GGUF_TOKENIZER_MAPPING,
    convert_gguf_tokenizer,
)


def _metadata(gguf_file):
    """general.architecture and every tokenizer.* value, as Python values."""
    fields = GGUFReader(gguf_file).fields
    keys = [k for k in fields if k == "general.architecture" or k.startswith("tokenizer.")]
    return {key: fields[key].contents() for key in keys}


def save_gguf_tokenizer(gguf_file, folder):
    metadata = _metadata(str(gguf_file))
    groups = {group: {name: metadata[f"tokenizer.{key}"] for key, name in renames.items()
                      if f"tokenizer.{key}" in metadata}
              for group, renames in GGUF_TOKENIZER_MAPPING.items()}
    tokenizer, config = groups["tokenizer"], groups["tokenizer_config"]
    if tokenizer.get("tokenizer_type") == "llama":
        config.setdefault("add_bos_token", True)  # llama.cpp's default for sentencepiece
    tokens = tokenizer["tokens"]
    for name, key in (("bos_token", "bos_token_id"), ("eos_token", "eos_token_id"),
                      ("unk_token", "unknown_token_id"), ("pad_token", "padding_token_id")):
        token_id = metadata.get(f"tokenizer.ggml.{key}")
        if token_id is not None:
            config[name] = tokens[token_id]
    backend, extra = convert_gguf_tokenizer(metadata["general.architecture"], tokenizer)
    PreTrainedTokenizerFast(tokenizer_object=backend, **config, **extra).save_pretrained(folder)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    save_gguf_tokenizer(sys.argv[1], sys.argv[2])
