// Seeded random tensors and rounding constants for property tests.
#pragma once

#include <random>
#include <vector>

#include "qlinear/tensor.h"

namespace qlinear::testing {

// Normal values (mean 0, standard deviation `spread`) rounded to dtype (float32, float16
// or bfloat16).
inline Tensor random_normal(const Shape& shape, Dtype dtype, std::uint32_t seed,
                            float spread = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, spread);
  std::vector<float> values(static_cast<std::size_t>(element_count(shape)));
  for (float& v : values) v = dist(gen);
  return Tensor::from_floats(shape, dtype, values);
}

// Unit roundoff of a float dtype: half the distance from 1 to the next value.
inline double unit_roundoff(Dtype dtype) {
  switch (dtype) {
    case Dtype::float16:
      return 0x1p-11;
    case Dtype::bfloat16:
      return 0x1p-8;
    default:
      return 0x1p-24;
  }
}

}  // namespace qlinear::testing
