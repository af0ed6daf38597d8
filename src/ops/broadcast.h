// numpy broadcasting of batch shapes, shared by the ops that take batches of matrices.
#pragma once

#include <cstdint>
#include <optional>

#include "qlinear/tensor.h"

namespace qlinear::ops {

// The shape both broadcast to, or nullopt when they do not.
std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b);

// Flat index, inside `shape`, of element `flat` of `out_shape` that `shape` broadcasts to.
std::int64_t broadcast_offset(const Shape& shape, const Shape& out_shape, std::int64_t flat);

}  // namespace qlinear::ops
