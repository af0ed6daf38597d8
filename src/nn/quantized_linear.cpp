#include <cmath>

#include "nn/float_ops.h"
#include "nn/quantized_layer.h"
#include "ops/checks.h"
#include "qlinear/nn/layers.h"

namespace qlinear::nn {

QuantizedLinear::QuantizedLinear(QuantSpec spec, Quantized weight, std::optional<Tensor> bias)
    : spec_(spec) {
  for (auto& [name, value] : detail::quantized_parameters(std::move(weight), std::move(bias)))
    set_parameter(name, std::move(value));
  freeze();
}

QuantizedLinear::QuantizedLinear(std::int64_t input_dims, std::int64_t output_dims, bool bias,
                                 QuantSpec spec)
    : QuantizedLinear(
          spec,
          detail::quantize_weight(detail::uniform({output_dims, input_dims},
                                                  -std::sqrt(1.0f / static_cast<float>(input_dims)),
                                                  std::sqrt(1.0f / static_cast<float>(input_dims))),
                                  spec),
          bias ? std::optional(Tensor::zeros({output_dims}, Dtype::float32)) : std::nullopt) {}

std::shared_ptr<QuantizedLinear> QuantizedLinear::from_linear(const Linear& linear,
                                                              QuantSpec spec) {
  std::optional<Tensor> bias;
  if (linear.has_bias()) bias = linear.parameter("bias");
  return std::shared_ptr<QuantizedLinear>(new QuantizedLinear(
      spec, detail::quantize_weight(linear.parameter("weight"), spec), std::move(bias)));
}

std::shared_ptr<QuantizedLinear> QuantizedLinear::from_quantized(QuantSpec spec, Quantized weight,
                                                                 std::optional<Tensor> bias) {
  weight = detail::checked_quantized("QuantizedLinear", spec, std::move(weight));
  if (bias && (bias->ndim() != 1 || bias->dim(0) != weight.wq.dim(0))) {
    ops::fail("QuantizedLinear", "The bias must have shape (" + std::to_string(weight.wq.dim(0)) +
                                     ",) but has shape " + shape_string(bias->shape()) + ".");
  }
  return std::shared_ptr<QuantizedLinear>(
      new QuantizedLinear(spec, std::move(weight), std::move(bias)));
}

std::int64_t QuantizedLinear::input_dims() const {
  return detail::unpacked_dims(parameter("weight"), spec_);
}

std::string QuantizedLinear::extra_repr() const {
  return "input_dims=" + std::to_string(input_dims()) +
         ", output_dims=" + std::to_string(output_dims()) +
         ", bias=" + (has_bias() ? "True" : "False") + ", " + detail::settings_repr(spec_);
}

Tensor QuantizedLinear::operator()(const Tensor& x) const {
  const Tensor* biases = find_parameter("biases");
  Tensor y = quantized_matmul(x, parameter("weight"), parameter("scales"),
                              biases ? std::optional(*biases) : std::nullopt, true,
                              spec_.group_size, spec_.bits, mode_name(spec_.mode));
  const Tensor* bias = find_parameter("bias");
  return bias ? detail::add_bias(y, *bias) : y;
}

// Children (a quantized layer has none today) unfreeze; the quantized parameters never do.
void QuantizedLinear::unfreeze_own(const KeyList&, bool) {}

}  // namespace qlinear::nn
