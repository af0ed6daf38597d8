// Properties of quantize / dequantize / quantized_matmul on random inputs, over every
// bits, group size and float dtype, with awkward shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "core/random.h"
#include "formats/packing.h"
#include "qlinear/ops.h"
#include "qlinear/quant_spec.h"
#include "qlinear/runtime.h"

namespace qlinear {
namespace {

using testing::random_normal;
using testing::unit_roundoff;

class AffineProperties : public ::testing::TestWithParam<std::tuple<int, int, Dtype>> {
 protected:
  int bits() const { return std::get<0>(GetParam()); }
  int group_size() const { return std::get<1>(GetParam()); }
  Dtype dtype() const { return std::get<2>(GetParam()); }
};

// Inside the grid bias + scale * [0, n], |w - w_hat| <= |scale|/2. MLX moves the grid so
// that it contains 0 exactly (scale = edge / rint(edge / scale0)), which can pull the far
// end of the grid in by up to one step: clamped values are off by at most |scale|.
// Both bounds get the rounding of scale, bias and w_hat to the dtype as slack.
TEST_P(AffineProperties, ReconstructionErrorIsHalfAStepInsideTheGrid) {
  const std::int64_t rows = 13, cols = 3 * group_size();
  const Tensor w = random_normal({rows, cols}, dtype(), 11 + bits());
  const Quantized q = quantize(w, group_size(), bits());
  const Tensor w_hat = dequantize(q.wq, q.scales, q.biases, group_size(), bits());
  ASSERT_EQ(w_hat.dtype(), dtype());
  ASSERT_EQ(w_hat.shape(), w.shape());
  const auto wv = w.to_floats(), hv = w_hat.to_floats(), sv = q.scales.to_floats(),
             bv = q.biases->to_floats();
  const float u = static_cast<float>(unit_roundoff(dtype()));
  const float n_bins = static_cast<float>((1 << bits()) - 1);
  int clamped = 0;
  for (std::int64_t i = 0; i < rows * cols; ++i) {
    const std::int64_t g = i / group_size();
    const float scale = std::fabs(sv[g]);
    const float slack = 2 * u * (std::fabs(bv[g]) + n_bins * scale + std::fabs(wv[i]));
    const float far_end = bv[g] + n_bins * sv[g];
    const bool inside = std::fabs(wv[i] - bv[g]) <= std::fabs(far_end - bv[g]);
    clamped += !inside;
    ASSERT_LE(std::fabs(wv[i] - hv[i]), (inside ? scale / 2 : scale) + slack) << "element " << i;
  }
  EXPECT_LT(clamped, rows * cols / 8);
}

TEST_P(AffineProperties, ZeroAndConstantGroupsAreExact) {
  const std::int64_t cols = 2 * group_size();
  std::vector<float> values(static_cast<std::size_t>(3 * cols), 0.0f);
  for (std::int64_t j = 0; j < group_size(); ++j) {
    values[cols + j] = 3.25f;                      // row 1, group 0: positive constant
    values[2 * cols + group_size() + j] = -0.75f;  // row 2, group 1: negative constant
  }
  const Tensor w = Tensor::from_floats({3, cols}, dtype(), values);
  const Quantized q = quantize(w, group_size(), bits());
  const Tensor w_hat = dequantize(q.wq, q.scales, q.biases, group_size(), bits());
  EXPECT_EQ(w_hat.to_floats(), values);
}

// scale * q + bias for every element, in double: the matrix quantized_matmul multiplies by.
std::vector<double> exact_weights(const Quantized& q, int group_size, int bits) {
  const std::int64_t cols = q.wq.dim(-1) * 32 / bits;
  const std::int64_t rows = q.wq.size() / q.wq.dim(-1);
  const auto scales = q.scales.to_floats(), biases = q.biases->to_floats();
  std::vector<double> w(static_cast<std::size_t>(rows * cols));
  for (std::int64_t r = 0; r < rows; ++r) {
    const auto* row =
        reinterpret_cast<const std::uint8_t*>(q.wq.data<std::uint32_t>() + r * q.wq.dim(-1));
    for (std::int64_t c = 0; c < cols; ++c) {
      const std::int64_t g = (r * cols + c) / group_size;
      w[r * cols + c] =
          static_cast<double>(scales[g]) * formats::read_code(row, c, bits) + biases[g];
    }
  }
  return w;
}

// quantized_matmul equals x @ (scale * q + bias) computed in double, within the float32
// bound (K + 3) * u * sum|x| |w| (dequantizing costs two roundings, the dot product K)
// plus the rounding of the output to its dtype.
void expect_matches_double(const Tensor& x, const Quantized& q, bool transpose, int group_size,
                           int bits) {
  const Tensor y = quantized_matmul(x, q.wq, q.scales, q.biases, transpose, group_size, bits);
  const std::int64_t K = x.dim(-1);
  const std::int64_t M = x.size() / K;
  const std::int64_t N = y.dim(-1);
  ASSERT_EQ(y.size(), M * N);
  const auto xv = x.to_floats(), yv = y.to_floats();
  const auto wv = exact_weights(q, group_size, bits);
  const double u_out = unit_roundoff(y.dtype());
  for (std::int64_t m = 0; m < M; ++m) {
    for (std::int64_t n = 0; n < N; ++n) {
      double exact = 0, magnitude = 0;
      for (std::int64_t k = 0; k < K; ++k) {
        const double w = transpose ? wv[n * K + k] : wv[k * N + n];
        exact += static_cast<double>(xv[m * K + k]) * w;
        magnitude += std::fabs(xv[m * K + k] * w);
      }
      const double bound =
          (K + 3) * unit_roundoff(Dtype::float32) * magnitude + u_out * std::fabs(exact);
      ASSERT_NEAR(yv[m * N + n], exact, bound) << "m=" << m << " n=" << n;
    }
  }
}

TEST_P(AffineProperties, MatmulMatchesDoubleProduct) {
  // N = 13 and M = 33 are not multiples of any tile; K is one group.
  const Tensor w = random_normal({13, group_size()}, dtype(), 21);
  const Quantized q = quantize(w, group_size(), bits());
  const Tensor x = random_normal({33, group_size()}, dtype(), 22);
  expect_matches_double(x, q, true, group_size(), bits());
}

TEST_P(AffineProperties, MatmulWithoutTransposeMatchesDoubleProduct) {
  // W is (K, N) = (7, 2 * group_size): groups run along N.
  const Tensor w = random_normal({7, 2 * group_size()}, dtype(), 23);
  const Quantized q = quantize(w, group_size(), bits());
  const Tensor x = random_normal({5, 7}, dtype(), 24);
  expect_matches_double(x, q, false, group_size(), bits());
}

INSTANTIATE_TEST_SUITE_P(
    AllSettings, AffineProperties,
    ::testing::Combine(::testing::ValuesIn(modes::kAffineBits), ::testing::Values(32, 64, 128),
                       ::testing::Values(Dtype::float32, Dtype::float16, Dtype::bfloat16)),
    [](const auto& info) {
      return "b" + std::to_string(std::get<0>(info.param)) + "_g" +
             std::to_string(std::get<1>(info.param)) + "_" +
             std::string(name_of(std::get<2>(info.param)));
    });

TEST(MatmulShapes, VectorInputGivesVectorOutput) {
  const Quantized q = quantize(random_normal({9, 64}, Dtype::float32, 31));
  const Tensor x = random_normal({64}, Dtype::float32, 32);
  const Tensor y = quantized_matmul(x, q.wq, q.scales, q.biases);
  EXPECT_EQ(y.shape(), (Shape{9}));
  expect_matches_double(x, q, true, 64, 4);
}

TEST(MatmulShapes, LeadingDimsOfInputArePreserved) {
  const Quantized q = quantize(random_normal({9, 64}, Dtype::float32, 33));
  const Tensor x = random_normal({2, 3, 4, 64}, Dtype::float32, 34);
  EXPECT_EQ(quantized_matmul(x, q.wq, q.scales, q.biases).shape(), (Shape{2, 3, 4, 9}));
  expect_matches_double(x, q, true, 64, 4);
}

// Batched weights broadcast against batched inputs like matmul: each output matrix equals
// the product of the matching input and weight matrices.
TEST(MatmulShapes, BatchDimsBroadcast) {
  const Tensor w = random_normal({3, 1, 5, 64}, Dtype::float32, 35);
  const Quantized q = quantize(w);
  const Tensor x = random_normal({2, 4, 64}, Dtype::float32, 36);
  const Tensor y = quantized_matmul(x, q.wq, q.scales, q.biases);
  ASSERT_EQ(y.shape(), (Shape{3, 2, 4, 5}));
  for (std::int64_t a = 0; a < 3; ++a) {
    const auto slice = [&](const Tensor& t, std::int64_t index, Shape shape) {
      const std::size_t bytes = static_cast<std::size_t>(element_count(shape)) * size_of(t.dtype());
      return Tensor::copy_of(shape, t.dtype(), static_cast<const char*>(t.data()) + index * bytes);
    };
    const Quantized qa{slice(q.wq, a, {5, 8}), slice(q.scales, a, {5, 1}),
                       slice(*q.biases, a, {5, 1})};
    for (std::int64_t b = 0; b < 2; ++b) {
      const Tensor expected = quantized_matmul(slice(x, b, {4, 64}), qa.wq, qa.scales, qa.biases);
      EXPECT_TRUE(slice(y, a * 2 + b, {4, 5}).bit_equal(expected)) << "batch " << a << "," << b;
    }
  }
}

// Many small products (attention over a KV cache: heads x repeats) run whole products per
// thread: the same bits as one product at a time, on any thread count, both transposes.
TEST(MatmulShapes, ManySmallProductsGiveTheSameBitsOnAnyThreadCount) {
  for (const bool transpose : {true, false}) {
    const Quantized q = quantize(random_normal({8, 1, 96, 64}, Dtype::float32, 43), 64, 4);
    const Tensor x = random_normal({8, 4, 1, transpose ? 64 : 96}, Dtype::float32, 44);
    auto product = [&](int threads) {
      set_num_threads(threads);
      return quantized_matmul(x, q.wq, q.scales, q.biases, transpose, 64, 4);
    };
    const Tensor one = product(1), two = product(2), three = product(3);
    set_num_threads(0);
    EXPECT_TRUE(one.bit_equal(two)) << transpose;
    EXPECT_TRUE(one.bit_equal(three)) << transpose;
    const std::int64_t n = transpose ? 96 : 64, k = transpose ? 64 : 96;
    const Quantized q0{Tensor::copy_of({96, 8}, Dtype::uint32, q.wq.data()),
                       Tensor::copy_of({96, 1}, Dtype::float32, q.scales.data()),
                       Tensor::copy_of({96, 1}, Dtype::float32, q.biases->data())};
    const Tensor row = Tensor::copy_of({1, k}, Dtype::float32, x.data<float>() + 3 * k);
    const Tensor expected = quantized_matmul(row, q0.wq, q0.scales, q0.biases, transpose, 64, 4);
    EXPECT_TRUE(
        Tensor::copy_of({1, n}, Dtype::float32, two.data<float>() + 3 * n).bit_equal(expected))
        << transpose;
  }
}

TEST(MatmulShapes, DtypePromotion) {
  const Quantized q16 = quantize(random_normal({4, 64}, Dtype::float16, 37));
  const Quantized qbf = quantize(random_normal({4, 64}, Dtype::bfloat16, 38));
  const Tensor x16 = random_normal({2, 64}, Dtype::float16, 39);
  const Tensor xbf = random_normal({2, 64}, Dtype::bfloat16, 40);
  const Tensor x32 = random_normal({2, 64}, Dtype::float32, 41);
  EXPECT_EQ(quantized_matmul(x16, q16.wq, q16.scales, q16.biases).dtype(), Dtype::float16);
  EXPECT_EQ(quantized_matmul(xbf, q16.wq, q16.scales, q16.biases).dtype(), Dtype::float32);
  EXPECT_EQ(quantized_matmul(x32, qbf.wq, qbf.scales, qbf.biases).dtype(), Dtype::float32);
  EXPECT_EQ(quantized_matmul(xbf, qbf.wq, qbf.scales, qbf.biases).dtype(), Dtype::bfloat16);
}

TEST(QuantizeShapes, BatchDimsAreKept) {
  const Quantized q = quantize(random_normal({2, 3, 128}, Dtype::bfloat16, 42), 32, 3);
  EXPECT_EQ(q.wq.shape(), (Shape{2, 3, 12}));
  EXPECT_EQ(q.scales.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(q.scales.dtype(), Dtype::bfloat16);
  EXPECT_EQ(q.biases->shape(), (Shape{2, 3, 4}));
}

}  // namespace
}  // namespace qlinear
