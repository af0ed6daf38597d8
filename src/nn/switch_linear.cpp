// SwitchLayer's shared parts and the float SwitchLinear (mlx-lm's gather_mm forward).
#include <algorithm>
#include <cmath>
#include <vector>

#include "nn/float_ops.h"
#include "nn/switch_routing.h"
#include "ops/broadcast.h"
#include "ops/checks.h"
#include "ops/float_ops.h"
#include "qlinear/nn/switch_layers.h"

namespace qlinear::nn {
namespace {

constexpr std::string_view kSwitchLinear = "SwitchLinear";

void check_switch_tensors(const Tensor& weight, const std::optional<Tensor>& bias) {
  if (weight.ndim() != 3 || !is_floating(weight.dtype())) {
    ops::fail(kSwitchLinear,
              "weight must be a 3-D floating point tensor (experts, output_dims, "
              "input_dims), got " +
                  std::string(name_of(weight.dtype())) + " with shape " +
                  shape_string(weight.shape()) + ".");
  }
  const Shape expected{weight.dim(0), weight.dim(1)};
  if (bias && (bias->shape() != expected || !is_floating(bias->dtype()))) {
    ops::fail(kSwitchLinear, "bias must be a floating point tensor of shape " +
                                 shape_string(expected) + ", got " +
                                 std::string(name_of(bias->dtype())) + " with shape " +
                                 shape_string(bias->shape()) + ".");
  }
}

}  // namespace

Tensor SwitchLayer::with_bias(Tensor y, const Tensor& indices) const {
  const Tensor* bias = find_parameter("bias");
  if (!bias) return y;
  return detail::add_expert_bias(type_name(), y, *bias, indices);
}

SwitchLinear::SwitchLinear(std::int64_t input_dims, std::int64_t output_dims,
                           std::int64_t num_experts, bool bias) {
  const float scale = std::sqrt(1.0f / static_cast<float>(input_dims));
  set_parameter("weight", detail::uniform({num_experts, output_dims, input_dims}, -scale, scale));
  if (bias) set_parameter("bias", Tensor::zeros({num_experts, output_dims}, Dtype::float32));
}

SwitchLinear::SwitchLinear(Tensor weight, std::optional<Tensor> bias) {
  check_switch_tensors(weight, bias);
  set_parameter("weight", std::move(weight));
  if (bias) set_parameter("bias", std::move(*bias));
}

// gather_mm(x, weight.swapaxes(-1, -2), rhs_indices=indices): each (x matrix, expert)
// pair through the float linear op.
Tensor SwitchLinear::operator()(const Tensor& x, const Tensor& indices, bool) const {
  const Tensor& weight = parameter("weight");
  const std::int64_t N = output_dims(), K = input_dims();
  if (x.ndim() < 2 || x.dim(-1) != K) {
    ops::fail(kSwitchLinear, "x must have shape (..., M, " + std::to_string(K) + "), got " +
                                 shape_string(x.shape()) + ".");
  }
  const detail::ExpertPairs pairs = detail::expert_pairs(kSwitchLinear, x, indices, num_experts());
  const std::int64_t M = x.dim(-2);
  Shape out_shape = pairs.shape;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = Tensor::zeros(out_shape, promote_types(x.dtype(), weight.dtype()));
  const std::size_t x_bytes = static_cast<std::size_t>(M * K) * size_of(x.dtype());
  const std::size_t w_bytes = static_cast<std::size_t>(N * K) * size_of(weight.dtype());
  const std::size_t out_bytes = static_cast<std::size_t>(M * N) * size_of(out.dtype());
  auto* dst = static_cast<char*>(out.mutable_data());
  for (std::size_t p = 0; p < pairs.lhs.size(); ++p) {
    const Tensor xm = Tensor::view({M, K}, x.dtype(),
                                   static_cast<const char*>(x.data()) + pairs.lhs[p] * x_bytes, {});
    const Tensor wm =
        Tensor::view({N, K}, weight.dtype(),
                     static_cast<const char*>(weight.data()) + pairs.rhs[p] * w_bytes, {});
    const Tensor y = ops::linear(kSwitchLinear, xm, wm, nullptr);
    std::copy_n(static_cast<const char*>(y.data()), out_bytes, dst + p * out_bytes);
  }
  return with_bias(std::move(out), indices);
}

ModulePtr SwitchLinear::to_quantized(const QuantSpec& spec) const {
  return QuantizedSwitchLinear::from_switch_linear(*this, spec);
}

}  // namespace qlinear::nn
