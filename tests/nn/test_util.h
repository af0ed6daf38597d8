// Helpers shared by the layer tests.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

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

// x @ w.T + b in double, and the float32 error bound of a K-term dot product:
// |computed - exact| <= K * eps * sum_k |x_k w_k| (plus one rounding for the bias).
inline void expect_linear_close(const Tensor& x, const Tensor& w, const Tensor* b,
                                const Tensor& y) {
  const std::int64_t K = w.dim(1), N = w.dim(0), M = x.size() / K;
  const auto xs = x.to_floats(), ws = w.to_floats(), ys = y.to_floats();
  const auto bs = b ? b->to_floats() : std::vector<float>(N, 0.0f);
  ASSERT_EQ(ys.size(), static_cast<std::size_t>(M * N));
  const double eps = std::numeric_limits<float>::epsilon();
  for (std::int64_t m = 0; m < M; ++m) {
    for (std::int64_t n = 0; n < N; ++n) {
      double exact = bs[n], magnitude = std::abs(bs[n]);
      for (std::int64_t k = 0; k < K; ++k) {
        exact += double(xs[m * K + k]) * ws[n * K + k];
        magnitude += std::abs(double(xs[m * K + k]) * ws[n * K + k]);
      }
      ASSERT_NEAR(ys[m * N + n], exact, (K + 1) * eps * magnitude) << "at " << m << ", " << n;
    }
  }
}

// Two parameter lists with the same names in the same order and the same bits.
template <class Named>
void expect_same_parameters(const Named& actual, const Named& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].first, expected[i].first);
    EXPECT_TRUE(actual[i].second.bit_equal(expected[i].second)) << actual[i].first;
  }
}

}  // namespace qlinear::nn::testing
