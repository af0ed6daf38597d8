// The validation of the float modes: one test per error, each checking the message
// ("[op] ..." naming the values) of a std::invalid_argument.
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "core/random.h"
#include "qlinear/ops.h"

namespace qlinear {
namespace {

using testing::random_normal;

template <class Fn>
void expect_message(Fn&& fn, const std::string& message) {
  try {
    fn();
    FAIL() << "expected std::invalid_argument: " << message;
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
}

Tensor scalar(float v, Dtype dtype = Dtype::float32) {
  return Tensor::from_floats({}, dtype, std::vector<float>{v});
}

struct Mxfp4Packed {
  Tensor w = random_normal({4, 64}, Dtype::float32, 3);
  Quantized q = quantize(w, std::nullopt, std::nullopt, "mxfp4");
  Tensor x = random_normal({2, 64}, Dtype::float32, 4);
};

TEST(FpModeDefaults, EachModeHasItsGroupSizeAndBits) {
  EXPECT_EQ(QuantSpec::resolve("quantize", QuantMode::mxfp4, std::nullopt, std::nullopt),
            (QuantSpec{32, 4, QuantMode::mxfp4}));
  EXPECT_EQ(QuantSpec::resolve("quantize", QuantMode::mxfp8, std::nullopt, std::nullopt),
            (QuantSpec{32, 8, QuantMode::mxfp8}));
  EXPECT_EQ(QuantSpec::resolve("quantize", QuantMode::nvfp4, std::nullopt, std::nullopt),
            (QuantSpec{16, 4, QuantMode::nvfp4}));
  const Mxfp4Packed p;
  EXPECT_EQ(p.q.wq.shape(), (Shape{4, 8}));
  EXPECT_EQ(p.q.scales.shape(), (Shape{4, 2}));
  EXPECT_EQ(p.q.scales.dtype(), Dtype::uint8);
  EXPECT_FALSE(p.q.biases.has_value());
}

TEST(FpModeErrors, WrongGroupSizeForTheMode) {
  const Tensor w = random_normal({2, 128}, Dtype::float32, 1);
  expect_message([&] { quantize(w, 64, std::nullopt, "mxfp4"); },
                 "[quantize] mxfp4 quantization requires group size 32 but got 64.");
  expect_message([&] { quantize(w, 32, 4, "nvfp4"); },
                 "[quantize] nvfp4 quantization requires group size 16 but got 32.");
}

TEST(FpModeErrors, WrongBitsForTheMode) {
  const Mxfp4Packed p;
  expect_message([&] { dequantize(p.q.wq, p.q.scales, std::nullopt, 32, 8, "mxfp4"); },
                 "[dequantize] mxfp4 quantization requires bits to be 4 but got 8.");
  expect_message(
      [&] { quantized_matmul(p.x, p.q.wq, p.q.scales, std::nullopt, true, 32, 4, "mxfp8"); },
      "[quantized_matmul] mxfp8 quantization requires bits to be 8 but got 4.");
}

TEST(FpModeErrors, BiasesGiven) {
  const Mxfp4Packed p;
  const Tensor biases = Tensor::zeros(p.q.scales.shape(), Dtype::float32);
  expect_message([&] { quantized_matmul(p.x, p.q.wq, p.q.scales, biases, true, 32, 4, "mxfp4"); },
                 "[quantized_matmul] Biases are only used in affine mode, not mxfp4.");
}

TEST(FpModeErrors, ScalesNotUint8) {
  const Mxfp4Packed p;
  const Tensor scales = p.q.scales.astype(Dtype::float32);
  expect_message([&] { dequantize(p.q.wq, scales, std::nullopt, 32, 4, "mxfp4"); },
                 "[dequantize] Scales must be uint8 in mxfp4 mode but have type float32.");
}

TEST(FpModeErrors, GlobalScaleOutsideNvfp4) {
  const Tensor w = random_normal({2, 64}, Dtype::float32, 1);
  expect_message([&] { quantize(w, std::nullopt, std::nullopt, "mxfp8", scalar(1.0f)); },
                 "[quantize] A global scale is only supported in nvfp4 mode, not mxfp8.");
}

TEST(FpModeErrors, GlobalScaleNotAScalar) {
  const Tensor w = random_normal({2, 64}, Dtype::float32, 1);
  const Tensor two = Tensor::from_floats({2}, Dtype::float32, std::vector<float>{1, 2});
  expect_message([&] { quantize(w, std::nullopt, std::nullopt, "nvfp4", two); },
                 "[quantize] The global scale must be a scalar but has shape (2,).");
}

TEST(FpModeErrors, GlobalScaleNotFloat32) {
  const auto q = quantize(random_normal({2, 64}, Dtype::float32, 1), 16, 4, "nvfp4");
  expect_message(
      [&] {
        dequantize(q.wq, q.scales, std::nullopt, 16, 4, "nvfp4", std::nullopt,
                   scalar(1.0f, Dtype::bfloat16));
      },
      "[dequantize] The global scale must be float32 but has type bfloat16.");
}

TEST(FpModeErrors, GlobalScaleZeroOrNotFinite) {
  const Tensor w = random_normal({2, 64}, Dtype::float32, 1);
  expect_message([&] { quantize(w, 16, 4, "nvfp4", scalar(0.0f)); },
                 "[quantize] The global scale must be finite and non-zero but is 0.");
  expect_message(
      [&] { quantize(w, 16, 4, "nvfp4", scalar(std::numeric_limits<float>::infinity())); },
      "[quantize] The global scale must be finite and non-zero but is inf.");
}

}  // namespace
}  // namespace qlinear
