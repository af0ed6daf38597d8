#include <gtest/gtest.h>

#include <memory>

#include "nn/test_util.h"
#include "qlinear/nn.h"

namespace qlinear::nn {
namespace {

// Model(embed: Embedding(16, 64), layers: [Block(up: Linear(64, 128), down: Linear(128, 64),
// norm: RMSNorm)] x 2, head: Linear(64, 16))
std::unique_ptr<Container> make_model() {
  auto model = std::make_unique<Container>("Model");
  model->set_module("embed", std::make_shared<Embedding>(16, 64));
  ModuleList layers;
  for (int i = 0; i < 2; ++i) {
    auto block = std::make_shared<Container>("Block");
    block->set_module("up", std::make_shared<Linear>(64, 128));
    block->set_module("down", std::make_shared<Linear>(128, 64, false));
    auto norm = std::make_shared<Container>("RMSNorm");
    norm->set_parameter("weight", Tensor::zeros({64}, Dtype::float32));
    block->set_module("norm", norm);
    layers.push_back(block);
  }
  model->set_modules("layers", std::move(layers));
  model->set_module("head", std::make_shared<Linear>(64, 16, false));
  return model;
}

std::optional<QuantSpec> spec_at(const Module& model, std::string_view path) {
  return model.module_at(path).quant_spec();
}

TEST(Quantize, DefaultReplacesEveryLinearAndEmbedding) {
  auto model = make_model();
  const Tensor up_weight = model->module_at("layers.1.up").parameter("weight");
  quantize(*model);
  const QuantSpec expected{64, 4, QuantMode::affine};
  EXPECT_EQ(model->module_at("embed").type_name(), "QuantizedEmbedding");
  EXPECT_EQ(model->module_at("layers.0.up").type_name(), "QuantizedLinear");
  EXPECT_EQ(spec_at(*model, "layers.1.down"), expected);
  EXPECT_EQ(spec_at(*model, "head"), expected);
  EXPECT_EQ(model->module_at("layers.0.norm").type_name(), "RMSNorm");
  EXPECT_TRUE(
      model->module_at("layers.1.up").parameter("weight").bit_equal(quantize(up_weight, 64, 4).wq));
  EXPECT_EQ(model->trainable_parameters().size(), 2u);  // the two norms
}

TEST(Quantize, PerLayerSettingsFromThePredicateAreUsedExactly) {
  auto model = make_model();
  const QuantSpec high{32, 6, QuantMode::affine}, low{32, 2, QuantMode::affine};
  quantize(*model, 64, 3, "affine", [&](std::string_view path, const Module&) -> QuantChoice {
    if (path == "embed" || path.ends_with("norm")) return false;
    if (path.ends_with("down")) return high;
    if (path == "head") return low;
    return true;
  });
  EXPECT_EQ(model->module_at("embed").type_name(), "Embedding");
  EXPECT_EQ(spec_at(*model, "layers.0.down"), high);
  EXPECT_EQ(spec_at(*model, "layers.1.down"), high);
  EXPECT_EQ(spec_at(*model, "head"), low);
  EXPECT_EQ(spec_at(*model, "layers.0.up"), (QuantSpec{64, 3, QuantMode::affine}));
  EXPECT_EQ(model->module_at("layers.0.down").parameter("weight").shape(), (Shape{64, 24}));
}

TEST(Quantize, TheModelIsUnchangedWhenALayerCannotBeQuantized) {
  auto model = make_model();
  const std::string before = model->repr();
  try {
    // 64 is not divisible by 128: embed, up and head fail; the first in order is named.
    quantize(*model, 128, 4);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "[nn::quantize] Layer 'embed': input dims 64 is not divisible by group_size "
                 "128.");
  }
  EXPECT_EQ(model->repr(), before);

  try {
    quantize(*model, 64, 4, "affine",
             [](std::string_view, const Module&) -> QuantChoice { return true; });
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "[nn::quantize] Layer 'layers.0.norm': a RMSNorm cannot be quantized.");
  }
  EXPECT_EQ(model->repr(), before);
}

TEST(Quantize, BadSettingsAreRejectedBeforeAnything) {
  auto model = make_model();
  EXPECT_THROW(quantize(*model, 64, 7), std::invalid_argument);
  EXPECT_THROW(quantize(*model, 64, 4, "int4"), std::invalid_argument);
  EXPECT_EQ(model->module_at("head").type_name(), "Linear");
}

}  // namespace
}  // namespace qlinear::nn
