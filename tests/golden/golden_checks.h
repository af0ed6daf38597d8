// The comparisons every golden test makes: bit equality, and quantized_matmul within the
// bound the golden README's measurements give.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "core/random.h"
#include "qlinear/tensor.h"

namespace qlinear::testing {

// Index of the first element whose bytes differ, or -1.
inline std::int64_t first_difference(const Tensor& a, const Tensor& b) {
  const std::size_t width = size_of(a.dtype());
  const auto* pa = static_cast<const unsigned char*>(a.data());
  const auto* pb = static_cast<const unsigned char*>(b.data());
  for (std::int64_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(pa + i * width, pb + i * width, width) != 0) return i;
  }
  return -1;
}

inline void expect_bit_equal(const Tensor& ours, const Tensor& golden, const std::string& what) {
  ASSERT_EQ(ours.dtype(), golden.dtype()) << what;
  ASSERT_EQ(ours.shape(), golden.shape()) << what;
  const std::int64_t i = first_difference(ours, golden);
  EXPECT_EQ(i, -1) << what << " differs first at flat index " << i << ": ours "
                   << ours.to_floats()[i] << ", MLX " << golden.to_floats()[i];
}

// MLX accumulates in x's dtype: for float16/bfloat16 its error relative to sum |x| |w_hat|
// is taken as the probabilistic bound sqrt(K) u (Higham and Mary 2019; the Python suite
// uses the same). The golden README measured 2e-3 (f16) and 1.1e-2 (bf16) on its files;
// MLX 0.32.4's gather files reach 1.14e-2 in bfloat16 at K = 256 (sqrt(K) u = 6.3e-2).
inline double mlx_relative_error(Dtype dtype, std::int64_t K) {
  if (dtype != Dtype::float16 && dtype != Dtype::bfloat16) return 0.0;
  return std::sqrt(static_cast<double>(K)) * unit_roundoff(dtype);
}

// Ours accumulates in float32: within (K + 3) u32 of the exact product. Both results are
// then rounded to the output dtype (u_out, relative to |y|). Per output element:
// |ours - golden| <= (2 (K + 3) u32 + e_mlx) sum_k |x_k w_hat_k| + 2 u_out |golden|;
// for float32 MLX's own error is below (K + 3) u32 as well.
inline void expect_matmul_close(const Tensor& ours, const Tensor& golden, const Tensor& x,
                                const Tensor& w_hat, bool transpose, const std::string& what = "") {
  ASSERT_EQ(ours.dtype(), golden.dtype()) << what;
  ASSERT_EQ(ours.shape(), golden.shape()) << what;
  const std::int64_t K = x.dim(-1), N = ours.dim(-1), M = ours.size() / N;
  const auto xv = x.to_floats(), wv = w_hat.to_floats(), yv = ours.to_floats(),
             gv = golden.to_floats();
  for (std::int64_t m = 0; m < M; ++m) {
    for (std::int64_t n = 0; n < N; ++n) {
      double magnitude = 0;
      for (std::int64_t k = 0; k < K; ++k) {
        magnitude += std::fabs(xv[m * K + k] * (transpose ? wv[n * K + k] : wv[k * N + n]));
      }
      const double tolerance =
          (2 * (K + 3) * unit_roundoff(Dtype::float32) + mlx_relative_error(golden.dtype(), K)) *
              magnitude +
          2 * unit_roundoff(golden.dtype()) * std::fabs(gv[m * N + n]);
      ASSERT_NEAR(yv[m * N + n], gv[m * N + n], tolerance) << what << " m=" << m << " n=" << n;
    }
  }
}

}  // namespace qlinear::testing
