#include <gtest/gtest.h>

#include <memory>

#include "nn/test_util.h"
#include "qlinear/nn.h"

namespace qlinear::nn {
namespace {

using testing::names_of;
using Names = std::vector<std::string>;

// Model(layers: [Block(proj: Linear, norm: Container{weight}) x 2], head: Linear)
std::unique_ptr<Container> make_model() {
  auto model = std::make_unique<Container>("Model");
  ModuleList layers;
  for (int i = 0; i < 2; ++i) {
    auto block = std::make_shared<Container>("Block");
    block->set_module("proj", std::make_shared<Linear>(4, 4));
    auto norm = std::make_shared<Container>("RMSNorm");
    norm->set_parameter("weight", Tensor::zeros({4}, Dtype::float32));
    block->set_module("norm", norm);
    layers.push_back(block);
  }
  model->set_modules("layers", std::move(layers));
  model->set_module("head", std::make_shared<Linear>(4, 3, false));
  return model;
}

TEST(Module, ParametersHaveDottedPathsInRegistrationOrder) {
  const auto model = make_model();
  EXPECT_EQ(
      names_of(model->parameters()),
      (Names{"layers.0.proj.weight", "layers.0.proj.bias", "layers.0.norm.weight",
             "layers.1.proj.weight", "layers.1.proj.bias", "layers.1.norm.weight", "head.weight"}));
  EXPECT_EQ(model->parameters()[6].second.shape(), (Shape{3, 4}));
}

TEST(Module, ChildrenNamedModulesAndLeaves) {
  const auto model = make_model();
  EXPECT_EQ(names_of(model->children()), (Names{"layers.0", "layers.1", "head"}));
  EXPECT_EQ(names_of(model->named_modules()),
            (Names{"", "layers.0", "layers.0.proj", "layers.0.norm", "layers.1", "layers.1.proj",
                   "layers.1.norm", "head"}));
  EXPECT_EQ(names_of(model->leaf_modules()),
            (Names{"layers.0.proj", "layers.0.norm", "layers.1.proj", "layers.1.norm", "head"}));
  EXPECT_EQ(model->named_modules()[0].second.get(), model.get());
  EXPECT_TRUE(Linear(2, 2).leaf_modules().empty());
}

TEST(Module, ModuleAtFollowsListIndices) {
  const auto model = make_model();
  EXPECT_EQ(model->module_at("layers.1.proj").type_name(), "Linear");
  EXPECT_EQ(&model->module_at(""), model.get());
  EXPECT_THROW(model->module_at("layers.2.proj"), std::out_of_range);
  EXPECT_THROW(model->module_at("layers.x"), std::out_of_range);
  EXPECT_THROW(model->module_at("head.weight"), std::out_of_range);
}

TEST(Module, UpdateModulesReplacesInPlaceOrChangesNothing) {
  auto model = make_model();
  auto replacement = std::make_shared<Linear>(4, 6, false);
  model->update_modules({{"layers.1.proj", replacement}});
  EXPECT_EQ(&model->module_at("layers.1.proj"), replacement.get());

  try {
    model->update_modules(
        {{"head", std::make_shared<Linear>(4, 5)}, {"layers.7.proj", replacement}});
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "[update_modules] Model has no sub-module at path 'layers.7.proj'.");
  }
  EXPECT_EQ(dynamic_cast<const Linear&>(model->module_at("head")).output_dims(), 3);
}

TEST(Module, FreezeAndUnfreezeFollowMlx) {
  auto model = make_model();
  EXPECT_EQ(model->trainable_parameters().size(), 7u);
  model->freeze();
  EXPECT_TRUE(model->trainable_parameters().empty());
  EXPECT_EQ(model->parameters().size(), 7u);
  model->unfreeze(true, Names{"bias"});
  EXPECT_EQ(names_of(model->trainable_parameters()),
            (Names{"layers.0.proj.bias", "layers.1.proj.bias"}));
  model->unfreeze();
  model->freeze(false);  // the model itself has no parameters of its own
  EXPECT_EQ(model->trainable_parameters().size(), 7u);
  model->module_at("head").freeze(true, Names{"weight"});
  EXPECT_TRUE(model->module_at("head").is_frozen("weight"));
  EXPECT_EQ(model->trainable_parameters().size(), 6u);
  try {
    model->freeze(true, Names{"weihgt"}, true);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "[freeze] Model has no parameter named 'weihgt'.");
  }
}

TEST(Module, ReprMatchesMlx) {
  const auto model = make_model();
  EXPECT_EQ(model->repr(),
            "Model(\n"
            "  (layers.0): Block(\n"
            "    (proj): Linear(input_dims=4, output_dims=4, bias=True)\n"
            "    (norm): RMSNorm()\n"
            "  )\n"
            "  (layers.1): Block(\n"
            "    (proj): Linear(input_dims=4, output_dims=4, bias=True)\n"
            "    (norm): RMSNorm()\n"
            "  )\n"
            "  (head): Linear(input_dims=4, output_dims=3, bias=False)\n"
            ")");
}

}  // namespace
}  // namespace qlinear::nn
