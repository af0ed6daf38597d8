// The mixture-of-experts layers against the ops they are built on: every pair of a
// SwitchLinear is the Linear of its expert, a QuantizedSwitchLinear stays within the
// float32 dot-product bound of its dequantized experts in every mode, and SwitchGLU /
// SwitchMLP (sorted from 64 indices on, unsorted below) equal their per-token composition.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>
#include <random>

#include "nn/test_util.h"
#include "qlinear/float_ops.h"
#include "qlinear/nn.h"

namespace qlinear::nn {
namespace {

using testing::expect_linear_close;
using testing::names_of;
using testing::random_floats;
using Names = std::vector<std::string>;

// Expert e of a stacked (E, ...) tensor, as a copy.
Tensor expert(const Tensor& stacked, std::int64_t e) {
  Shape shape(stacked.shape().begin() + 1, stacked.shape().end());
  const std::size_t bytes = stacked.nbytes() / static_cast<std::size_t>(stacked.dim(0));
  return Tensor::copy_of(shape, stacked.dtype(),
                         static_cast<const char*>(stacked.data()) + e * bytes);
}

// Row r of a (R, ...) tensor viewed as (1, ..., D).
Tensor row(const Tensor& t, std::int64_t r, std::int64_t D) {
  return Tensor::copy_of({1, 1, D}, t.dtype(),
                         static_cast<const char*>(t.data()) + r * D * size_of(t.dtype()));
}

Tensor int32s(Shape shape, std::vector<std::int32_t> values) {
  return Tensor::from_values<std::int32_t>(std::move(shape), Dtype::int32, values);
}

// k experts per token, drawn from a fixed seed.
Tensor random_routes(std::int64_t tokens, std::int64_t k, std::int64_t experts,
                     std::uint32_t seed) {
  std::mt19937 engine(seed);
  std::vector<std::int32_t> values;
  for (std::int64_t t = 0; t < tokens; ++t) {
    std::vector<std::int32_t> all(static_cast<std::size_t>(experts));
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), engine);
    values.insert(values.end(), all.begin(), all.begin() + k);
  }
  return int32s({1, tokens, k}, values);
}

void expect_close_to(const Tensor& actual, const Tensor& expected, double tolerance) {
  ASSERT_EQ(actual.shape(), expected.shape());
  const auto a = actual.to_floats(), e = expected.to_floats();
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], e[i], tolerance) << "at " << i;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (float v : t.to_floats()) m = std::max(m, double(std::abs(v)));
  return m;
}

TEST(SwitchLinear, InitShapesAndRepr) {
  seed(3);
  const SwitchLinear layer(32, 16, 4);
  EXPECT_EQ(names_of(layer.parameters()), (Names{"weight", "bias"}));
  EXPECT_EQ(layer.parameter("weight").shape(), (Shape{4, 16, 32}));
  for (float v : layer.parameter("weight").to_floats())
    EXPECT_LE(std::abs(v), std::sqrt(1.0f / 32));
  for (float v : layer.parameter("bias").to_floats()) EXPECT_EQ(v, 0.0f);
  EXPECT_EQ(layer.repr(), "SwitchLinear()");
  EXPECT_EQ(layer.num_experts(), 4);
  EXPECT_EQ(layer.input_dims(), 32);
  EXPECT_EQ(layer.output_dims(), 16);
  EXPECT_FALSE(SwitchLinear(8, 2, 3, false).has_bias());
}

