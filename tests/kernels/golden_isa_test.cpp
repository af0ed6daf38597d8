// MLX's golden files through every instruction set this CPU supports (the golden tests
// proper use only the default one): quantize and dequantize bit for bit, quantized_matmul
// within the golden tests' bound.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/random.h"
#include "golden/golden_files.h"
#include "qlinear/runtime.h"

namespace qlinear {
namespace {

using testing::golden_files;
using testing::GoldenFile;
using testing::unit_roundoff;

// MLX's own relative error for f16/bf16 products, as measured in the golden README.
double mlx_relative_error(Dtype dtype) {
  return dtype == Dtype::float16 ? 2e-3 : dtype == Dtype::bfloat16 ? 1.1e-2 : 0.0;
}

// |ours - golden| <= (2 (K+3) u32 + e_mlx) sum_k |x_k w_hat_k| + 2 u_out |golden|.
void expect_matmul_close(const Tensor& ours, const Tensor& golden, const Tensor& x,
                         const Tensor& w_hat, bool transpose, const std::string& what) {
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
          (2 * (K + 3) * unit_roundoff(Dtype::float32) + mlx_relative_error(golden.dtype())) *
              magnitude +
          2 * unit_roundoff(golden.dtype()) * std::fabs(gv[m * N + n]);
      ASSERT_NEAR(yv[m * N + n], gv[m * N + n], tolerance) << what << " m=" << m << " n=" << n;
    }
  }
}

TEST(GoldenEveryIsa, AffineFilesReproduce) {
  const std::vector<std::string> files = golden_files("affine_");
  ASSERT_FALSE(files.empty());
  const std::string saved(active_isa());
  for (const std::string& isa : supported_isas()) {
    set_isa(isa);
    for (const std::string& stem : files) {
      const GoldenFile g(stem);
      if (!g.has("y")) continue;  // edge and shape files are covered by the golden tests
      const std::string what = isa + " " + stem;
      const int gs = g.spec.group_size, bits = g.spec.bits;
      const Quantized q = quantize(g["w"], gs, bits);
      EXPECT_TRUE(q.wq.bit_equal(g["wq"])) << what;
      EXPECT_TRUE(q.scales.bit_equal(g["scales"])) << what;
      EXPECT_TRUE(q.biases->bit_equal(g["biases"])) << what;
      EXPECT_TRUE(dequantize(g["wq"], g["scales"], g["biases"], gs, bits).bit_equal(g["w_hat"]))
          << what;
      expect_matmul_close(
          quantized_matmul(g["x"], g["wq"], g["scales"], g["biases"], true, gs, bits), g["y"],
          g["x"], g["w_hat"], true, what);
      if (g.has("y_nt")) {
        const Tensor w_hat_nt = dequantize(g["wq_nt"], g["scales_nt"], g["biases_nt"], gs, bits);
        expect_matmul_close(quantized_matmul(g["x_nt"], g["wq_nt"], g["scales_nt"], g["biases_nt"],
                                             false, gs, bits),
                            g["y_nt"], g["x_nt"], w_hat_nt, false, what + " (transpose=false)");
      }
    }
  }
  set_isa(saved);
}

}  // namespace
}  // namespace qlinear
