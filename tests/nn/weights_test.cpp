#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "nn/test_util.h"
#include "qlinear/nn.h"

namespace qlinear::nn {
namespace {

std::unique_ptr<Container> make_model() {
  auto model = std::make_unique<Container>("Model");
  model->set_module("a", std::make_shared<Linear>(64, 8));
  model->set_module("q", std::make_shared<QuantizedLinear>(64, 4, false));
  return model;
}

TensorMap parameters_of(const Module& model) {
  TensorMap out;
  for (auto& [path, value] : model.parameters()) out.emplace(path, value);
  return out;
}

TEST(LoadWeights, StrictReportsEveryProblemAndChangesNothing) {
  auto model = make_model();
  const TensorMap before = parameters_of(*model);
  TensorMap weights = parameters_of(*make_model());
  weights.erase("a.bias");
  weights.erase("q.scales");
  weights["a.weight"] = Tensor::zeros({8, 63}, Dtype::float32);
  weights["q.weight"] = Tensor::zeros({4, 8}, Dtype::float16);
  weights["extra.weight"] = Tensor::zeros({1}, Dtype::float32);
  weights["a.bias2"] = Tensor::zeros({1}, Dtype::float32);
  try {
    model->load_weights(weights);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "[load_weights] The weights do not match the Model (4 problems):\n"
                 "  2 parameters not in model: a.bias2, extra.weight\n"
                 "  missing 2 parameters: a.bias, q.scales\n"
                 "  shape of a.weight: expected (8, 64), received (8, 63)\n"
                 "  dtype of q.weight: expected uint32, received float16");
  }
  for (const auto& [path, value] : model->parameters()) {
    EXPECT_TRUE(value.bit_equal(before.at(path))) << path;
  }
}

TEST(LoadWeights, StrictAcceptsOtherFloatDtypesAndReplacesValues) {
  auto model = make_model();
  TensorMap weights = parameters_of(*make_model());
  weights["a.weight"] = testing::random_floats({8, 64}, 5, Dtype::bfloat16);
  model->load_weights(weights);
  EXPECT_TRUE(model->module_at("a").parameter("weight").bit_equal(weights["a.weight"]));
  EXPECT_TRUE(model->module_at("q").parameter("scales").bit_equal(weights["q.scales"]));
}

TEST(LoadWeights, NonStrictLoadsWhatMatchesAndIgnoresTheRest) {
  auto model = make_model();
  const Tensor old_bias = model->module_at("a").parameter("bias");
  const Tensor weight = testing::random_floats({8, 64}, 6);
  model->load_weights(TensorMap{{"a.weight", weight}, {"nonsense", weight}}, false);
  EXPECT_TRUE(model->module_at("a").parameter("weight").bit_equal(weight));
  EXPECT_TRUE(model->module_at("a").parameter("bias").bit_equal(old_bias));
  EXPECT_THROW(model->load_weights(TensorMap{{"a.weight", weight}}), std::invalid_argument);
}

TEST(SaveWeights, RoundTripsThroughSafetensors) {
  const auto dir = std::filesystem::temp_directory_path() / "qlinear_nn_weights_test";
  std::filesystem::create_directories(dir);
  const auto file = dir / "model.safetensors";
  const auto model = make_model();
  model->save_weights(file);
  const SafetensorsFile saved = load_safetensors(file);
  EXPECT_EQ(saved.metadata, (Metadata{{"format", "mlx"}}));
  auto loaded = make_model();
  loaded->load_weights(file);
  for (const auto& [path, value] : model->parameters()) {
    EXPECT_TRUE(loaded->module_at(path.substr(0, 1)).parameter(path.substr(2)).bit_equal(value))
        << path;
  }
  EXPECT_THROW(model->save_weights(dir / "model.npz"), std::invalid_argument);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace qlinear::nn
