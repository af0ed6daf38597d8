#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "nn/test_util.h"
#include "qlinear/nn.h"

namespace qlinear::nn {
namespace {

using testing::expect_linear_close;
using testing::names_of;
using testing::random_floats;
using Names = std::vector<std::string>;

TEST(Linear, InitShapesAndRange) {
  seed(7);
  const Linear layer(64, 16);
  EXPECT_EQ(names_of(layer.parameters()), (Names{"weight", "bias"}));
  EXPECT_EQ(layer.parameter("weight").shape(), (Shape{16, 64}));
  EXPECT_EQ(layer.parameter("bias").shape(), (Shape{16}));
  for (float v : layer.parameter("weight").to_floats()) EXPECT_LE(std::abs(v), 0.125f);
  EXPECT_EQ(layer.repr(), "Linear(input_dims=64, output_dims=16, bias=True)");
  EXPECT_FALSE(Linear(4, 2, false).has_bias());
}

TEST(Linear, ForwardWithinTheDotProductErrorBound) {
  const Linear layer(80, 7);
  const Tensor x = random_floats({2, 3, 80}, 1);
  const Tensor y = layer(x);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 7}));
  EXPECT_EQ(y.dtype(), Dtype::float32);
  expect_linear_close(x, layer.parameter("weight"), &layer.parameter("bias"), y);
  EXPECT_EQ(layer(random_floats({80}, 2)).shape(), (Shape{7}));
}

TEST(Linear, HoldsGivenTensors) {
  const Tensor weight = random_floats({3, 5}, 8, Dtype::bfloat16);
  const Tensor bias = random_floats({3}, 9);
  const Linear layer(weight, bias);
  EXPECT_TRUE(layer.parameter("weight").bit_equal(weight));
  EXPECT_TRUE(layer.parameter("bias").bit_equal(bias));
  EXPECT_EQ(layer.repr(), "Linear(input_dims=5, output_dims=3, bias=True)");
  EXPECT_FALSE(Linear(weight).has_bias());
  try {
    Linear(weight, random_floats({5}, 1));
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "[Linear] bias must be a floating point vector of 3 elements, got float32 with "
                 "shape (5,).");
  }
  EXPECT_THROW(Embedding(Tensor::zeros({4}, Dtype::float32)), std::invalid_argument);
}

TEST(Linear, RejectsAWrongInputWidth) {
  try {
    Linear(8, 2)(Tensor::zeros({3, 9}, Dtype::float32));
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "[Linear] Last dimension of x with shape (3, 9) must be 8 to match the weight "
                 "with shape (2, 8).");
  }
}

TEST(QuantizedLinear, InitIsFrozenAndShaped) {
  const QuantizedLinear layer(128, 32, true, {64, 3, QuantMode::affine});
  EXPECT_EQ(names_of(layer.parameters()), (Names{"weight", "scales", "biases", "bias"}));
  EXPECT_EQ(layer.parameter("weight").shape(), (Shape{32, 12}));
  EXPECT_EQ(layer.parameter("weight").dtype(), Dtype::uint32);
  EXPECT_EQ(layer.parameter("scales").shape(), (Shape{32, 2}));
  EXPECT_EQ(layer.parameter("biases").shape(), (Shape{32, 2}));
  EXPECT_EQ(layer.parameter("bias").to_floats(), std::vector<float>(32, 0.0f));
  EXPECT_EQ(layer.input_dims(), 128);
  EXPECT_EQ(layer.quant_spec(), (QuantSpec{64, 3, QuantMode::affine}));
  EXPECT_EQ(layer.repr(),
            "QuantizedLinear(input_dims=128, output_dims=32, bias=True, group_size=64, bits=3, "
            "mode=affine)");
}

TEST(QuantizedLinear, FromLinearEqualsQuantizedMatmulPlusBias) {
  const Linear linear(256, 24);
  const auto layer = QuantizedLinear::from_linear(linear, {32, 4, QuantMode::affine});
  const Quantized expected = quantize(linear.parameter("weight"), 32, 4);
  EXPECT_TRUE(layer->parameter("weight").bit_equal(expected.wq));
  EXPECT_TRUE(layer->parameter("scales").bit_equal(expected.scales));
  EXPECT_TRUE(layer->parameter("biases").bit_equal(*expected.biases));
  EXPECT_TRUE(layer->parameter("bias").bit_equal(linear.parameter("bias")));

  const Tensor x = random_floats({5, 256}, 3);
  const auto product =
      quantized_matmul(x, expected.wq, expected.scales, expected.biases, true, 32, 4).to_floats();
  const auto bias = linear.parameter("bias").to_floats();
  const auto y = (*layer)(x).to_floats();
  ASSERT_EQ(y.size(), product.size());
  for (std::size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], product[i] + bias[i % 24]);

  // Leading dims: a (1, 5, 256) batch gives the same rows.
  EXPECT_TRUE((*layer)(x.reshape({1, 5, 256})).bit_equal((*layer)(x).reshape({1, 5, 24})));
}

TEST(QuantizedLinear, FromLinearWithoutBiasHasNone) {
  const auto layer = QuantizedLinear::from_linear(Linear(64, 8, false));
  EXPECT_EQ(names_of(layer->parameters()), (Names{"weight", "scales", "biases"}));
  EXPECT_FALSE(layer->has_bias());
}

