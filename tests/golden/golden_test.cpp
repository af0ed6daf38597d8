// Reproduces every MLX-produced golden file: quantize and dequantize bit for bit,
// quantized_matmul within a stated error bound.
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
using testing::kRelease;

std::string name_of_param(const ::testing::TestParamInfo<std::string>& info) {
  return testing::test_name(info.param);
}

class AffineGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(AffineGolden, QuantizeIsBitExact) {
  const GoldenFile g(GetParam());
  const auto q = quantize(g["w"], g.spec.group_size, g.spec.bits);
  expect_bit_equal(q.wq, g["wq"], "wq");
  expect_bit_equal(q.scales, g["scales"], "scales");
  expect_bit_equal(*q.biases, g["biases"], "biases");
  if (g.has("w_nt")) {
    const auto q_nt = quantize(g["w_nt"], g.spec.group_size, g.spec.bits);
    expect_bit_equal(q_nt.wq, g["wq_nt"], "wq_nt");
    expect_bit_equal(q_nt.scales, g["scales_nt"], "scales_nt");
    expect_bit_equal(*q_nt.biases, g["biases_nt"], "biases_nt");
  }
}

TEST_P(AffineGolden, DequantizeIsBitExact) {
  const GoldenFile g(GetParam());
  const Tensor w_hat =
      dequantize(g["wq"], g["scales"], g["biases"], g.spec.group_size, g.spec.bits);
  expect_bit_equal(w_hat, g["w_hat"], "w_hat");
}

TEST_P(AffineGolden, MatmulMatchesWithinBound) {
  const GoldenFile g(GetParam());
  const Tensor y = quantized_matmul(g["x"], g["wq"], g["scales"], g["biases"], true,
                                    g.spec.group_size, g.spec.bits);
  expect_matmul_close(y, g["y"], g["x"], g["w_hat"], true);
  if (g.has("y_nt")) {
    const Tensor y_nt = quantized_matmul(g["x_nt"], g["wq_nt"], g["scales_nt"], g["biases_nt"],
                                         false, g.spec.group_size, g.spec.bits);
    const Tensor w_hat_nt =
        dequantize(g["wq_nt"], g["scales_nt"], g["biases_nt"], g.spec.group_size, g.spec.bits);
    expect_matmul_close(y_nt, g["y_nt"], g["x_nt"], w_hat_nt, false);
  }
}

// The scalar reference walks k in ascending order with a float32 accumulator and no fused
// multiply-add, which is MLX's own CPU arithmetic: for float32 it reproduces y exactly.
class AffineGoldenFloat32 : public ::testing::TestWithParam<std::string> {};

TEST_P(AffineGoldenFloat32, ReferenceMatmulIsBitExact) {
  const GoldenFile g(GetParam());
  const Tensor& x = g["x"];
  ASSERT_EQ(x.dtype(), Dtype::float32);
  const Tensor& wq = g["wq"];
  Tensor y = Tensor::zeros(g["y"].shape(), Dtype::float32);
  const std::int64_t K = x.dim(-1);
  kernels::reference_table().quantized_matmul(
      {g.spec, x.data(), x.dtype(), x.size() / K, K, wq.dim(0), true, wq.data<std::uint32_t>(),
       g["scales"].data(), g["biases"].data(), Dtype::float32, y.mutable_data(), Dtype::float32});
  expect_bit_equal(y, g["y"], "y");
}

// Every affine file but edge_nonfinite (refused, see below); only the float32 ones when
// float32_only.
std::vector<std::string> affine_files(bool float32_only) {
  std::vector<std::string> files;
  for (const std::string& prefix : {std::string("affine_"), std::string("shape_"),
                                    std::string("edge_"), kRelease + "affine_"}) {
    for (const auto& f : golden_files(prefix)) {
      const bool float32 = f.find("affine_") == std::string::npos || f.ends_with("_f32");
      if (f != "edge_nonfinite" && (float32 || !float32_only)) files.push_back(f);
    }
  }
  return files;
}

INSTANTIATE_TEST_SUITE_P(Mlx, AffineGolden, ::testing::ValuesIn(affine_files(false)),
                         name_of_param);
INSTANTIATE_TEST_SUITE_P(Mlx, AffineGoldenFloat32, ::testing::ValuesIn(affine_files(true)),
                         name_of_param);

TEST(AffineGoldenFiles, AllFiftyFourSettingsArePresent) {
  EXPECT_EQ(golden_files("affine_").size(), 54u);
  EXPECT_EQ(golden_files("edge_").size(), 10u);
  EXPECT_EQ(golden_files(kRelease + "affine_b1_").size(), 9u);  // the release's 1-bit files
}

TEST(AffineGoldenShapes, VectorAndBatchedInputsKeepTheirShape) {
  const GoldenFile x1("shape_x1d");
  EXPECT_EQ(x1["y"].shape(), (Shape{32}));
  const GoldenFile x3("shape_x3d");
  EXPECT_EQ(x3["x"].shape(), (Shape{2, 3, 128}));
  EXPECT_EQ(x3["y"].shape(), (Shape{2, 3, 32}));
}

// MLX's output on NaN/inf input comes from undefined behaviour; we refuse it instead.
TEST(AffineGoldenEdges, NonFiniteInputIsRefused) {
  const GoldenFile g("edge_nonfinite");
  try {
    quantize(g["w"], g.spec.group_size, g.spec.bits);
    FAIL() << "quantize accepted NaN";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "[quantize] w contains NaN at index (0, 5); only finite values can be "
                 "quantized.");
  }
}

}  // namespace
}  // namespace qlinear
