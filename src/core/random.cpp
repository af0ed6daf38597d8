#include "qlinear/random.h"

#include <random>
#include <vector>

namespace qlinear {

Tensor random_normal(const Shape& shape, Dtype dtype, std::uint32_t seed, float stddev) {
  std::mt19937 engine(seed);
  std::normal_distribution<float> normal(0.0f, stddev);
  std::vector<float> values(static_cast<std::size_t>(element_count(shape)));
  for (float& v : values) v = normal(engine);
  return Tensor::from_floats(shape, dtype, values);
}

}  // namespace qlinear
