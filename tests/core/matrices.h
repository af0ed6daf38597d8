// Views on the matrices of a batched tensor, for tests that check products pair by pair.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "qlinear/tensor.h"

namespace qlinear::testing {

// Matrix i of t's trailing two dims, as a view (valid while t lives).
inline Tensor matrix(const Tensor& t, std::int64_t i) {
  const std::int64_t rows = t.dim(-2), cols = t.dim(-1);
  return Tensor::view({rows, cols}, t.dtype(),
                      static_cast<const char*>(t.data()) + i * rows * cols * size_of(t.dtype()),
                      nullptr);
}

inline Tensor u32_tensor(Shape shape, std::span<const std::uint32_t> values) {
  return Tensor::from_values<std::uint32_t>(std::move(shape), Dtype::uint32, values);
}

inline std::vector<std::uint32_t> u32_values(const Tensor& t) {
  return std::vector<std::uint32_t>(t.data<std::uint32_t>(), t.data<std::uint32_t>() + t.size());
}

}  // namespace qlinear::testing
