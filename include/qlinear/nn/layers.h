// The layers: Linear, Embedding, their quantized equivalents, and Container.
//
// Random initialisation (Linear, Embedding, and the placeholder weights a quantized
// layer starts with) draws from one process-wide std::mt19937, seeded with 0 at start;
// nn::seed() restarts it. It is not synchronised: construct layers from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "qlinear/nn/module.h"

namespace qlinear::nn {

// Restarts the generator layer initialisation draws from.
void seed(std::uint32_t value);

// A layer that maps one tensor to one tensor.
class Unary : public Module {
 public:
  virtual Tensor operator()(const Tensor& x) const = 0;
};

// What makes a float layer one that nn::quantize can replace with its quantized
// equivalent (mlx.nn's "has to_quantized"): Linear, Embedding, SwitchLinear.
class Quantizable {
 public:
  virtual ~Quantizable() = default;
  // The size of the axis quantization groups run along (the weight's last dim).
  virtual std::int64_t quantized_axis_size() const = 0;
  // The quantized equivalent of this layer; throws std::invalid_argument if the
  // weight cannot be quantized with `spec`.
  virtual ModulePtr to_quantized(const QuantSpec& spec) const = 0;
};

// A module that only holds named children and parameters and computes nothing: the
// inner nodes (and norm-like leaves) of a tree built from a checkpoint's weight names.
class Container : public Module {
 public:
  explicit Container(std::string type_name = "Module") : type_name_(std::move(type_name)) {}
  std::string type_name() const override { return type_name_; }

  using Module::set_module;
  using Module::set_modules;
  using Module::set_parameter;

 private:
  std::string type_name_;
};

// y = x @ weight.T + bias; weight (output_dims, input_dims) and bias (output_dims),
// initialised uniform in +-sqrt(1 / input_dims).
class Linear : public Unary, public Quantizable {
 public:
  Linear(std::int64_t input_dims, std::int64_t output_dims, bool bias = true);
  // A Linear holding these tensors (no random draw): weight (output_dims, input_dims) of
  // a float dtype, bias (output_dims). Throws std::invalid_argument on other shapes.
  explicit Linear(Tensor weight, std::optional<Tensor> bias = std::nullopt);
  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override;
  Tensor operator()(const Tensor& x) const override;
  std::int64_t quantized_axis_size() const override { return input_dims(); }
  ModulePtr to_quantized(const QuantSpec& spec) const override;

  std::int64_t input_dims() const { return parameter("weight").dim(1); }
  std::int64_t output_dims() const { return parameter("weight").dim(0); }
  bool has_bias() const { return has_parameter("bias"); }
};

// Rows of weight (num_embeddings, dims) looked up by integer ids; initialised from a
// normal distribution with standard deviation sqrt(1 / dims).
class Embedding : public Unary, public Quantizable {
 public:
  Embedding(std::int64_t num_embeddings, std::int64_t dims);
  // An Embedding holding this float (num_embeddings, dims) table (no random draw).
  explicit Embedding(Tensor weight);
  std::string type_name() const override { return "Embedding"; }
  std::string extra_repr() const override;
  // ids: any integer tensor; the result has shape ids.shape + (dims,).
  Tensor operator()(const Tensor& ids) const override;
  // x @ weight.T, for output projections tied to the embedding.
  Tensor as_linear(const Tensor& x) const;
  std::int64_t quantized_axis_size() const override { return dims(); }
  ModulePtr to_quantized(const QuantSpec& spec) const override;

  std::int64_t num_embeddings() const { return parameter("weight").dim(0); }
  std::int64_t dims() const { return parameter("weight").dim(1); }
};

// The quantized Linear: weight (uint32), scales, biases (affine) and an optional bias,
// all frozen for good (unfreeze() reaches children but never these).
// y = quantized_matmul(x, weight, scales, biases, transpose=true) + bias.
class QuantizedLinear : public Unary {
 public:
  // A uniform +-sqrt(1/input_dims) matrix, quantized; bias zeros.
  QuantizedLinear(std::int64_t input_dims, std::int64_t output_dims, bool bias = true,
                  QuantSpec spec = {});
  // Quantizes linear's weight and keeps its bias.
  static std::shared_ptr<QuantizedLinear> from_linear(const Linear& linear, QuantSpec spec = {});
  // Wraps tensors that are already quantized with spec (weight (output_dims, packed),
  // scales and biases as quantize returns them); std::invalid_argument if they do not fit.
  static std::shared_ptr<QuantizedLinear> from_quantized(QuantSpec spec, Quantized weight,
                                                         std::optional<Tensor> bias = std::nullopt);

  std::string type_name() const override { return "QuantizedLinear"; }
  std::string extra_repr() const override;
  std::optional<QuantSpec> quant_spec() const override { return spec_; }
  Tensor operator()(const Tensor& x) const override;

  std::int64_t input_dims() const;
  std::int64_t output_dims() const { return parameter("weight").dim(0); }
  bool has_bias() const { return has_parameter("bias"); }

 protected:
  void unfreeze_own(const KeyList& keys, bool strict) override;

 private:
  QuantizedLinear(QuantSpec spec, Quantized weight, std::optional<Tensor> bias);
  QuantSpec spec_;
};

// The quantized Embedding: looks up rows of weight, scales and biases and dequantizes
// them. Frozen like QuantizedLinear.
class QuantizedEmbedding : public Unary {
 public:
  // A normal(0, sqrt(1/dims)) matrix, quantized.
  QuantizedEmbedding(std::int64_t num_embeddings, std::int64_t dims, QuantSpec spec = {});
  static std::shared_ptr<QuantizedEmbedding> from_embedding(const Embedding& embedding,
                                                            QuantSpec spec = {});
  // Wraps tensors that are already quantized with spec, as QuantizedLinear::from_quantized.
  static std::shared_ptr<QuantizedEmbedding> from_quantized(QuantSpec spec, Quantized weight);

  std::string type_name() const override { return "QuantizedEmbedding"; }
  std::string extra_repr() const override;
  std::optional<QuantSpec> quant_spec() const override { return spec_; }
  Tensor operator()(const Tensor& ids) const override;
  // quantized_matmul(x, weight, scales, biases, transpose=true): a tied output projection.
  Tensor as_linear(const Tensor& x) const;

  std::int64_t num_embeddings() const { return parameter("weight").dim(0); }
  std::int64_t dims() const;

 protected:
  void unfreeze_own(const KeyList& keys, bool strict) override;

 private:
  QuantizedEmbedding(QuantSpec spec, Quantized weight);
  QuantSpec spec_;
};

}  // namespace qlinear::nn