TEST(SwitchLinear, EachPairIsTheLinearOfItsExpert) {
  const Tensor weight = random_floats({5, 6, 24}, 1);
  const Tensor bias = random_floats({5, 6}, 2);
  const SwitchLinear with_bias(weight, bias), without_bias(weight);
  // Three x matrices of two rows; x's batch (3, 1) broadcasts against indices (3, 2).
  const Tensor x = random_floats({3, 1, 2, 24}, 3);
  const Tensor indices = int32s({3, 2}, {4, 0, 2, 2, 1, 3});
  const Tensor y = with_bias(x, indices), plain = without_bias(x, indices);
  ASSERT_EQ(y.shape(), (Shape{3, 2, 2, 6}));
  const auto ids = indices.to_floats();
  for (std::int64_t i = 0; i < 3; ++i) {
    const Tensor xi = Tensor::copy_of({2, 24}, Dtype::float32, x.data<float>() + i * 48);
    for (std::int64_t j = 0; j < 2; ++j) {
      const auto e = static_cast<std::int64_t>(ids[i * 2 + j]);
      const std::int64_t pair = i * 2 + j;
      const Tensor got = Tensor::copy_of({2, 6}, Dtype::float32, y.data<float>() + pair * 12);
      const Tensor bias_e = expert(bias, e);
      expect_linear_close(xi, expert(weight, e), &bias_e, got);
      const Tensor exact = Linear(expert(weight, e))(xi);
      EXPECT_TRUE(Tensor::copy_of({2, 6}, Dtype::float32, plain.data<float>() + pair * 12)
                      .bit_equal(exact));
    }
  }
}

TEST(SwitchLinear, RefusesBadIndicesAndShapes) {
  const SwitchLinear layer(8, 4, 3);
  const Tensor x = random_floats({2, 1, 8}, 4);
  EXPECT_THROW(
      {
        try {
          layer(x, int32s({2}, {0, 3}));
        } catch (const std::invalid_argument& e) {
          EXPECT_STREQ(e.what(),
                       "[SwitchLinear] indices hold 3 at flat position 1, outside the 3 experts.");
          throw;
        }
      },
      std::invalid_argument);
  EXPECT_THROW(layer(random_floats({2, 1, 9}, 5), int32s({2}, {0, 1})), std::invalid_argument);
  EXPECT_THROW(layer(x, int32s({3}, {0, 1, 2})), std::invalid_argument);  // (2,) vs (3,)
  EXPECT_THROW(SwitchLinear(random_floats({3, 4}, 6)), std::invalid_argument);
  EXPECT_THROW(SwitchLinear(random_floats({3, 4, 8}, 6), random_floats({4}, 7)),
               std::invalid_argument);
}

TEST(QuantizedSwitchLinear, EveryModeWithinTheBoundOfItsDequantizedExperts) {
  const SwitchLinear layer(random_floats({4, 8, 64}, 8), random_floats({4, 8}, 9));
  const Tensor x = random_floats({5, 1, 64}, 10);
  const Tensor indices = int32s({5}, {3, 0, 3, 1, 2});
  for (const ModeTraits& mode : kQuantModes) {
    SCOPED_TRACE(mode.name);
    const QuantSpec spec = QuantSpec::defaults(mode.mode);
    const auto q = QuantizedSwitchLinear::from_switch_linear(layer, spec);
    Names expected{"weight", "scales"};
    if (mode.has_biases()) expected.push_back("biases");
    expected.push_back("bias");
    EXPECT_EQ(names_of(q->parameters()), expected);
    EXPECT_EQ(q->parameter("weight").shape(), (Shape{4, 8, spec.packed_words(64)}));
    EXPECT_EQ(q->parameter("scales").shape(), (Shape{4, 8, 64 / spec.group_size}));
    EXPECT_EQ(q->input_dims(), 64);
    EXPECT_EQ(q->quant_spec(), spec);
    q->unfreeze();
    EXPECT_TRUE(q->trainable_parameters().empty());

    const Tensor* biases = q->has_parameter("biases") ? &q->parameter("biases") : nullptr;
    const Tensor w_hat = dequantize(q->parameter("weight"), q->parameter("scales"),
                                    biases ? std::optional(*biases) : std::nullopt, spec.group_size,
                                    spec.bits, mode.name, Dtype::float32);
    const Tensor y = (*q)(x, indices);
    ASSERT_EQ(y.shape(), (Shape{5, 1, 8}));
    const auto ids = indices.to_floats();
    for (std::int64_t i = 0; i < 5; ++i) {
      const auto e = static_cast<std::int64_t>(ids[i]);
      const Tensor bias_e = expert(layer.parameter("bias"), e);
      expect_linear_close(Tensor::copy_of({1, 64}, Dtype::float32, x.data<float>() + i * 64),
                          expert(w_hat, e), &bias_e,
                          Tensor::copy_of({1, 8}, Dtype::float32, y.data<float>() + i * 8));
    }
  }
}

