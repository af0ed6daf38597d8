// Reproduces MLX's golden files for the float modes (mxfp4, mxfp8, nvfp4): quantize (codes
// and scales) and dequantize bit for bit, and quantized_matmul within a stated bound,
// exactly for float32 in the scalar reference. The released MLX (0.32.4, files in
// mlx-0.32.4/, float32, float16 and bfloat16 weights) is the target of quantize; the older
// commit's files keep checking dequantize and quantized_matmul of their given codes.
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

// The float-mode files of the older commit (folder "") or of the release (kRelease); only
// the float32 ones when float32_only.
std::vector<std::string> fp_files(const std::string& folder, bool float32_only = false) {
  std::vector<std::string> files;
  for (const char* prefix : {"mxfp4_", "mxfp8_", "nvfp4_"}) {
    for (const auto& f : golden_files(folder + prefix)) {
      if (!float32_only || f.ends_with("_f32")) files.push_back(f);
    }
  }
  return files;
}

std::vector<std::string> all_fp_files(bool float32_only = false) {
  std::vector<std::string> files = fp_files("", float32_only);
  for (const auto& f : fp_files(kRelease, float32_only)) files.push_back(f);
  return files;
}

// The files whose quantize output is ours to reproduce: the release's, and the older
// commit's nvfp4 (its rule did not change). The older commit's mxfp4/mxfp8 codes come
// from its round-to-nearest E8M0 exponent, which the release replaced by the ceiling
// (formats/e8m0.h); they would clip a group's largest element.
std::vector<std::string> quantize_files() {
  std::vector<std::string> files = golden_files("nvfp4_");
  for (const auto& f : fp_files(kRelease)) files.push_back(f);
  return files;
}

std::string name_of_param(const ::testing::TestParamInfo<std::string>& info) {
  return testing::test_name(info.param);
}

std::string mode_of(const GoldenFile& g) {
  return std::string(mode_name(g.spec.mode));
}

class FpGoldenQuantize : public ::testing::TestWithParam<std::string> {};

TEST_P(FpGoldenQuantize, IsBitExact) {
  const GoldenFile g(GetParam());
  for (const std::string suffix : {"", "_nt"}) {
    const auto q = quantize(g["w" + suffix], g.spec.group_size, g.spec.bits, mode_of(g));
    EXPECT_FALSE(q.biases.has_value());
    expect_bit_equal(q.wq, g["wq" + suffix], "wq" + suffix);
    expect_bit_equal(q.scales, g["scales" + suffix], "scales" + suffix);
  }
}

class FpGolden : public ::testing::TestWithParam<std::string> {};

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

INSTANTIATE_TEST_SUITE_P(Mlx, FpGoldenQuantize, ::testing::ValuesIn(quantize_files()),
                         name_of_param);
INSTANTIATE_TEST_SUITE_P(Mlx, FpGolden, ::testing::ValuesIn(all_fp_files()), name_of_param);
INSTANTIATE_TEST_SUITE_P(Mlx, FpGoldenFloat32, ::testing::ValuesIn(all_fp_files(true)),
                         name_of_param);

TEST(FpGoldenFiles, AllArePresent) {
  EXPECT_EQ(fp_files("").size(), 6u);
  EXPECT_EQ(fp_files(kRelease).size(), 9u);  // three modes in float32, float16, bfloat16
}

// The release's rule on the example of its README: mxfp4, amax 1.0 in a group. The
// ceiling gives 2^-2 (1.0 is code 4.0, exact); the older rule 2^-3 clipped it to 0.75.
TEST(FpGoldenRelease, MxScaleNeverClipsTheLargestElement) {
  Tensor w = Tensor::zeros({1, 32}, Dtype::float32);
  w.mutable_data<float>()[0] = 1.0f;
  const Quantized q = quantize(w, std::nullopt, std::nullopt, "mxfp4");
  EXPECT_EQ(q.scales.data<std::uint8_t>()[0], 127 - 2);
  EXPECT_EQ(
      dequantize(q.wq, q.scales, std::nullopt, std::nullopt, std::nullopt, "mxfp4", Dtype::float32)
          .data<float>()[0],
      1.0f);
}

}  // namespace
}  // namespace qlinear
