// Reproduces MLX's golden files for the float modes (mxfp4, mxfp8, nvfp4; float32 and
// bfloat16 weights): quantize (codes and scales) and dequantize bit for bit, and
// quantized_matmul within a stated bound, exactly for float32 in the scalar reference.
#include <gtest/gtest.h>

#include "golden/golden_checks.h"
#include "golden/golden_files.h"
#include "kernels/kernels.h"

namespace qlinear {
namespace {

using testing::expect_bit_equal;
using testing::expect_matmul_close;
using testing::golden_files;
using testing::GoldenFile;

// The float-mode files; only the float32 ones when float32_only.
std::vector<std::string> fp_files(bool float32_only = false) {
  std::vector<std::string> files;
  for (const char* prefix : {"mxfp4_", "mxfp8_", "nvfp4_"}) {
    for (const auto& f : golden_files(prefix)) {
      if (!float32_only || f.ends_with("_f32")) files.push_back(f);
    }
  }
  return files;
}

std::string mode_of(const GoldenFile& g) {
  return std::string(mode_name(g.spec.mode));
}

class FpGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(FpGolden, QuantizeIsBitExact) {
  const GoldenFile g(GetParam());
  for (const std::string suffix : {"", "_nt"}) {
    const auto q = quantize(g["w" + suffix], g.spec.group_size, g.spec.bits, mode_of(g));
    EXPECT_FALSE(q.biases.has_value());
    expect_bit_equal(q.wq, g["wq" + suffix], "wq" + suffix);
    expect_bit_equal(q.scales, g["scales" + suffix], "scales" + suffix);
  }
}

TEST_P(FpGolden, DequantizeIsBitExact) {
  const GoldenFile g(GetParam());
  const Tensor w_hat = dequantize(g["wq"], g["scales"], std::nullopt, g.spec.group_size,
                                  g.spec.bits, mode_of(g), g["w"].dtype());
  expect_bit_equal(w_hat, g["w_hat"], "w_hat");
  // The default output dtype is bfloat16, as in MLX.
  const Tensor w_bf16 =
      dequantize(g["wq"], g["scales"], std::nullopt, std::nullopt, std::nullopt, mode_of(g));
  EXPECT_EQ(w_bf16.dtype(), Dtype::bfloat16);
  expect_bit_equal(w_bf16, g["w_hat"].astype(Dtype::bfloat16), "w_hat as bfloat16");
}

TEST_P(FpGolden, MatmulMatchesWithinBound) {
  const GoldenFile g(GetParam());
  for (const bool transpose : {true, false}) {
    const std::string s = transpose ? "" : "_nt";
    const Tensor y = quantized_matmul(g["x" + s], g["wq" + s], g["scales" + s], std::nullopt,
                                      transpose, g.spec.group_size, g.spec.bits, mode_of(g));
    const Tensor w_hat = dequantize(g["wq" + s], g["scales" + s], std::nullopt, g.spec.group_size,
                                    g.spec.bits, mode_of(g), Dtype::float32);
    expect_matmul_close(y, g["y" + s], g["x" + s], w_hat, transpose);
  }
}

// For float32 the scalar reference follows MLX's CPU order (group sums, then the scale),
// so it reproduces y and y_nt exactly.
class FpGoldenFloat32 : public ::testing::TestWithParam<std::string> {};

TEST_P(FpGoldenFloat32, ReferenceMatmulIsBitExact) {
  const GoldenFile g(GetParam());
  for (const bool transpose : {true, false}) {
    const std::string s = transpose ? "" : "_nt";
    const Tensor& x = g["x" + s];
    const Tensor& wq = g["wq" + s];
    Tensor y = Tensor::zeros(g["y" + s].shape(), Dtype::float32);
    const std::int64_t K = x.dim(-1);
    const std::int64_t N = transpose ? wq.dim(0) : wq.dim(1) * 32 / g.spec.bits;
    kernels::reference_table().quantized_matmul(
        {g.spec, x.data(), x.dtype(), x.size() / K, K, N, transpose, wq.data<std::uint32_t>(),
         g["scales" + s].data(), nullptr, Dtype::uint8, y.mutable_data(), Dtype::float32});
    expect_bit_equal(y, g["y" + s], "y" + s);
  }
}

INSTANTIATE_TEST_SUITE_P(Mlx, FpGolden, ::testing::ValuesIn(fp_files()),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Mlx, FpGoldenFloat32, ::testing::ValuesIn(fp_files(true)),
                         [](const auto& info) { return info.param; });

TEST(FpGoldenFiles, AllSixArePresent) {
  EXPECT_EQ(fp_files().size(), 6u);
}

}  // namespace
}  // namespace qlinear
