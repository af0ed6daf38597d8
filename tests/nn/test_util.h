// Helpers shared by the layer tests.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "qlinear/tensor.h"

namespace qlinear::nn::testing {

// float32 tensor with values uniform in [-1, 1) from a fixed seed.
inline Tensor random_floats(Shape shape, std::uint32_t seed, Dtype dtype = Dtype::float32) {
  std::mt19937 engine(seed);
  std::uniform_real_distribution<float> distribution(-1.0f, 1.0f);
  std::vector<float> values(static_cast<std::size_t>(element_count(shape)));
  for (float& v : values) v = distribution(engine);
  return Tensor::from_floats(std::move(shape), dtype, values);
}

// Names of a NamedParameters / NamedModules list, in order.
template <class Named>
std::vector<std::string> names_of(const Named& named) {
  std::vector<std::string> out;
  for (const auto& entry : named) out.push_back(entry.first);
  return out;
}

}  // namespace qlinear::nn::testing
