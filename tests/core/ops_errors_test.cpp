// Every invalid argument of the ops throws std::invalid_argument whose message starts with
// "[op]" and names the offending values.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <span>
#include <string>

#include "core/random.h"
#include "qlinear/ops.h"
#include "qlinear/runtime.h"

namespace qlinear {
namespace {

using testing::random_normal;

// Runs fn, expects std::invalid_argument, and checks its message starts with "[op]" and
// contains every fragment.
template <class Fn>
void expect_invalid(Fn&& fn, const std::string& op, std::initializer_list<std::string> fragments) {
  try {
    fn();
    FAIL() << "expected std::invalid_argument from " << op;
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("[" + op + "] ", 0), 0u) << message;
    for (const auto& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "missing '" << fragment << "' in: " << message;
    }
  }
}

struct Packed {
  Tensor w = random_normal({8, 128}, Dtype::float32, 1);
  Quantized q = quantize(w, 64, 4);
  Tensor x = random_normal({2, 128}, Dtype::float32, 2);
};

TEST(QuantizeErrors, UnsupportedGroupSize) {
  const Packed p;
  expect_invalid([&] { quantize(p.w, 48, 4); }, "quantize", {"group size 48", "32, 64 and 128"});
  expect_invalid([&] { dequantize(p.q.wq, p.q.scales, p.q.biases, 16, 4); }, "dequantize",
                 {"group size 16"});
  expect_invalid([&] { quantized_matmul(p.x, p.q.wq, p.q.scales, p.q.biases, true, 256, 4); },
                 "quantized_matmul", {"group size 256"});
}

TEST(QuantizeErrors, UnsupportedBits) {
  const Packed p;
  expect_invalid([&] { quantize(p.w, 64, 7); }, "quantize", {"bits 7", "1, 2, 3, 4, 5, 6 and 8"});
  expect_invalid([&] { dequantize(p.q.wq, p.q.scales, p.q.biases, 64, 7); }, "dequantize",
                 {"bits 7"});
  expect_invalid([&] { quantized_matmul(p.x, p.q.wq, p.q.scales, p.q.biases, true, 64, 16); },
                 "quantized_matmul", {"bits 16"});
}

TEST(QuantizeErrors, UnknownMode) {
  const Packed p;
  expect_invalid([&] { quantize(p.w, 64, 4, "int4"); }, "quantize", {"'int4'"});
  expect_invalid([&] { dequantize(p.q.wq, p.q.scales, p.q.biases, 64, 4, "Affine"); }, "dequantize",
                 {"'Affine'"});
  expect_invalid([&] { quantized_matmul(p.x, p.q.wq, p.q.scales, p.q.biases, true, {}, {}, ""); },
                 "quantized_matmul", {"''"});
}

TEST(QuantizeErrors, NonFloatInput) {
  const Tensor w = Tensor::zeros({4, 64}, Dtype::int32);
  expect_invalid([&] { quantize(w); }, "quantize", {"int32"});
  const Tensor d = Tensor::zeros({4, 64}, Dtype::float64);
  expect_invalid([&] { quantize(d); }, "quantize", {"float64"});
}

TEST(QuantizeErrors, TooFewDimensions) {
  const Tensor w = random_normal({128}, Dtype::float32, 3);
  expect_invalid([&] { quantize(w); }, "quantize", {"at least 2 dimensions", "(128,)"});
}

TEST(QuantizeErrors, LastDimNotDivisible) {
  const Tensor w = random_normal({4, 96}, Dtype::float16, 4);
  expect_invalid([&] { quantize(w, 64); }, "quantize", {"group size 64", "(4, 96)"});
}

TEST(QuantizeErrors, NaNNamesFirstPosition) {
  std::vector<float> values(4 * 64, 1.0f);
  values[2 * 64 + 5] = std::nanf("");
  values[3 * 64 + 1] = std::numeric_limits<float>::infinity();
  const Tensor w = Tensor::from_floats({4, 64}, Dtype::bfloat16, values);
  expect_invalid([&] { quantize(w); }, "quantize", {"NaN", "(2, 5)"});
}

TEST(QuantizeErrors, InfinityNamesPosition) {
  std::vector<float> values(2 * 3 * 32, 0.5f);
  values[1 * 96 + 2 * 32 + 7] = -std::numeric_limits<float>::infinity();
  const Tensor w = Tensor::from_floats({2, 3, 32}, Dtype::float32, values);
  expect_invalid([&] { quantize(w, 32); }, "quantize", {"infinity", "(1, 2, 7)"});
}

// Large inputs are checked block by block on several threads: the first bad element
// still wins, wherever the blocks end.
TEST(QuantizeErrors, FirstBadElementOfALargeInputWins) {
  constexpr std::int64_t rows = 512, cols = 4096;
  std::vector<float> values(rows * cols, 0.25f);
  values[300 * cols + 17] = std::numeric_limits<float>::infinity();
  values[301 * cols + 2] = std::nanf("");
  values[9 * cols + 4095] = -std::numeric_limits<float>::infinity();
  const Tensor w = Tensor::from_floats({rows, cols}, Dtype::float32, values);
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    expect_invalid([&] { quantize(w); }, "quantize", {"infinity", "(9, 4095)"});
  }
  set_num_threads(0);
}

