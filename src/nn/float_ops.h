// The few plain helpers the layers need beside the float ops (ops/float_ops.h): a
// broadcast bias add, a row gather, and random initialisers.
#pragma once

#include <string_view>

#include "qlinear/tensor.h"

namespace qlinear::nn::detail {

// y + bias along the last axis, rounded once to the promoted dtype (MLX's add).
Tensor add_bias(const Tensor& y, const Tensor& bias);

// Rows of table (R, ...) picked by integer ids: shape ids.shape + table.shape[1:].
// Throws std::invalid_argument naming `op` for a non-integer ids tensor or an id out of range.
Tensor take_rows(std::string_view op, const Tensor& table, const Tensor& ids);

// Throws std::invalid_argument naming `op` unless weight is a 2-D float tensor and bias
// (if given) a float vector of weight's first dimension.
void check_layer_tensors(std::string_view op, const Tensor& weight, const Tensor* bias);

// float32 tensors drawn from the layers' generator (see nn::seed).
Tensor uniform(Shape shape, float low, float high);
Tensor normal(Shape shape, float stddev);

}  // namespace qlinear::nn::detail
