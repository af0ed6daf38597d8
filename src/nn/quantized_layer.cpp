#include "nn/quantized_layer.h"

namespace qlinear::nn::detail {

Quantized quantize_weight(const Tensor& weight, const QuantSpec& spec) {
  return quantize(weight, spec.group_size, spec.bits, mode_name(spec.mode));
}

std::string settings_repr(const QuantSpec& spec) {
  return "group_size=" + std::to_string(spec.group_size) + ", bits=" + std::to_string(spec.bits) +
         ", mode=" + std::string(mode_name(spec.mode));
}

}  // namespace qlinear::nn::detail
