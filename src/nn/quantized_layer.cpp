#include "nn/quantized_layer.h"

#include "ops/checks.h"

namespace qlinear::nn::detail {

Quantized quantize_weight(const Tensor& weight, const QuantSpec& spec) {
  return quantize(weight, spec.group_size, spec.bits, mode_name(spec.mode));
}

Quantized checked_quantized(std::string_view layer, const QuantSpec& spec, Quantized weight,
                            int ndim) {
  const QuantSpec valid = QuantSpec::resolve(layer, spec.mode, spec.group_size, spec.bits);
  ops::check_packed(layer, valid, weight.wq, weight.scales, weight.biases);
  if (weight.wq.ndim() != ndim) {
    ops::fail(layer, "The weight must have " + std::to_string(ndim) + " dimensions but has shape " +
                         shape_string(weight.wq.shape()) + ".");
  }
  return weight;
}

NamedParameters quantized_parameters(Quantized weight, std::optional<Tensor> bias) {
  NamedParameters out{{"weight", std::move(weight.wq)}, {"scales", std::move(weight.scales)}};
  if (weight.biases) out.emplace_back("biases", std::move(*weight.biases));
  if (bias) out.emplace_back("bias", std::move(*bias));
  return out;
}

std::string settings_repr(const QuantSpec& spec) {
  return "group_size=" + std::to_string(spec.group_size) + ", bits=" + std::to_string(spec.bits) +
         ", mode=" + std::string(mode_name(spec.mode));
}

}  // namespace qlinear::nn::detail
