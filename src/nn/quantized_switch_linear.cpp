#include <cmath>

#include "nn/float_ops.h"
#include "nn/quantized_layer.h"
#include "ops/checks.h"
#include "qlinear/nn/switch_layers.h"

namespace qlinear::nn {
namespace {

constexpr std::string_view kOp = "QuantizedSwitchLinear";

}  // namespace

QuantizedSwitchLinear::QuantizedSwitchLinear(QuantSpec spec, Quantized weight,
                                             std::optional<Tensor> bias)
    : spec_(spec) {
  for (auto& [name, value] : detail::quantized_parameters(std::move(weight), std::move(bias)))
    set_parameter(name, std::move(value));
  freeze();
}

QuantizedSwitchLinear::QuantizedSwitchLinear(std::int64_t input_dims, std::int64_t output_dims,
                                             std::int64_t num_experts, bool bias, QuantSpec spec)
    : QuantizedSwitchLinear(
          spec,
          detail::quantize_weight(detail::uniform({num_experts, output_dims, input_dims},
                                                  -std::sqrt(1.0f / static_cast<float>(input_dims)),
                                                  std::sqrt(1.0f / static_cast<float>(input_dims))),
                                  spec),
          bias ? std::optional(Tensor::zeros({num_experts, output_dims}, Dtype::float32))
               : std::nullopt) {}

std::shared_ptr<QuantizedSwitchLinear> QuantizedSwitchLinear::from_switch_linear(
    const SwitchLinear& layer, QuantSpec spec) {
  std::optional<Tensor> bias;
  if (layer.has_bias()) bias = layer.parameter("bias");
  return std::shared_ptr<QuantizedSwitchLinear>(new QuantizedSwitchLinear(
      spec, detail::quantize_weight(layer.parameter("weight"), spec), std::move(bias)));
}

std::shared_ptr<QuantizedSwitchLinear> QuantizedSwitchLinear::from_quantized(
    QuantSpec spec, Quantized weight, std::optional<Tensor> bias) {
  weight = detail::checked_quantized(kOp, spec, std::move(weight), 3);
  const Shape expected{weight.wq.dim(0), weight.wq.dim(1)};
  if (bias && (bias->shape() != expected || !is_floating(bias->dtype()))) {
    ops::fail(kOp, "The bias must be a floating point tensor of shape " + shape_string(expected) +
                       " but is " + std::string(name_of(bias->dtype())) + " with shape " +
                       shape_string(bias->shape()) + ".");
  }
  return std::shared_ptr<QuantizedSwitchLinear>(
      new QuantizedSwitchLinear(spec, std::move(weight), std::move(bias)));
}

std::int64_t QuantizedSwitchLinear::input_dims() const {
  return detail::unpacked_dims(parameter("weight"), spec_);
}

Tensor QuantizedSwitchLinear::operator()(const Tensor& x, const Tensor& indices,
                                         bool sorted_indices) const {
  const Tensor* biases = find_parameter("biases");
  Tensor y = gather_qmm(x, parameter("weight"), parameter("scales"),
                        biases ? std::optional(*biases) : std::nullopt, std::nullopt, indices, true,
                        spec_.group_size, spec_.bits, mode_name(spec_.mode), sorted_indices);
  return with_bias(std::move(y), indices);
}

// Like QuantizedLinear: the quantized parameters stay frozen.
void QuantizedSwitchLinear::unfreeze_own(const KeyList&, bool) {}

}  // namespace qlinear::nn
