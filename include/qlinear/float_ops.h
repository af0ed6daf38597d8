// The float operations decoder models need, with MLX's semantics (mx.fast.rms_norm,
// mx.fast.rope, mx.softmax, mx.fast.scaled_dot_product_attention, nn.silu, mlx-lm's
// swiglu, nn.Linear's product). Inputs float32, float16 or bfloat16; every op computes
// in float32 and returns x's dtype (linear: the promoted dtype). Bad arguments throw
// std::invalid_argument "[op] ..." naming the values, as the quantized ops do.
#pragma once

#include <optional>
#include <string_view>

#include "qlinear/tensor.h"

namespace qlinear {

// x * rsqrt(mean(x^2, axis=-1) + eps) * weight; weight (x.shape[-1]) or none.
Tensor rms_norm(const Tensor& x, const std::optional<Tensor>& weight, float eps);

// Rotary position embedding of x (..., T, D) at positions offset .. offset + T - 1 on
// its first `dims` features. Frequencies base^(-2i/dims), or 1 / freqs[i] when freqs
// (dims / 2 values) is given (then base must be nullopt); angles scaled by `scale`.
Tensor rope(const Tensor& x, int dims, bool traditional, std::optional<float> base, float scale,
            std::int64_t offset, const std::optional<Tensor>& freqs = std::nullopt);

// Softmax along the last axis, in float32 (MLX's precise=True).
Tensor softmax(const Tensor& x);

// softmax(q @ k.T * scale + mask) @ v with q (B, heads, Tq, D), k and v (B, kv_heads, Tk,
// D), heads a multiple of kv_heads (grouped-query attention). mask "" (none) or
// "causal": query i sees keys j <= i + Tk - Tq, as MLX aligns it.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, float scale,
                                    std::string_view mask = "");

// x * sigmoid(x).
Tensor silu(const Tensor& x);
// silu(gate) * up, same shapes (mlx-lm's swiglu).
Tensor swiglu(const Tensor& gate, const Tensor& up);

// x (..., K) @ weight.T + bias, weight (N, K), bias (N) or none; float32 sums.
Tensor linear(const Tensor& x, const Tensor& weight, const std::optional<Tensor>& bias);

}  // namespace qlinear
