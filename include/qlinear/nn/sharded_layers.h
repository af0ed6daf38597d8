// Tensor-parallel linear layers over a distributed::Group, as mlx.nn's distributed layers
// (AllToShardedLinear, ShardedToAllLinear, their quantized equivalents, shard_linear and
// shard_inplace).
//
// all-to-sharded: every rank holds a block of the output features (rows of the weight,
// with their scales, biases and bias) and returns its block of y; no communication.
// sharded-to-all: every rank holds a block of the input features (columns of the weight,
// whole quantization groups) and the matching block of x; the partial products are
// summed with all_sum and the bias is added once, after the sum.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "qlinear/distributed.h"
#include "qlinear/nn/layers.h"

namespace qlinear::nn {

// How a fused weight is made of parts along the sharded axis (mlx's `segments`): a count
// of equal parts (qkv stored as one matrix: 3), or the fractions of the axis where the
// parts after the first begin. Each part is split across the ranks on its own.
struct Segments {
  int count = 1;
  std::vector<double> fractions;  // where not empty, used instead of count

  Segments(int parts = 1) : count(parts) {}  // NOLINT: an int converts, as in MLX
  Segments(std::vector<double> starts) : fractions(std::move(starts)) {}  // NOLINT
};

enum class Sharding { all_to_sharded, sharded_to_all };
// "all-to-sharded" or "sharded-to-all"; std::invalid_argument naming `op` otherwise.
Sharding parse_sharding(std::string_view op, std::string_view name);

// What the four layers share: the group, the direction, the optional quantization, and
// the forward pass.
class ShardedLinear : public Unary {
 public:
  Tensor operator()(const Tensor& x) const override;
  std::string extra_repr() const override;
  std::optional<QuantSpec> quant_spec() const override { return spec_; }

  const distributed::Group& group() const { return group_; }
  Sharding sharding() const { return sharding_; }
  // The unsharded layer's dimensions.
  std::int64_t input_dims() const;
  std::int64_t output_dims() const;
  bool has_bias() const { return has_parameter("bias"); }

 protected:
  ShardedLinear(Sharding sharding, distributed::Group group, std::optional<QuantSpec> spec);
  void unfreeze_own(const KeyList& keys, bool strict) override;
  // Random parameters of this rank's shape (the constructors that take dimensions).
  void initialize(std::int64_t input_dims, std::int64_t output_dims, bool bias);
  // A Layer holding this rank's shards of source's parameters (from_linear and
  // from_quantized_linear).
  template <class Layer>
  static std::shared_ptr<Layer> shard_of(const Module& source, std::int64_t input_dims,
                                         std::int64_t output_dims, Sharding sharding,
                                         const Segments& segments,
                                         std::optional<distributed::Group> group);

 private:
  // Refuses (std::invalid_argument) dimensions that do not split across the group: the
  // sharded one, in whole quantization groups where the input features of a quantized
  // layer are split.
  void check_splits(std::int64_t input_dims, std::int64_t output_dims,
                    const Segments& segments) const;

  Sharding sharding_;
  distributed::Group group_;
  std::optional<QuantSpec> spec_;
};

class AllToShardedLinear final : public ShardedLinear {
 public:
  // Random weight (output_dims / N, input_dims) and bias as Linear draws them.
  AllToShardedLinear(std::int64_t input_dims, std::int64_t output_dims, bool bias = true,
                     std::optional<distributed::Group> group = std::nullopt);
  static std::shared_ptr<AllToShardedLinear> from_linear(
      const Linear& linear, const Segments& segments = {},
      std::optional<distributed::Group> group = std::nullopt);
  std::string type_name() const override { return "AllToShardedLinear"; }

 private:
  using ShardedLinear::ShardedLinear;
};

class ShardedToAllLinear final : public ShardedLinear {
 public:
  ShardedToAllLinear(std::int64_t input_dims, std::int64_t output_dims, bool bias = true,
                     std::optional<distributed::Group> group = std::nullopt);
  static std::shared_ptr<ShardedToAllLinear> from_linear(
      const Linear& linear, const Segments& segments = {},
      std::optional<distributed::Group> group = std::nullopt);
  std::string type_name() const override { return "ShardedToAllLinear"; }

 private:
  using ShardedLinear::ShardedLinear;
};

// The quantized layers keep the mode, group size and bits of the layer they come from,
// and their parameters frozen, as QuantizedLinear.
class QuantizedAllToShardedLinear final : public ShardedLinear {
 public:
  QuantizedAllToShardedLinear(std::int64_t input_dims, std::int64_t output_dims, bool bias = true,
                              QuantSpec spec = {},
                              std::optional<distributed::Group> group = std::nullopt);
  static std::shared_ptr<QuantizedAllToShardedLinear> from_quantized_linear(
      const QuantizedLinear& layer, const Segments& segments = {},
      std::optional<distributed::Group> group = std::nullopt);
  std::string type_name() const override { return "QuantizedAllToShardedLinear"; }

 private:
  using ShardedLinear::ShardedLinear;
};

class QuantizedShardedToAllLinear final : public ShardedLinear {
 public:
  QuantizedShardedToAllLinear(std::int64_t input_dims, std::int64_t output_dims, bool bias = true,
                              QuantSpec spec = {},
                              std::optional<distributed::Group> group = std::nullopt);
  static std::shared_ptr<QuantizedShardedToAllLinear> from_quantized_linear(
      const QuantizedLinear& layer, const Segments& segments = {},
      std::optional<distributed::Group> group = std::nullopt);
  std::string type_name() const override { return "QuantizedShardedToAllLinear"; }

 private:
  using ShardedLinear::ShardedLinear;
};

// A new sharded layer from a Linear or QuantizedLinear (the layer itself is unchanged);
// std::invalid_argument for any other module.
ModulePtr shard_linear(const Module& module, Sharding sharding, const Segments& segments = {},
                       std::optional<distributed::Group> group = std::nullopt);

// For each parameter path and tensor: the axis to shard and its segments, or nullopt to
// keep the tensor whole (mlx's sharding callable).
using ShardingPredicate =
    std::function<std::optional<std::pair<int, Segments>>(const std::string&, const Tensor&)>;
// mlx's string shardings as predicates: all-to-sharded splits every weight-like tensor
// along its second-to-last axis (the first of a 1-D one) and a bias along its last;
// sharded-to-all splits all but the bias along the last axis.
ShardingPredicate sharding_predicate(Sharding sharding, const Segments& segments = {});

// Replaces the module's parameters with this rank's shards, in place. The module's type
// does not change: it communicates only if it was written to (mlx's shard_inplace).
void shard_inplace(Module& module, const ShardingPredicate& predicate,
                   std::optional<distributed::Group> group = std::nullopt);
void shard_inplace(Module& module, Sharding sharding, const Segments& segments = {},
                   std::optional<distributed::Group> group = std::nullopt);

}  // namespace qlinear::nn
