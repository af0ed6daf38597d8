// What QuantizedLinear and QuantizedEmbedding share: how they call the ops and how
// they describe their settings.
#pragma once

#include <string>
#include <string_view>

#include "qlinear/nn/module.h"

namespace qlinear::nn::detail {

// ops::quantize with a layer's settings.
Quantized quantize_weight(const Tensor& weight, const QuantSpec& spec);

// Refuses (std::invalid_argument naming `layer`) a spec the ops do not support, or packed
// tensors that are not quantized with it or whose weight does not have `ndim` dimensions
// (2: one matrix; 3: a stack of experts); returns `weight`.
Quantized checked_quantized(std::string_view layer, const QuantSpec& spec, Quantized weight,
                            int ndim = 2);

// A quantized layer's parameters in MLX's order: weight, scales, biases (affine), bias.
NamedParameters quantized_parameters(Quantized weight, std::optional<Tensor> bias = std::nullopt);

// "group_size=64, bits=4, mode=affine"
std::string settings_repr(const QuantSpec& spec);

// The float width of a packed weight's last dimension.
inline std::int64_t unpacked_dims(const Tensor& packed, const QuantSpec& spec) {
  return spec.codes_in(packed.dim(-1));
}

}  // namespace qlinear::nn::detail
