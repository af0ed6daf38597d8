// The float ops' shared parts, for the layers and models built on them.
#pragma once

#include <cstdint>
#include <string_view>

#include "qlinear/float_ops.h"

namespace qlinear::ops {

// t itself when it is float32, else a float32 copy.
Tensor float32_of(const Tensor& t);

// linear() reporting errors as `op` (the layers name themselves).
Tensor linear(std::string_view op, const Tensor& x, const Tensor& weight, const Tensor* bias);

// scaled_dot_product_attention on the first kv_length rows of k and v (B, kv_heads,
// capacity, D): a KV cache's filled part without a copy. All float32.
Tensor attention_prefix(std::string_view op, const Tensor& q, const Tensor& k, const Tensor& v,
                        std::int64_t kv_length, float scale, bool causal);

}  // namespace qlinear::ops
