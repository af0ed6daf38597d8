#include <cmath>

#include "nn/float_ops.h"
#include "ops/float_ops.h"
#include "qlinear/nn/layers.h"

namespace qlinear::nn {

Linear::Linear(std::int64_t input_dims, std::int64_t output_dims, bool bias) {
  const float scale = std::sqrt(1.0f / static_cast<float>(input_dims));
  set_parameter("weight", detail::uniform({output_dims, input_dims}, -scale, scale));
  if (bias) set_parameter("bias", detail::uniform({output_dims}, -scale, scale));
}

Linear::Linear(Tensor weight, std::optional<Tensor> bias) {
  detail::check_layer_tensors("Linear", weight, bias ? &*bias : nullptr);
  set_parameter("weight", std::move(weight));
  if (bias) set_parameter("bias", std::move(*bias));
}

std::string Linear::extra_repr() const {
  return "input_dims=" + std::to_string(input_dims()) +
         ", output_dims=" + std::to_string(output_dims()) +
         ", bias=" + (has_bias() ? "True" : "False");
}

Tensor Linear::operator()(const Tensor& x) const {
  return ops::linear("Linear", x, parameter("weight"), find_parameter("bias"));
}

ModulePtr Linear::to_quantized(const QuantSpec& spec) const {
  return QuantizedLinear::from_linear(*this, spec);
}

}  // namespace qlinear::nn