TEST(PackedErrors, WeightNotUint32) {
  const Packed p;
  const Tensor wq = Tensor::zeros(p.q.wq.shape(), Dtype::int32);
  expect_invalid([&] { dequantize(wq, p.q.scales, p.q.biases); }, "dequantize",
                 {"uint32", "int32"});
  expect_invalid([&] { quantized_matmul(p.x, wq, p.q.scales, p.q.biases); }, "quantized_matmul",
                 {"uint32", "int32"});
}

TEST(PackedErrors, ScalesBiasesShapeMismatch) {
  const Packed p;
  const Tensor biases = Tensor::zeros({8, 3}, Dtype::float32);
  expect_invalid([&] { dequantize(p.q.wq, p.q.scales, biases); }, "dequantize",
                 {"(8, 2)", "(8, 3)"});
}

TEST(PackedErrors, ScalesBiasesDtypeMismatch) {
  const Packed p;
  const Tensor biases = p.q.biases->astype(Dtype::float16);
  expect_invalid([&] { quantized_matmul(p.x, p.q.wq, p.q.scales, biases); }, "quantized_matmul",
                 {"float32", "float16"});
}

TEST(PackedErrors, WeightScalesIncompatible) {
  const Packed p;
  // 4-bit codes read as 8-bit: 16 words hold 64 codes, but the scales promise 128.
  expect_invalid([&] { dequantize(p.q.wq, p.q.scales, p.q.biases, 64, 8); }, "dequantize",
                 {"(8, 16)", "(8, 2)", "group_size=64", "bits=8"});
}

TEST(PackedErrors, BatchShapesDiffer) {
  const Tensor w = random_normal({2, 4, 64}, Dtype::float32, 5);
  const Quantized q = quantize(w);
  const Tensor scales = q.scales.reshape({4, 2, 1});
  const Tensor biases = q.biases->reshape({4, 2, 1});
  expect_invalid([&] { dequantize(q.wq, scales, biases); }, "dequantize",
                 {"batch shape", "(2, 4, 8)", "(4, 2, 1)"});
}

TEST(PackedErrors, BiasesMissingForAffine) {
  const Packed p;
  expect_invalid([&] { dequantize(p.q.wq, p.q.scales, std::nullopt); }, "dequantize",
                 {"Biases must be provided"});
}

TEST(MatmulErrors, InputDimMismatch) {
  const Packed p;
  const Tensor x = random_normal({3, 64}, Dtype::float32, 6);
  expect_invalid([&] { quantized_matmul(x, p.q.wq, p.q.scales, p.q.biases); }, "quantized_matmul",
                 {"(3, 64)", "128", "(8, 16)"});
  // transpose=false: W is (8, 128), so x must have 8 columns.
  expect_invalid([&] { quantized_matmul(p.x, p.q.wq, p.q.scales, p.q.biases, false); },
                 "quantized_matmul", {"(2, 128)", "must be 8", "transpose=false"});
}

TEST(MatmulErrors, NonFloatInput) {
  const Packed p;
  const Tensor x = Tensor::zeros({2, 128}, Dtype::int8);
  expect_invalid([&] { quantized_matmul(x, p.q.wq, p.q.scales, p.q.biases); }, "quantized_matmul",
                 {"int8"});
}

TEST(MatmulErrors, BatchDimsDoNotBroadcast) {
  const Tensor w = random_normal({3, 4, 64}, Dtype::float32, 7);
  const Quantized q = quantize(w);
  const Tensor x = random_normal({2, 5, 64}, Dtype::float32, 8);
  expect_invalid([&] { quantized_matmul(x, q.wq, q.scales, q.biases); }, "quantized_matmul",
                 {"(2, 5, 64)", "(3, 4, 8)", "broadcast"});
}

