// Helpers shared by the language-model tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "qlinear/tensor.h"

namespace qlinear::testing {

// Token ids (1, T) int64.
inline Tensor ids_of(const std::vector<std::int64_t>& tokens) {
  return Tensor::from_values<std::int64_t>({1, static_cast<std::int64_t>(tokens.size())},
                                           Dtype::int64, tokens);
}

inline float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::abs(x));
  return m;
}

}  // namespace qlinear::testing
