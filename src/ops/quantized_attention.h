// Attention over a quantized KV cache, as mlx-lm's quantized_scaled_dot_product_attention
// computes it: scores through quantized_matmul on the quantized keys (transpose=true),
// softmax, then quantized_matmul on the quantized values (transpose=false).
#pragma once

#include <cstdint>
#include <string_view>

#include "qlinear/ops.h"

namespace qlinear::ops {

// softmax((q * scale) @ K.T + mask) @ V for q (1, heads, Tq, D) float32, on the first
// kv_length positions of keys and values stored as affine quantize() gives them, each
// (1, kv_heads, capacity, ...) with float32 scales and biases (spec: their group size
// and bits). Each kv head's products take its heads / kv_heads query heads as the rows
// of one matrix (the GQA repeat as M). Causal: query i sees keys j <= i + kv_length - Tq,
// masked scores set to the lowest float as mlx-lm does. Returns (1, heads, Tq, D).
Tensor quantized_attention_prefix(std::string_view op, const Tensor& q, const Quantized& keys,
                                  const Quantized& values, const QuantSpec& spec,
                                  std::int64_t kv_length, float scale, bool causal);

}  // namespace qlinear::ops