TEST(DequantizeErrors, NonFloatOutputDtype) {
  const Packed p;
  expect_invalid([&] { dequantize(p.q.wq, p.q.scales, p.q.biases, {}, {}, "affine", Dtype::int8); },
                 "dequantize", {"int8"});
}

// gather_qmm: 4 experts of (8, 128), x of 3 matrices (1, 128).
struct Experts {
  Quantized q = quantize(random_normal({4, 8, 128}, Dtype::float32, 9), 64, 4);
  Tensor x = random_normal({3, 1, 128}, Dtype::float32, 10);
};

Tensor u32(Shape shape, std::initializer_list<std::uint32_t> values) {
  return Tensor::from_values<std::uint32_t>(std::move(shape), Dtype::uint32,
                                            std::span<const std::uint32_t>(values));
}

TEST(GatherErrors, IndexOutsideItsBatch) {
  const Experts e;
  expect_invalid(
      [&] {
        gather_qmm(e.x, e.q.wq, e.q.scales, e.q.biases, {}, u32({3}, {0, 4, 1}));
      },
      "gather_qmm", {"rhs_indices", "holds 4", "position 1", "4 matrices", "(4, 8, 16)"});
  expect_invalid(
      [&] {
        gather_qmm(e.x, e.q.wq, e.q.scales, e.q.biases, u32({2}, {3, 0}));
      },
      "gather_qmm", {"lhs_indices", "holds 3", "position 0", "3 matrices", "(3, 1, 128)"});
  const std::int32_t negative[] = {0, -1, 2};
  const Tensor rhs = Tensor::from_values<std::int32_t>({3}, Dtype::int32, negative);
  expect_invalid([&] { gather_qmm(e.x, e.q.wq, e.q.scales, e.q.biases, {}, rhs); }, "gather_qmm",
                 {"rhs_indices", "holds -1", "position 1"});
}

TEST(GatherErrors, IndicesMustBeIntegers) {
  const Experts e;
  const Tensor rhs = Tensor::zeros({3}, Dtype::float32);
  expect_invalid([&] { gather_qmm(e.x, e.q.wq, e.q.scales, e.q.biases, {}, rhs); }, "gather_qmm",
                 {"Indices must be integral"});
  const Tensor flags = Tensor::zeros({3}, Dtype::bool_);
  expect_invalid([&] { gather_qmm(e.x, e.q.wq, e.q.scales, e.q.biases, flags); }, "gather_qmm",
                 {"Indices must be integral"});
}

TEST(GatherErrors, IndexShapesDoNotBroadcast) {
  const Experts e;
  // lhs defaults to the 3 matrices of x, shape (3,): 2 experts do not broadcast with it.
  expect_invalid(
      [&] {
        gather_qmm(e.x, e.q.wq, e.q.scales, e.q.biases, {}, u32({2}, {0, 1}));
      },
      "gather_qmm", {"(3,)", "(2,)", "broadcast"});
}

TEST(GatherErrors, InputsOfTooFewDims) {
  const Experts e;
  const Tensor x1 = random_normal({128}, Dtype::float32, 11);
  expect_invalid([&] { gather_qmm(x1, e.q.wq, e.q.scales, e.q.biases, {}, u32({1}, {0})); },
                 "gather_qmm", {"at least two dimensions", "(128,)"});
}

TEST(GatherErrors, ShapesAndSettings) {
  const Experts e;
  const Tensor rhs = u32({3}, {0, 1, 3});
  expect_invalid([&] { gather_qmm(e.x, e.q.wq, e.q.scales, e.q.biases, {}, rhs, false); },
                 "gather_qmm", {"(3, 1, 128)", "(8, 128)", "(4, 8, 16)", "transpose=false"});
  expect_invalid([&] { gather_qmm(e.x, e.q.wq, e.q.scales, std::nullopt, {}, rhs); }, "gather_qmm",
                 {"Biases must be provided"});
  expect_invalid([&] { gather_qmm(e.x, e.q.wq, e.q.scales, e.q.biases, {}, rhs, true, 32); },
                 "gather_qmm", {"group_size=32"});
  expect_invalid(
      [&] { gather_qmm(e.x, e.q.wq, e.q.scales, e.q.biases, {}, rhs, true, {}, {}, "mxfp5"); },
      "gather_qmm", {"mxfp5"});
  const Tensor xi = Tensor::zeros({3, 1, 128}, Dtype::int32);
  expect_invalid([&] { gather_qmm(xi, e.q.wq, e.q.scales, e.q.biases, {}, rhs); }, "gather_qmm",
                 {"int32"});
}

}  // namespace
}  // namespace qlinear