TEST(QuantizedLinear, FromQuantizedWrapsPackedTensorsAsFromLinearWould) {
  const Linear linear(128, 16);
  const QuantSpec spec{64, 3, QuantMode::affine};
  const auto wrapped = QuantizedLinear::from_quantized(
      spec, quantize(linear.parameter("weight"), 64, 3), linear.parameter("bias"));
  const auto converted = QuantizedLinear::from_linear(linear, spec);
  EXPECT_EQ(wrapped->repr(), converted->repr());
  EXPECT_TRUE(wrapped->trainable_parameters().empty());
  const Tensor x = random_floats({3, 128}, 4);
  EXPECT_TRUE((*wrapped)(x).bit_equal((*converted)(x)));
}

TEST(QuantizedLinear, FromQuantizedRefusesTensorsThatDoNotFitTheSpec) {
  const Quantized q = quantize(random_floats({16, 128}, 5), 64, 4);
  auto message = [&](QuantSpec spec, std::optional<Tensor> bias) {
    try {
      QuantizedLinear::from_quantized(spec, q, std::move(bias));
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message({64, 3, QuantMode::affine}, std::nullopt)
                .rfind("[QuantizedLinear] The shapes of the weight and scales are incompatible", 0),
            0u);
  EXPECT_EQ(message({64, 7, QuantMode::affine}, std::nullopt).rfind("[QuantizedLinear]", 0), 0u);
  EXPECT_EQ(message({64, 4, QuantMode::affine}, Tensor::zeros({15}, Dtype::float32)),
            "[QuantizedLinear] The bias must have shape (16,) but has shape (15,).");
  EXPECT_EQ(message({64, 4, QuantMode::affine}, Tensor::zeros({16}, Dtype::float32)), "no error");
}

TEST(QuantizedLinear, ParametersStayFrozenThroughUnfreeze) {
  QuantizedLinear layer(64, 8);
  EXPECT_TRUE(layer.trainable_parameters().empty());
  layer.unfreeze();
  EXPECT_TRUE(layer.trainable_parameters().empty());
  layer.unfreeze(true, Names{"scales"});
  EXPECT_TRUE(layer.trainable_parameters().empty());

  // Inside a container, unfreeze() reaches the float child but not the quantized one.
  Container model("Model");
  model.set_module("float", std::make_shared<Linear>(4, 4));
  model.set_module("quantized", std::make_shared<QuantizedLinear>(64, 8));
  model.freeze();
  EXPECT_TRUE(model.trainable_parameters().empty());
  model.unfreeze();
  EXPECT_EQ(names_of(model.trainable_parameters()), (Names{"float.weight", "float.bias"}));
}

TEST(QuantizedLinear, WrongInputWidthIsAQuantizedMatmulError) {
  const QuantizedLinear layer(64, 8);
  try {
    layer(Tensor::zeros({2, 32}, Dtype::float32));
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).rfind("[quantized_matmul] Last dimension of x", 0), 0u)
        << e.what();
  }
}

TEST(Embedding, LooksUpRowsForAnyIdShape) {
  const Embedding embedding(10, 8);
  const auto ids = Tensor::from_values<std::int32_t>({2, 2}, Dtype::int32,
                                                     std::vector<std::int32_t>{3, 0, 9, 3});
  const Tensor rows = embedding(ids);
  EXPECT_EQ(rows.shape(), (Shape{2, 2, 8}));
  const auto table = embedding.parameter("weight").to_floats();
  const auto values = rows.to_floats();
  const int picked[] = {3, 0, 9, 3};
  for (int i = 0; i < 4; ++i) {
    for (int d = 0; d < 8; ++d) EXPECT_EQ(values[i * 8 + d], table[picked[i] * 8 + d]);
  }
  EXPECT_EQ(embedding.repr(), "Embedding(10, 8)");
}

TEST(Embedding, RejectsOutOfRangeIds) {
  const Embedding embedding(10, 8);
  const auto ids =
      Tensor::from_values<std::int64_t>({2}, Dtype::int64, std::vector<std::int64_t>{1, 10});
  try {
    embedding(ids);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "[Embedding] id 10 at position 1 is out of range for 10 rows.");
  }
}

TEST(QuantizedEmbedding, LookupDequantizesTheChosenRows) {
  const Embedding embedding(12, 64);
  const QuantSpec spec{32, 6, QuantMode::affine};
  const auto layer = QuantizedEmbedding::from_embedding(embedding, spec);
  EXPECT_EQ(layer->repr(), "QuantizedEmbedding(12, 64, group_size=32, bits=6, mode=affine)");
  EXPECT_EQ(layer->quant_spec(), spec);
  EXPECT_TRUE(layer->trainable_parameters().empty());

  const Quantized q = quantize(embedding.parameter("weight"), 32, 6);
  const auto full = dequantize(q.wq, q.scales, q.biases, 32, 6).to_floats();
  const auto ids =
      Tensor::from_values<std::uint32_t>({3}, Dtype::uint32, std::vector<std::uint32_t>{11, 0, 5});
  const auto rows = (*layer)(ids).to_floats();
  ASSERT_EQ(rows.size(), 3u * 64);
  const int picked[] = {11, 0, 5};
  for (int i = 0; i < 3; ++i) {
    for (int d = 0; d < 64; ++d) EXPECT_EQ(rows[i * 64 + d], full[picked[i] * 64 + d]);
  }
}

TEST(QuantizedEmbedding, AsLinearIsQuantizedMatmul) {
  const QuantizedEmbedding layer(16, 64);
  const Tensor x = random_floats({3, 64}, 4);
  const Tensor expected = quantized_matmul(x, layer.parameter("weight"), layer.parameter("scales"),
                                           layer.parameter("biases"), true, 64, 4);
  EXPECT_TRUE(layer.as_linear(x).bit_equal(expected));
  EXPECT_EQ(layer.as_linear(x).shape(), (Shape{3, 16}));
}

}  // namespace
}  // namespace qlinear::nn
