// The shard of a parameter that one rank keeps (shared by shard_inplace and the sharded
// layers' from_linear / from_quantized_linear).
#pragma once

#include <string>
#include <string_view>

#include "qlinear/nn/sharded_layers.h"

namespace qlinear::nn::detail {

// Part `rank` of `size` of every segment of tensor along axis, concatenated. Throws
// std::invalid_argument naming op and `name` where a segment does not split evenly. A
// tensor not read yet (io::unread_place) has only the shard's bytes read from its file.
Tensor shard_tensor(std::string_view op, const std::string& name, const Tensor& tensor, int axis,
                    const Segments& segments, int rank, int size);

// module.parameters() with each tensor the predicate picks replaced by this rank's shard.
NamedParameters sharded_parameters(std::string_view op, const Module& module,
                                   const ShardingPredicate& predicate,
                                   const distributed::Group& group);

}  // namespace qlinear::nn::detail
