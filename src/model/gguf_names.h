// llama.cpp's tensor names and layout for llama / qwen2 / qwen3 against mlx-lm's (Hugging
// Face's), both ways.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "qlinear/tensor.h"

namespace qlinear::model {

// A layer's name without ".weight" / ".bias": "blk.3.attn_q" <-> "model.layers.3.self_attn.q_proj";
// nullopt for a name the other side does not have.
std::optional<std::string> mlx_layer_name(const std::string& gguf_layer);
std::optional<std::string> gguf_layer_name(const std::string& mlx_layer);

// llama.cpp's convert_hf_to_gguf.py stores each head's rows of a llama's q_proj (per
// attention head) and k_proj (per KV head) in the order (pair, half) instead of Hugging
// Face's (half, pair), for its rope. to_gguf reorders Hugging Face's rows that way, else
// back. Whole rows move, so packed codes, scales and biases can be reordered alike. Throws
// std::invalid_argument when the rows are not a multiple of 2 * heads.
Tensor reorder_llama_rows(const Tensor& tensor, std::int64_t heads, bool to_gguf,
                          const std::string& name);

}  // namespace qlinear::model
