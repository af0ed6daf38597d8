// Cutting parameters into each rank's shard: shard_inplace, the sharding predicates and
// shard_linear (mlx.nn.layers.distributed's _shard, _all_to_sharded, _sharded_to_all).
#include <cstring>
#include <string>
#include <vector>

#include "io/unread_tensor.h"
#include "nn/shard.h"
#include "ops/checks.h"
#include "qlinear/nn/sharded_layers.h"

namespace qlinear::nn {
namespace detail {

Tensor shard_tensor(std::string_view op, const std::string& name, const Tensor& tensor, int axis,
                    const Segments& segments, int rank, int size) {
  const int ndim = tensor.ndim();
  if (ndim == 0 || axis < -ndim || axis >= ndim)
    ops::fail(op, "Cannot shard " + name + " of shape " + shape_string(tensor.shape()) +
                      " along axis " + std::to_string(axis) + ".");
  if (axis < 0) axis += ndim;
  const std::int64_t length = tensor.dim(axis);

  std::vector<std::int64_t> bounds{0};
  if (segments.fractions.empty()) {
    if (segments.count < 1 || length % segments.count != 0)
      ops::fail(op, "Cannot split " + name + " of shape " + shape_string(tensor.shape()) +
                        " into " + std::to_string(segments.count) + " equal segments along axis " +
                        std::to_string(axis) + ".");
    for (int i = 1; i < segments.count; ++i) bounds.push_back(length / segments.count * i);
  } else {
    // int(fraction * length), as mlx's _split turns fractions into indices.
    for (double fraction : segments.fractions)
      bounds.push_back(static_cast<std::int64_t>(fraction * static_cast<double>(length)));
  }
  bounds.push_back(length);

  // Part `rank` of each segment, concatenated: (first index, length) per segment.
  std::vector<std::pair<std::int64_t, std::int64_t>> kept;
  std::int64_t kept_length = 0;
  for (std::size_t i = 0; i + 1 < bounds.size(); ++i) {
    const std::int64_t segment = bounds[i + 1] - bounds[i];
    if (segment < 0 || segment % size != 0)
      ops::fail(op, "Cannot shard " + name + " of shape " + shape_string(tensor.shape()) +
                        " along axis " + std::to_string(axis) + " across " + std::to_string(size) +
                        " ranks: a segment of " + std::to_string(segment) +
                        " does not split into equal parts.");
    kept.emplace_back(bounds[i] + rank * (segment / size), segment / size);
    kept_length += segment / size;
  }

  std::int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= tensor.dim(d);
  for (int d = axis + 1; d < ndim; ++d) inner *= tensor.dim(d);
  const std::uint64_t element_bytes = size_of(tensor.dtype()) * static_cast<std::uint64_t>(inner);
  // The shard's bytes in the tensor, in order; touching ranges joined, so a row split is
  // one range per segment.
  std::vector<io::ByteRange> ranges;
  for (std::int64_t o = 0; o < outer; ++o) {
    for (const auto& [first, count] : kept) {
      const io::ByteRange range{static_cast<std::uint64_t>(o * length + first) * element_bytes,
                                static_cast<std::uint64_t>(count) * element_bytes};
      if (range.length == 0) continue;
      if (!ranges.empty() && ranges.back().offset + ranges.back().length == range.offset)
        ranges.back().length += range.length;
      else
        ranges.push_back(range);
    }
  }
  Shape shape = tensor.shape();
  shape[static_cast<std::size_t>(axis)] = kept_length;
  // A tensor not read yet (sharded loading) reads only these bytes from its file.
  if (const io::UnreadPlace* place = io::unread_place(tensor))
    return io::read_ranges(*place, std::move(shape), tensor.dtype(), ranges);
  Tensor shard = Tensor::zeros(std::move(shape), tensor.dtype());
  const auto* from = static_cast<const char*>(tensor.data());
  auto* to = static_cast<char*>(shard.mutable_data());
  for (const io::ByteRange& range : ranges) {
    std::memcpy(to, from + range.offset, range.length);
    to += range.length;
  }
  return shard;
}

NamedParameters sharded_parameters(std::string_view op, const Module& module,
                                   const ShardingPredicate& predicate,
                                   const distributed::Group& group) {
  NamedParameters shards;
  for (const auto& [path, tensor] : module.parameters()) {
    const std::optional<std::pair<int, Segments>> rule = predicate(path, tensor);
    shards.emplace_back(path, rule ? shard_tensor(op, "'" + path + "'", tensor, rule->first,
                                                  rule->second, group.rank(), group.size())
                                   : tensor);
  }
  return shards;
}

}  // namespace detail

Sharding parse_sharding(std::string_view op, std::string_view name) {
  if (name == "all-to-sharded") return Sharding::all_to_sharded;
  if (name == "sharded-to-all") return Sharding::sharded_to_all;
  ops::fail(op, "Sharding type sharding='" + std::string(name) +
                    "' not supported, choose one of 'all-to-sharded' or 'sharded-to-all'");
}

ShardingPredicate sharding_predicate(Sharding sharding, const Segments& segments) {
  if (sharding == Sharding::all_to_sharded) {
    return [segments](const std::string& path, const Tensor& tensor) {
      if (path.ends_with("bias")) return std::optional(std::pair(-1, segments));
      return std::optional(std::pair(std::max(tensor.ndim() - 2, 0), segments));
    };
  }
  return [segments](const std::string& path,
                    const Tensor&) -> std::optional<std::pair<int, Segments>> {
    if (path.ends_with("bias")) return std::nullopt;
    return std::pair(-1, segments);
  };
}

void shard_inplace(Module& module, const ShardingPredicate& predicate,
                   std::optional<distributed::Group> group) {
  const distributed::Group g = group ? *group : distributed::init();
  TensorMap shards;
  for (auto& [path, tensor] : detail::sharded_parameters("shard_inplace", module, predicate, g))
    shards.emplace(path, std::move(tensor));
  module.load_weights(shards, /*strict=*/false);
}

void shard_inplace(Module& module, Sharding sharding, const Segments& segments,
                   std::optional<distributed::Group> group) {
  shard_inplace(module, sharding_predicate(sharding, segments), std::move(group));
}

ModulePtr shard_linear(const Module& module, Sharding sharding, const Segments& segments,
                       std::optional<distributed::Group> group) {
  const bool to_sharded = sharding == Sharding::all_to_sharded;
  if (const auto* linear = dynamic_cast<const Linear*>(&module)) {
    if (to_sharded) return AllToShardedLinear::from_linear(*linear, segments, group);
    return ShardedToAllLinear::from_linear(*linear, segments, group);
  }
  if (const auto* quantized = dynamic_cast<const QuantizedLinear*>(&module)) {
    if (to_sharded)
      return QuantizedAllToShardedLinear::from_quantized_linear(*quantized, segments, group);
    return QuantizedShardedToAllLinear::from_quantized_linear(*quantized, segments, group);
  }
  ops::fail("shard_linear",
            "Expected a Linear or QuantizedLinear, got " + module.type_name() + ".");
}

}  // namespace qlinear::nn