TEST(QuantizedSwitchLinear, FromQuantizedChecksTheStack) {
  const Quantized stacked = qlinear::quantize(random_floats({2, 4, 64}, 11), 64, 4);
  const auto layer = QuantizedSwitchLinear::from_quantized({}, stacked, random_floats({2, 4}, 12));
  EXPECT_EQ(layer->num_experts(), 2);
  EXPECT_EQ(layer->repr(), "QuantizedSwitchLinear()");
  const Quantized matrix = qlinear::quantize(random_floats({4, 64}, 13), 64, 4);
  EXPECT_THROW(
      {
        try {
          QuantizedSwitchLinear::from_quantized({}, matrix);
        } catch (const std::invalid_argument& e) {
          EXPECT_STREQ(e.what(),
                       "[QuantizedSwitchLinear] The weight must have 3 dimensions but has shape "
                       "(4, 8).");
          throw;
        }
      },
      std::invalid_argument);
  EXPECT_THROW(QuantizedSwitchLinear::from_quantized({}, stacked, random_floats({4}, 14)),
               std::invalid_argument);
}

// The float experts of a token, composed by hand from single-pair calls.
Tensor glu_of(const SwitchGLU& glu, const Tensor& xt, std::int32_t e) {
  const Tensor id = int32s({1}, {e});
  auto call = [&](const char* name, const Tensor& in) {
    return dynamic_cast<const SwitchLayer&>(glu.module_at(name))(in, id);
  };
  const Tensor h = swiglu(call("gate_proj", xt), call("up_proj", xt));
  return call("down_proj", h.reshape({1, 1, h.dim(-1)}));
}

TEST(SwitchGLU, SortedAndUnsortedPathsEqualTheirPerTokenComposition) {
  seed(21);
  const SwitchGLU glu(32, 48, 8);
  EXPECT_EQ(names_of(glu.parameters()),
            (Names{"gate_proj.weight", "up_proj.weight", "down_proj.weight"}));
  EXPECT_EQ(glu.repr(),
            "SwitchGLU(\n  (gate_proj): SwitchLinear()\n  (up_proj): SwitchLinear()\n"
            "  (down_proj): SwitchLinear()\n)");
  for (const std::int64_t tokens : {3, 20}) {  // 12 indices: unsorted; 80: sorted
    SCOPED_TRACE(tokens);
    const Tensor x = random_floats({1, tokens, 32}, 22);
    const Tensor indices = random_routes(tokens, 4, 8, 23);
    const Tensor y = glu(x, indices);
    ASSERT_EQ(y.shape(), (Shape{1, tokens, 4, 32}));
    const std::vector<std::int32_t> ids(indices.data<std::int32_t>(),
                                        indices.data<std::int32_t>() + indices.size());
    for (std::int64_t p = 0; p < tokens * 4; ++p) {
      const Tensor expected = glu_of(glu, row(x, p / 4, 32), ids[p]);
      EXPECT_TRUE(
          Tensor::copy_of({1, 1, 32}, Dtype::float32, y.data<float>() + p * 32).bit_equal(expected))
          << "pair " << p;
    }
  }
}

