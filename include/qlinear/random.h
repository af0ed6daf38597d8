// Seeded random tensors, for tests, benchmarks and examples.
#pragma once

#include <cstdint>

#include "qlinear/tensor.h"

namespace qlinear {

// Normal values (mean 0, standard deviation `stddev`) drawn from std::mt19937(seed) and
// rounded to dtype (float32, float16 or bfloat16): the same seed gives the same tensor.
Tensor random_normal(const Shape& shape, Dtype dtype, std::uint32_t seed, float stddev = 1.0f);

}  // namespace qlinear
