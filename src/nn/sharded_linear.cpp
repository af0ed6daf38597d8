// AllToShardedLinear, ShardedToAllLinear and their quantized equivalents.
#include <cmath>

#include "nn/float_ops.h"
#include "nn/quantized_layer.h"
#include "nn/shard.h"
#include "ops/checks.h"
#include "ops/float_ops.h"
#include "qlinear/nn/sharded_layers.h"

namespace qlinear::nn {
namespace {

distributed::Group group_or_global(const std::optional<distributed::Group>& group) {
  return group ? *group : distributed::init();
}

// MLX's checks: the sharded dimension must split evenly across the ranks.
void check_output_splits(std::string_view layer, std::int64_t output_dims, int ranks) {
  if (output_dims % ranks != 0)
    ops::fail(layer, "Cannot shard the output of size " + std::to_string(output_dims) + " across " +
                         std::to_string(ranks) + " devices.");
}

void check_input_splits(std::string_view layer, std::int64_t input_dims, int ranks) {
  if (input_dims % ranks != 0)
    ops::fail(layer, "The input of size " + std::to_string(input_dims) +
                         " cannot be sharded across " + std::to_string(ranks) + " devices.");
}

// Quantized sharded-to-all: every rank's columns must be whole quantization groups of
// every segment.
void check_whole_groups(std::string_view layer, std::int64_t input_dims, const QuantSpec& spec,
                        const Segments& segments, int ranks) {
  const std::int64_t groups = spec.groups(input_dims);
  const std::int64_t parts =
      segments.fractions.empty() ? std::int64_t{segments.count} * ranks : ranks;
  if (groups % parts != 0)
    ops::fail(
        layer,
        "The input of size " + std::to_string(input_dims) + " (" + std::to_string(groups) +
            " groups of " + std::to_string(spec.group_size) + ") cannot be sharded across " +
            std::to_string(ranks) + " devices in whole groups" +
            (parts == ranks ? "."
                            : " of each of " + std::to_string(segments.count) + " segments."));
}

float init_scale(std::int64_t input_dims) {
  return std::sqrt(1.0f / static_cast<float>(input_dims));
}

// Random parameters as mlx's constructors draw them: a uniform weight of this rank's
// shape, quantized where spec is given (bias zeros then), else a uniform bias.
NamedParameters initial_parameters(std::int64_t input_dims, std::int64_t rows, std::int64_t columns,
                                   bool bias, const std::optional<QuantSpec>& spec) {
  const float scale = init_scale(input_dims);
  Tensor weight = detail::uniform({rows, columns}, -scale, scale);
  if (spec) {
    return detail::quantized_parameters(
        detail::quantize_weight(weight, *spec),
        bias ? std::optional(Tensor::zeros({rows}, Dtype::float32)) : std::nullopt);
  }
  NamedParameters parameters{{"weight", std::move(weight)}};
  if (bias) parameters.emplace_back("bias", detail::uniform({rows}, -scale, scale));
  return parameters;
}

}  // namespace

ShardedLinear::ShardedLinear(Sharding sharding, distributed::Group group,
                             std::optional<QuantSpec> spec)
    : sharding_(sharding), group_(std::move(group)), spec_(spec) {}

Tensor ShardedLinear::operator()(const Tensor& x) const {
  const Tensor& weight = parameter("weight");
  const Tensor* bias = find_parameter("bias");
  const bool sums = sharding_ == Sharding::sharded_to_all;
  Tensor y;
  if (spec_) {
    const Tensor* biases = find_parameter("biases");
    y = quantized_matmul(x, weight, parameter("scales"),
                         biases ? std::optional(*biases) : std::nullopt, true, spec_->group_size,
                         spec_->bits, mode_name(spec_->mode));
  } else {
    // All-to-sharded computes exactly Linear's rows; sharded-to-all adds the bias after the sum.
    y = ops::linear(type_name(), x, weight, sums ? nullptr : bias);
    if (!sums) return y;
  }
  if (sums) y = distributed::all_sum(y, group_);
  return bias ? detail::add_bias(y, *bias) : y;
}

std::int64_t ShardedLinear::input_dims() const {
  const Tensor& weight = parameter("weight");
  const std::int64_t local = spec_ ? detail::unpacked_dims(weight, *spec_) : weight.dim(1);
  return sharding_ == Sharding::sharded_to_all ? local * group_.size() : local;
}

std::int64_t ShardedLinear::output_dims() const {
  const std::int64_t local = parameter("weight").dim(0);
  return sharding_ == Sharding::all_to_sharded ? local * group_.size() : local;
}

std::string ShardedLinear::extra_repr() const {
  std::string repr = "input_dims=" + std::to_string(input_dims()) +
                     ", output_dims=" + std::to_string(output_dims()) +
                     ", bias=" + (has_bias() ? "True" : "False");
  return spec_ ? repr + ", " + detail::settings_repr(*spec_) : repr;
}

// The quantized layers' parameters stay frozen; their children (none today) unfreeze.
void ShardedLinear::unfreeze_own(const KeyList& keys, bool strict) {
  if (!spec_) Module::unfreeze_own(keys, strict);
}

void ShardedLinear::check_splits(std::int64_t input_dims, std::int64_t output_dims,
                                 const Segments& segments) const {
  const int ranks = group_.size();
  if (sharding_ == Sharding::all_to_sharded) {
    check_output_splits(type_name(), output_dims, ranks);
  } else if (spec_) {
    check_whole_groups(type_name(), input_dims, *spec_, segments, ranks);
  } else {
    check_input_splits(type_name(), input_dims, ranks);
  }
}

void ShardedLinear::initialize(std::int64_t input_dims, std::int64_t output_dims, bool bias) {
  check_splits(input_dims, output_dims, Segments{});
  const int ranks = group_.size();
  const bool to_sharded = sharding_ == Sharding::all_to_sharded;
  const std::int64_t rows = to_sharded ? output_dims / ranks : output_dims;
  const std::int64_t columns = to_sharded ? input_dims : input_dims / ranks;
  for (auto& [name, value] : initial_parameters(input_dims, rows, columns, bias, spec_))
    set_parameter(name, std::move(value));
  if (spec_) freeze();
}

template <class Layer>
std::shared_ptr<Layer> ShardedLinear::shard_of(const Module& source, std::int64_t input_dims,
                                               std::int64_t output_dims, Sharding sharding,
                                               const Segments& segments,
                                               std::optional<distributed::Group> group) {
  const distributed::Group g = group_or_global(group);
  // The checks first, on a layer without parameters, for its name and MLX's messages.
  std::shared_ptr<Layer> layer(new Layer(sharding, g, source.quant_spec()));
  layer->check_splits(input_dims, output_dims, segments);
  for (auto& [name, value] : detail::sharded_parameters(layer->type_name(), source,
                                                        sharding_predicate(sharding, segments), g))
    layer->set_parameter(name, std::move(value));
  if (layer->spec_) layer->freeze();
  return layer;
}

AllToShardedLinear::AllToShardedLinear(std::int64_t input_dims, std::int64_t output_dims, bool bias,
                                       std::optional<distributed::Group> group)
    : ShardedLinear(Sharding::all_to_sharded, group_or_global(group), std::nullopt) {
  initialize(input_dims, output_dims, bias);
}

ShardedToAllLinear::ShardedToAllLinear(std::int64_t input_dims, std::int64_t output_dims, bool bias,
                                       std::optional<distributed::Group> group)
    : ShardedLinear(Sharding::sharded_to_all, group_or_global(group), std::nullopt) {
  initialize(input_dims, output_dims, bias);
}

QuantizedAllToShardedLinear::QuantizedAllToShardedLinear(std::int64_t input_dims,
                                                         std::int64_t output_dims, bool bias,
                                                         QuantSpec spec,
                                                         std::optional<distributed::Group> group)
    : ShardedLinear(Sharding::all_to_sharded, group_or_global(group), spec) {
  initialize(input_dims, output_dims, bias);
}

QuantizedShardedToAllLinear::QuantizedShardedToAllLinear(std::int64_t input_dims,
                                                         std::int64_t output_dims, bool bias,
                                                         QuantSpec spec,
                                                         std::optional<distributed::Group> group)
    : ShardedLinear(Sharding::sharded_to_all, group_or_global(group), spec) {
  initialize(input_dims, output_dims, bias);
}

std::shared_ptr<AllToShardedLinear> AllToShardedLinear::from_linear(
    const Linear& linear, const Segments& segments, std::optional<distributed::Group> group) {
  return shard_of<AllToShardedLinear>(linear, linear.input_dims(), linear.output_dims(),
                                      Sharding::all_to_sharded, segments, std::move(group));
}

std::shared_ptr<ShardedToAllLinear> ShardedToAllLinear::from_linear(
    const Linear& linear, const Segments& segments, std::optional<distributed::Group> group) {
  return shard_of<ShardedToAllLinear>(linear, linear.input_dims(), linear.output_dims(),
                                      Sharding::sharded_to_all, segments, std::move(group));
}

std::shared_ptr<QuantizedAllToShardedLinear> QuantizedAllToShardedLinear::from_quantized_linear(
    const QuantizedLinear& layer, const Segments& segments,
    std::optional<distributed::Group> group) {
  return shard_of<QuantizedAllToShardedLinear>(layer, layer.input_dims(), layer.output_dims(),
                                               Sharding::all_to_sharded, segments,
                                               std::move(group));
}

std::shared_ptr<QuantizedShardedToAllLinear> QuantizedShardedToAllLinear::from_quantized_linear(
    const QuantizedLinear& layer, const Segments& segments,
    std::optional<distributed::Group> group) {
  return shard_of<QuantizedShardedToAllLinear>(layer, layer.input_dims(), layer.output_dims(),
                                               Sharding::sharded_to_all, segments,
                                               std::move(group));
}

}  // namespace qlinear::nn