TEST(SwitchGLU, QuantizedByNnQuantizeWithinTheBoundOfItsDequantizedExperts) {
  seed(31);
  auto glu = std::make_shared<SwitchGLU>(64, 64, 6);
  Container model;
  model.set_module("switch_mlp", glu);
  EXPECT_THROW(quantize(model, 128, 4), std::invalid_argument);  // 64 % 128
  EXPECT_EQ(model.module_at("switch_mlp.up_proj").type_name(), "SwitchLinear");
  quantize(model, 32, 4);
  std::vector<ModulePtr> dequantized;
  for (const char* name : {"gate_proj", "up_proj", "down_proj"}) {
    const Module& layer = glu->module_at(name);
    ASSERT_EQ(layer.type_name(), "QuantizedSwitchLinear");
    EXPECT_EQ(layer.quant_spec(), (QuantSpec{32, 4, QuantMode::affine}));
    dequantized.push_back(std::make_shared<SwitchLinear>(
        dequantize(layer.parameter("weight"), layer.parameter("scales"), layer.parameter("biases"),
                   32, 4, "affine", Dtype::float32)));
  }
  const SwitchGLU reference(dequantized[0], dequantized[1], dequantized[2]);
  for (const std::int64_t tokens : {2, 16}) {
    SCOPED_TRACE(tokens);
    const Tensor x = random_floats({1, tokens, 64}, 32);
    const Tensor indices = random_routes(tokens, 4, 6, 33);
    const Tensor expected = reference(x, indices);
    // Two chained 64-term float32 dot products with the same dequantized weights: each
    // within 64 eps of its magnitude, which the largest output bounds here with room.
    expect_close_to((*glu)(x, indices), expected,
                    4 * 128 * std::numeric_limits<float>::epsilon() * max_abs(expected));
  }
}

TEST(SwitchGLU, RefusesNonExpertLayersAndMismatchedRoutes) {
  EXPECT_THROW(SwitchGLU(std::make_shared<Linear>(4, 4), std::make_shared<SwitchLinear>(4, 4, 2),
                         std::make_shared<SwitchLinear>(4, 4, 2)),
               std::invalid_argument);
  const SwitchGLU glu(8, 8, 4);
  // 64 indices (the sorted path) for 10 tokens of x: not k per token.
  std::vector<std::int32_t> ids(64, 1);
  EXPECT_THROW(glu(random_floats({10, 8}, 34), int32s({16, 4}, ids)), std::invalid_argument);
}

TEST(SwitchMLP, SortedPathEqualsItsPerTokenComposition) {
  seed(41);
  const SwitchMLP mlp(16, 24, 5, true);
  EXPECT_EQ(names_of(mlp.parameters()),
            (Names{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
  const Tensor x = random_floats({1, 32, 16}, 42);
  const Tensor indices = random_routes(32, 2, 5, 43);  // 64 indices: sorted
  const Tensor y = mlp(x, indices);
  ASSERT_EQ(y.shape(), (Shape{1, 32, 2, 16}));
  const auto& fc1 = dynamic_cast<const SwitchLayer&>(mlp.module_at("fc1"));
  const auto& fc2 = dynamic_cast<const SwitchLayer&>(mlp.module_at("fc2"));
  for (std::int64_t p = 0; p < 64; ++p) {
    const Tensor id = int32s({1}, {indices.data<std::int32_t>()[p]});
    std::vector<float> h = fc1(row(x, p / 2, 16), id).to_floats();
    const float c = std::sqrt(2.0f / std::numbers::pi_v<float>);
    for (float& v : h) v = 0.5f * v * (1.0f + std::tanh(c * (v + 0.044715f * v * v * v)));
    const Tensor expected = fc2(Tensor::from_floats({1, 1, 24}, Dtype::float32, h), id);
    EXPECT_TRUE(
        Tensor::copy_of({1, 1, 16}, Dtype::float32, y.data<float>() + p * 16).bit_equal(expected))
        << "pair " << p;
  }
}

}  // namespace
}  // namespace qlinear::nn
