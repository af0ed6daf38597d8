#include "model/gguf_names.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace qlinear::model {
namespace {

// Names outside the blocks, then names after "blk.N." / "model.layers.N.".
constexpr std::pair<const char*, const char*> kTopNames[] = {
    {"token_embd", "model.embed_tokens"}, {"output_norm", "model.norm"}, {"output", "lm_head"}};
constexpr std::pair<const char*, const char*> kBlockNames[] = {
    {"attn_norm", "input_layernorm"},    {"attn_q", "self_attn.q_proj"},
    {"attn_k", "self_attn.k_proj"},      {"attn_v", "self_attn.v_proj"},
    {"attn_output", "self_attn.o_proj"}, {"attn_q_norm", "self_attn.q_norm"},
    {"attn_k_norm", "self_attn.k_norm"}, {"ffn_norm", "post_attention_layernorm"},
    {"ffn_gate", "mlp.gate_proj"},       {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"}};

// `name` as "<block prefix><digits>.<rest>" translated by kBlockNames from `from` to `to`
// (the pair's first or second member).
template <bool kToMlx>
std::optional<std::string> translate(const std::string& name, const std::string& from_prefix,
                                     const std::string& to_prefix) {
  for (const auto& [gguf, mlx] : kTopNames) {
    if (name == (kToMlx ? gguf : mlx)) return kToMlx ? mlx : gguf;
  }
  if (!name.starts_with(from_prefix)) return std::nullopt;
  const std::size_t start = from_prefix.size();
  const std::size_t dot = name.find('.', start);
  if (dot == std::string::npos || dot == start) return std::nullopt;
  const std::string index = name.substr(start, dot - start);
  if (!std::all_of(index.begin(), index.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  const std::string rest = name.substr(dot + 1);
  for (const auto& [gguf, mlx] : kBlockNames) {
    if (rest == (kToMlx ? gguf : mlx)) return to_prefix + index + "." + (kToMlx ? mlx : gguf);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> mlx_layer_name(const std::string& gguf_layer) {
  return translate<true>(gguf_layer, "blk.", "model.layers.");
}

std::optional<std::string> gguf_layer_name(const std::string& mlx_layer) {
  return translate<false>(mlx_layer, "model.layers.", "blk.");
}

Tensor reorder_llama_rows(const Tensor& tensor, std::int64_t heads, bool to_gguf,
                          const std::string& name) {
  const std::int64_t rows = tensor.shape().front();
  if (heads <= 0 || rows % (2 * heads) != 0) {
    throw std::invalid_argument("[convert] '" + name + "' has " + std::to_string(rows) +
                                " rows, not a multiple of 2 * " + std::to_string(heads) + " heads");
  }
  const std::int64_t half = rows / heads / 2;
  const std::size_t row_bytes = tensor.nbytes() / static_cast<std::size_t>(rows);
  Tensor out = Tensor::zeros(tensor.shape(), tensor.dtype());
  const auto* from = static_cast<const std::byte*>(tensor.data());
  auto* to = static_cast<std::byte*>(out.mutable_data());
  for (std::int64_t h = 0; h < heads; ++h) {
    for (std::int64_t s = 0; s < 2; ++s) {
      for (std::int64_t j = 0; j < half; ++j) {
        const std::int64_t hf_row = (h * 2 + s) * half + j;
        const std::int64_t gguf_row = (h * half + j) * 2 + s;
        const std::int64_t src = to_gguf ? hf_row : gguf_row;
        const std::int64_t dst = to_gguf ? gguf_row : hf_row;
        std::memcpy(to + dst * row_bytes, from + src * row_bytes, row_bytes);
      }
    }
  }
  return out;
}

}  // namespace qlinear::model
