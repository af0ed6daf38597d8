// Properties of the float modes over dtypes and shapes: the round trip stays within the
// format's resolution, zero groups stay zero, the nvfp4 global scale cancels out, and
// quantized_matmul equals the product with the dequantized matrix (both layouts, batched).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/random.h"
#include "qlinear/ops.h"

namespace qlinear {
namespace {

using testing::random_normal;

struct Case {
  std::string mode;
  Dtype dtype;
};

class FpModeProperties : public ::testing::TestWithParam<Case> {};

// Largest |w - w_hat| relative to the group's largest magnitude amax. The MX scale s is
// the power of two at or above amax / max, so r = amax / s lies in (max / 2, max] and
// nothing saturates. FP4 (max 6): the worst is half the top step (2) at r >= 5, s / 2 * 2
// = amax / r <= amax / 5; for r < 5 it is r - 4 < r / 5. E4M3 (max 448): half the top
// step (32) over r >= 256, below amax / 16. nvfp4's E4M3 scale is within 1/16 of
// amax / 6, leaving half the top step (2 of 6) as the largest error: 0.18 of amax.
// 1% on top for the rounding of w / s to the weights' dtype.
double relative_bound(const std::string& mode) {
  return (mode == "mxfp8" ? 1.0 / 16 : 0.2) * 1.01;
}

double unit_roundoff(Dtype dtype) {
  return dtype == Dtype::float32 ? 0x1p-24 : dtype == Dtype::float16 ? 0x1p-11 : 0x1p-8;
}

TEST_P(FpModeProperties, RoundTripStaysWithinTheGroupResolution) {
  const auto [mode, dtype] = GetParam();
  const Tensor w = random_normal({6, 128}, dtype, 7);
  const auto q = quantize(w, std::nullopt, std::nullopt, mode);
  const Tensor w_hat =
      dequantize(q.wq, q.scales, std::nullopt, std::nullopt, std::nullopt, mode, Dtype::float32);
  const int group = QuantSpec::defaults(parse_quant_mode(mode, "test")).group_size;
  const auto wv = w.to_floats(), hv = w_hat.to_floats();
  for (std::size_t g = 0; g < wv.size() / group; ++g) {
    double amax = 0;
    for (int j = 0; j < group; ++j) amax = std::max(amax, std::fabs(double(wv[g * group + j])));
    for (int j = 0; j < group; ++j) {
      const std::size_t i = g * group + j;
      ASSERT_LE(std::fabs(wv[i] - hv[i]), relative_bound(mode) * amax) << "element " << i;
    }
  }
}

TEST_P(FpModeProperties, ZeroGroupsDecodeToZero) {
  const auto [mode, dtype] = GetParam();
  const Tensor w = Tensor::zeros({2, 64}, dtype);
  const auto q = quantize(w, std::nullopt, std::nullopt, mode);
  for (float v :
       dequantize(q.wq, q.scales, std::nullopt, std::nullopt, std::nullopt, mode).to_floats()) {
    ASSERT_EQ(v, 0.0f);
  }
}

// y = x @ dequantize(w).T within float32 accumulation error, with x in the weights' dtype
// and y in x's dtype; batched weights broadcast against batched x.
TEST_P(FpModeProperties, MatmulEqualsTheProductWithTheDequantizedMatrix) {
  const auto [mode, dtype] = GetParam();
  for (const bool transpose : {true, false}) {
    const Tensor w = random_normal(transpose ? Shape{2, 48, 64} : Shape{2, 64, 96}, dtype, 11);
    const Tensor x = random_normal({2, 3, 64}, dtype, 12);
    const auto q = quantize(w, std::nullopt, std::nullopt, mode);
    const Tensor y = quantized_matmul(x, q.wq, q.scales, std::nullopt, transpose, std::nullopt,
                                      std::nullopt, mode);
    EXPECT_EQ(y.dtype(), dtype);
    const std::int64_t N = transpose ? 48 : 96;
    ASSERT_EQ(y.shape(), (Shape{2, 3, N}));
    const auto wv =
        dequantize(q.wq, q.scales, std::nullopt, std::nullopt, std::nullopt, mode, Dtype::float32)
            .to_floats();
    const auto xv = x.to_floats(), yv = y.to_floats();
    const double out_roundoff = unit_roundoff(dtype);
    for (int b = 0; b < 2; ++b) {
      for (int m = 0; m < 3; ++m) {
        for (std::int64_t n = 0; n < N; ++n) {
          double exact = 0, magnitude = 0;
          for (int k = 0; k < 64; ++k) {
            const double wk = transpose ? wv[(b * 48 + n) * 64 + k] : wv[(b * 64 + k) * N + n];
            exact += xv[(b * 3 + m) * 64 + k] * wk;
            magnitude += std::fabs(xv[(b * 3 + m) * 64 + k] * wk);
          }
          const double got = yv[(b * 3 + m) * N + n];
          ASSERT_NEAR(got, exact, 70 * 0x1p-24 * magnitude + out_roundoff * std::fabs(exact))
              << mode << " transpose=" << transpose << " b=" << b << " m=" << m << " n=" << n;
        }
      }
    }
  }
}

std::vector<Case> cases() {
  std::vector<Case> all;
  for (const char* mode : {"mxfp4", "mxfp8", "nvfp4"}) {
    for (Dtype d : {Dtype::float32, Dtype::float16, Dtype::bfloat16}) all.push_back({mode, d});
  }
  return all;
}

INSTANTIATE_TEST_SUITE_P(Modes, FpModeProperties, ::testing::ValuesIn(cases()),
                         [](const auto& info) {
                           return info.param.mode + "_" + std::string(name_of(info.param.dtype));
                         });

// With a global scale g, the stored scales use the E4M3 range as if the weights were
// multiplied by 2688 / g, and dequantize with the same g brings them back.
TEST(Nvfp4GlobalScale, CancelsOutInTheRoundTrip) {
  const Tensor w = random_normal({4, 64}, Dtype::float32, 5);
  float amax = 0;
  for (float v : w.to_floats()) amax = std::max(amax, std::fabs(v));
  const Tensor g = Tensor::from_floats({}, Dtype::float32, std::vector<float>{amax});
  const auto q = quantize(w, std::nullopt, std::nullopt, "nvfp4", g);
  const Tensor w_hat = dequantize(q.wq, q.scales, std::nullopt, std::nullopt, std::nullopt, "nvfp4",
                                  Dtype::float32, g);
  const auto wv = w.to_floats(), hv = w_hat.to_floats();
  for (std::size_t i = 0; i < wv.size(); ++i) ASSERT_NEAR(hv[i], wv[i], 0.25 * amax);
  // The scales now reach into the upper E4M3 range (the largest group's is 448 = 0x7E).
  int largest = 0;
  for (float s : q.scales.to_floats()) largest = std::max(largest, static_cast<int>(s));
  EXPECT_EQ(largest, 0x7E);
}

// As MLX: with a global scale dequantize computes in float32 and returns float32 by
// default; an explicit dtype gets those values rounded.
TEST(Nvfp4GlobalScale, DequantizesToFloat32UnlessADtypeIsGiven) {
  const Tensor w = random_normal({4, 64}, Dtype::bfloat16, 6);
  const Tensor g = Tensor::from_floats({}, Dtype::float32, std::vector<float>{0.37f});
  const auto q = quantize(w, std::nullopt, std::nullopt, "nvfp4", g);
  auto run = [&](std::optional<Dtype> dtype) {
    return dequantize(q.wq, q.scales, std::nullopt, std::nullopt, std::nullopt, "nvfp4", dtype, g);
  };
  const Tensor by_default = run(std::nullopt);
  EXPECT_EQ(by_default.dtype(), Dtype::float32);
  EXPECT_TRUE(by_default.bit_equal(run(Dtype::float32)));
  EXPECT_TRUE(run(Dtype::bfloat16).bit_equal(by_default.astype(Dtype::bfloat16)));
  // Without a global scale the default stays bfloat16.
  EXPECT_EQ(dequantize(q.wq, q.scales, std::nullopt, std::nullopt, std::nullopt, "nvfp4").dtype(),
            Dtype::bfloat16);
}

}  // namespace
}  // namespace qlinear
