// SwitchGLU and SwitchMLP: mlx-lm's expert MLPs around the SwitchLayers.
#include <cmath>
#include <numbers>

#include "nn/switch_routing.h"
#include "ops/checks.h"
#include "qlinear/float_ops.h"
#include "qlinear/nn/switch_layers.h"

namespace qlinear::nn {
namespace {

// mlx-lm sorts the token-expert pairs by expert from this many indices on.
constexpr std::int64_t kSortFrom = 64;

// MLX's nn.GELU(approx="precise"), the tanh approximation (nn.gelu_approx):
// 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))), computed in float32.
Tensor gelu_approx(const Tensor& x) {
  std::vector<float> values = x.to_floats();
  const float sqrt_2_over_pi = std::sqrt(2.0f / std::numbers::pi_v<float>);
  for (float& v : values) {
    v = 0.5f * v * (1.0f + std::tanh(sqrt_2_over_pi * (v + 0.044715f * v * v * v)));
  }
  return Tensor::from_floats(x.shape(), x.dtype(), values);
}

// (..., 1, N) -> (..., N): mlx-lm's squeeze(-2).
Tensor without_row_axis(const Tensor& y) {
  Shape shape = y.shape();
  shape.erase(shape.end() - 2);
  return y.reshape(std::move(shape));
}

}  // namespace

Tensor SwitchMlpBase::operator()(const Tensor& x, const Tensor& indices) const {
  if (x.ndim() < 1 || indices.ndim() < 1) {
    ops::fail(type_name(), "x and indices need at least one dimension, got shapes " +
                               shape_string(x.shape()) + " and " + shape_string(indices.shape()) +
                               ".");
  }
  Shape expanded = x.shape();
  expanded.insert(expanded.end() - 1, {1, 1});
  const Tensor rows = x.reshape(std::move(expanded));
  if (indices.size() < kSortFrom) return without_row_axis(experts(rows, indices, false));

  const std::int64_t k = indices.dim(-1), tokens = x.size() / std::max<std::int64_t>(x.dim(-1), 1);
  if (tokens * k != indices.size()) {
    ops::fail(type_name(), "indices with shape " + shape_string(indices.shape()) + " must pick " +
                               std::to_string(k) + " experts for each of the " +
                               std::to_string(tokens) + " tokens of x with shape " +
                               shape_string(x.shape()) + ".");
  }
  const detail::SortedPairs sorted =
      detail::sort_by_expert(rows, ops::index_values(type_name(), indices), k);
  const Tensor y = detail::unsort_rows(experts(sorted.x, sorted.indices, true), sorted.inverse);
  Shape shape = indices.shape();
  shape.push_back(y.dim(-1));
  return y.reshape(std::move(shape));
}

const SwitchLayer& SwitchMlpBase::layer(const std::string& name) const {
  return dynamic_cast<const SwitchLayer&>(module_at(name));
}

SwitchGLU::SwitchGLU(std::int64_t input_dims, std::int64_t hidden_dims, std::int64_t num_experts,
                     bool bias)
    : SwitchGLU(std::make_shared<SwitchLinear>(input_dims, hidden_dims, num_experts, bias),
                std::make_shared<SwitchLinear>(input_dims, hidden_dims, num_experts, bias),
                std::make_shared<SwitchLinear>(hidden_dims, input_dims, num_experts, bias)) {}

SwitchGLU::SwitchGLU(ModulePtr gate_proj, ModulePtr up_proj, ModulePtr down_proj) {
  const std::pair<const char*, ModulePtr*> layers[] = {
      {"gate_proj", &gate_proj}, {"up_proj", &up_proj}, {"down_proj", &down_proj}};
  for (const auto& [name, module] : layers) {
    if (!dynamic_cast<const SwitchLayer*>(module->get())) {
      ops::fail("SwitchGLU", std::string(name) +
                                 " must be a SwitchLinear or QuantizedSwitchLinear, got " +
                                 (*module ? (*module)->type_name() : std::string("nothing")) + ".");
    }
    set_module(name, std::move(*module));
  }
}

Tensor SwitchGLU::experts(const Tensor& x, const Tensor& indices, bool sorted) const {
  const Tensor up = layer("up_proj")(x, indices, sorted);
  const Tensor gate = layer("gate_proj")(x, indices, sorted);
  return layer("down_proj")(swiglu(gate, up), indices, sorted);
}

SwitchMLP::SwitchMLP(std::int64_t input_dims, std::int64_t hidden_dims, std::int64_t num_experts,
                     bool bias) {
  set_module("fc1", std::make_shared<SwitchLinear>(input_dims, hidden_dims, num_experts, bias));
  set_module("fc2", std::make_shared<SwitchLinear>(hidden_dims, input_dims, num_experts, bias));
}

Tensor SwitchMLP::experts(const Tensor& x, const Tensor& indices, bool sorted) const {
  return layer("fc2")(gelu_approx(layer("fc1")(x, indices, sorted)), indices, sorted);
}

}  // namespace qlinear::nn
