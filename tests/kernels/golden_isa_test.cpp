// MLX's golden files through every instruction set this CPU supports (the golden tests
// proper use only the default one): quantize and dequantize bit for bit, quantized_matmul
// within the golden tests' bound.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "golden/golden_checks.h"
#include "golden/golden_files.h"
#include "qlinear/runtime.h"

namespace qlinear {
namespace {

using testing::expect_matmul_close;
using testing::golden_files;
using testing::GoldenFile;

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

// The released MLX's files (tests/data/golden/mlx-0.32.4: 1-bit affine and the float modes) through
// every instruction set: quantize's codes, scales and biases, dequantize, both products.
TEST(GoldenEveryIsa, ReleaseFilesReproduce) {
  std::vector<std::string> files;
  for (const char* prefix : {"affine_", "mxfp4_", "mxfp8_", "nvfp4_"}) {
    for (const auto& f : golden_files(testing::kRelease + prefix)) files.push_back(f);
  }
  ASSERT_FALSE(files.empty());
  const std::string saved(active_isa());
  for (const std::string& isa : supported_isas()) {
    set_isa(isa);
    for (const std::string& stem : files) {
      const GoldenFile g(stem);
      const std::string what = isa + " " + stem;
      const int gs = g.spec.group_size, bits = g.spec.bits;
      const std::string mode(mode_name(g.spec.mode));
      for (const std::string s : {"", "_nt"}) {
        const Quantized q = quantize(g["w" + s], gs, bits, mode);
        EXPECT_TRUE(q.wq.bit_equal(g["wq" + s])) << what << s;
        EXPECT_TRUE(q.scales.bit_equal(g["scales" + s])) << what << s;
        EXPECT_EQ(q.biases.has_value(), g.has("biases" + s)) << what << s;
        if (q.biases) {
          EXPECT_TRUE(q.biases->bit_equal(g["biases" + s])) << what << s;
        }
        const Tensor w_hat =
            dequantize(q.wq, q.scales, q.biases, gs, bits, mode, g["w" + s].dtype());
        if (s.empty()) {
          EXPECT_TRUE(w_hat.bit_equal(g["w_hat"])) << what;
        }
        const bool transpose = s.empty();
        expect_matmul_close(
            quantized_matmul(g["x" + s], q.wq, q.scales, q.biases, transpose, gs, bits, mode),
            g["y" + s], g["x" + s], w_hat.astype(Dtype::float32), transpose, what + s);
      }
    }
  }
  set_isa(saved);
}

}  // namespace
}  // namespace qlinear
