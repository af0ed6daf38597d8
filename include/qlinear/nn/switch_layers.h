// Mixture-of-experts layers with mlx-lm's semantics (mlx_lm/models/switch_layers.py):
// SwitchLinear and QuantizedSwitchLinear hold one matrix per expert and multiply each
// token by the experts an index tensor picks for it; SwitchGLU and SwitchMLP are the
// expert MLPs built from them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "qlinear/nn/layers.h"

namespace qlinear::nn {

// mlx-lm's layers define no _extra_repr, so they print as "SwitchLinear()" there and here.

// A layer of stacked experts: weight (num_experts, output_dims, input_dims).
// y = x[lhs] @ weight[indices].T + bias[indices], where x (..., M, input_dims) and
// indices broadcast as in gather_qmm: the result has shape
// broadcast(x.shape[:-2], indices.shape) + (M, output_dims). sorted_indices says the
// indices are sorted (mlx-lm passes it); it is a hint and never changes the result.
class SwitchLayer : public Module {
 public:
  virtual Tensor operator()(const Tensor& x, const Tensor& indices,
                            bool sorted_indices = false) const = 0;
  virtual std::int64_t input_dims() const = 0;
  std::int64_t output_dims() const { return parameter("weight").dim(1); }
  std::int64_t num_experts() const { return parameter("weight").dim(0); }
  bool has_bias() const { return has_parameter("bias"); }

 protected:
  // bias[indices] added to y's rows (a no-op without a bias), as mlx-lm's
  // x + expand_dims(bias[indices], -2).
  Tensor with_bias(Tensor y, const Tensor& indices) const;
};

// The float expert layer, initialised uniform in +-sqrt(1 / input_dims), bias zeros.
class SwitchLinear : public SwitchLayer, public Quantizable {
 public:
  SwitchLinear(std::int64_t input_dims, std::int64_t output_dims, std::int64_t num_experts,
               bool bias = true);
  // A SwitchLinear holding these tensors: weight (E, N, K) of a float dtype, bias (E, N).
  explicit SwitchLinear(Tensor weight, std::optional<Tensor> bias = std::nullopt);
  std::string type_name() const override { return "SwitchLinear"; }
  Tensor operator()(const Tensor& x, const Tensor& indices,
                    bool sorted_indices = false) const override;
  std::int64_t input_dims() const override { return parameter("weight").dim(2); }
  std::int64_t quantized_axis_size() const override { return input_dims(); }
  ModulePtr to_quantized(const QuantSpec& spec) const override;
};

// The quantized expert layer: weight (E, N, packed), scales and biases (affine) as
// quantize returns them for the stacked weight, optional float bias (E, N); frozen for
// good like QuantizedLinear. y = gather_qmm(x, weight, scales, biases,
// rhs_indices=indices, transpose=true) + bias[indices].
class QuantizedSwitchLinear : public SwitchLayer {
 public:
  // A uniform +-sqrt(1/input_dims) stack, quantized; bias zeros.
  QuantizedSwitchLinear(std::int64_t input_dims, std::int64_t output_dims, std::int64_t num_experts,
                        bool bias = true, QuantSpec spec = {});
  // Quantizes layer's weight and keeps its bias (mlx-lm's SwitchLinear.to_quantized).
  static std::shared_ptr<QuantizedSwitchLinear> from_switch_linear(const SwitchLinear& layer,
                                                                   QuantSpec spec = {});
  // Wraps tensors already quantized with spec (weight (E, N, packed)); std::invalid_argument
  // if they do not fit.
  static std::shared_ptr<QuantizedSwitchLinear> from_quantized(
      QuantSpec spec, Quantized weight, std::optional<Tensor> bias = std::nullopt);

  std::string type_name() const override { return "QuantizedSwitchLinear"; }
  std::optional<QuantSpec> quant_spec() const override { return spec_; }
  Tensor operator()(const Tensor& x, const Tensor& indices,
                    bool sorted_indices = false) const override;
  std::int64_t input_dims() const override;

 protected:
  void unfreeze_own(const KeyList& keys, bool strict) override;

 private:
  QuantizedSwitchLinear(QuantSpec spec, Quantized weight, std::optional<Tensor> bias);
  QuantSpec spec_;
};

// What SwitchGLU and SwitchMLP share: mlx-lm's routing around their experts. x (..., D)
// with indices (..., k) (x.shape[:-1] broadcasting against indices.shape[:-1]) gives
// (..., k, D'). From 64 indices on, the token-expert pairs are sorted by expert first
// and the results put back in order, as mlx-lm does.
class SwitchMlpBase : public Module {
 public:
  Tensor operator()(const Tensor& x, const Tensor& indices) const;

 protected:
  // The experts' computation on x (..., 1, D) for the (possibly sorted) indices.
  virtual Tensor experts(const Tensor& x, const Tensor& indices, bool sorted) const = 0;
  const SwitchLayer& layer(const std::string& name) const;
};

// down_proj(swiglu(gate_proj(x), up_proj(x))): mlx-lm's SwitchGLU with its default
// activation. Layers float (SwitchLinear) or quantized after nn::quantize.
class SwitchGLU : public SwitchMlpBase {
 public:
  SwitchGLU(std::int64_t input_dims, std::int64_t hidden_dims, std::int64_t num_experts,
            bool bias = false);
  // Around existing layers (e.g. those of a loaded model tree).
  SwitchGLU(ModulePtr gate_proj, ModulePtr up_proj, ModulePtr down_proj);
  std::string type_name() const override { return "SwitchGLU"; }

 protected:
  Tensor experts(const Tensor& x, const Tensor& indices, bool sorted) const override;
};

// fc2(gelu(fc1(x))): mlx-lm's SwitchMLP with its default activation,
// nn.GELU(approx="precise"), which in MLX is the tanh approximation.
class SwitchMLP : public SwitchMlpBase {
 public:
  SwitchMLP(std::int64_t input_dims, std::int64_t hidden_dims, std::int64_t num_experts,
            bool bias = false);
  std::string type_name() const override { return "SwitchMLP"; }

 protected:
  Tensor experts(const Tensor& x, const Tensor& indices, bool sorted) const override;
};

}  // namespace qlinear::nn
