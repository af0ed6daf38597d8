// Seeded random tensors for property tests.
#pragma once

#include <random>
#include <vector>

#include "qlinear/tensor.h"

namespace qlinear::testing {

// Standard-normal values rounded to dtype (float32, float16 or bfloat16).
inline Tensor random_normal(const Shape& shape, Dtype dtype, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist;
  std::vector<float> values(static_cast<std::size_t>(element_count(shape)));
  for (float& v : values) v = dist(gen);
  return Tensor::from_floats(shape, dtype, values);
}

}  // namespace qlinear::testing
