// Input validation shared by the ops; every failure throws std::invalid_argument
// whose message starts with "[op]" and names the values.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qlinear/ops.h"

namespace qlinear::ops {

[[noreturn]] void fail(std::string_view op, const std::string& message);

// float32, float16 or bfloat16: the dtypes the kernels compute on.
void check_compute_dtype(std::string_view op, std::string_view what, const Tensor& t);

// wq (uint32), scales and biases agree with each other and with spec; returns the
// number of codes per packed row (the expanded last dimension).
std::int64_t check_packed(std::string_view op, const QuantSpec& spec, const Tensor& wq,
                          const Tensor& scales, const std::optional<Tensor>& biases);

// The nvfp4 global scale: absent, or a finite non-zero float32 scalar given in mode
// nvfp4. Returns a pointer to its value, or nullptr.
const float* check_global_scale(std::string_view op, const QuantSpec& spec,
                                const std::optional<Tensor>& global_scale);

// The values of an integer tensor of any integer dtype, as MLX accepts indices (a uint64
// beyond int64 reads as -1, so that range checks refuse it). Any other dtype is an error
// in MLX's words naming `op`.
std::vector<std::int64_t> index_values(std::string_view op, const Tensor& t);

}  // namespace qlinear::ops
