#include <fstream>

#include <gtest/gtest.h>

#include "model/text_file.h"
#include "nn/model_fixture.h"
#include "nn/test_util.h"

namespace qlinear {
namespace {

using LoadModelTest = testing::ModelFolderTest;

TEST_F(LoadModelTest, BuildsAGenericTreeFromTheWeightNames) {
  const LoadedModel loaded = load_model(float_dir());
  EXPECT_EQ(loaded.quantization, std::nullopt);
  const nn::Module& model = *loaded.model;
  EXPECT_EQ(model.module_at("model.embed_tokens").repr(), "Embedding(96, 64)");
  EXPECT_EQ(model.module_at("model.layers.7.self_attn.k_proj").repr(),
            "Linear(input_dims=64, output_dims=32, bias=False)");
  EXPECT_EQ(model.module_at("model.layers.0.mlp.down_proj").repr(),
            "Linear(input_dims=128, output_dims=64, bias=False)");
  EXPECT_EQ(model.module_at("model.layers.3.input_layernorm").parameter("weight").dtype(),
            Dtype::bfloat16);
  EXPECT_EQ(model.children().size(), 2u);                      // lm_head, model
  EXPECT_EQ(model.module_at("model").children().size(), 10u);  // embed, 8 layers, norm
}

// A folder saved from a tree quantized per layer (lm_head 8-bit, embed_tokens left float
// with a `false` entry, the rest 4-bit) loads back into exactly that tree.
TEST_F(LoadModelTest, QuantizesExactlyTheConfiguredLayersBeforeLoading) {
  LoadedModel source = load_model(float_dir());
  const QuantSpec eight{64, 8, QuantMode::affine};
  const QuantizationConfig config{{64, 4, QuantMode::affine},
                                  {{"lm_head", eight}, {"model.embed_tokens", std::nullopt}}};
  nn::quantize(*source.model, 64, 4, "affine",
               checkpoint_predicate(config, [](auto&) { return true; }));
  save_model(dir("mixed"), *source.model, source.config, config);

  const LoadedModel loaded = load_model(dir("mixed"));
  EXPECT_EQ(loaded.quantization, config);
  EXPECT_EQ(loaded.model->repr(), source.model->repr());
  EXPECT_EQ(loaded.model->module_at("lm_head").quant_spec(), eight);
  EXPECT_EQ(loaded.model->module_at("model.embed_tokens").type_name(), "Embedding");
  EXPECT_EQ(loaded.model->module_at("model.layers.4.mlp.up_proj").quant_spec(),
            (QuantSpec{64, 4, QuantMode::affine}));
  nn::testing::expect_same_parameters(loaded.model->parameters(), source.model->parameters());
}

// config.json says lm_head is quantized but the weights are float: every problem shows.
TEST_F(LoadModelTest, StrictLoadReportsEveryMismatch) {
  std::filesystem::copy(float_dir(), dir("bad"));
  const std::string config = model::read_text_file(float_dir() / "config.json");
  model::write_text_file(
      dir("bad") / "config.json",
      with_quantization(config,
                        QuantizationConfig{{64, 4, QuantMode::affine},
                                           {{"lm_head", QuantSpec{64, 4, QuantMode::affine}}}}));
  try {
    load_model(dir("bad"));
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "[load_weights] The weights do not match the Model (3 problems):\n"
                 "  missing 2 parameters: lm_head.biases, lm_head.scales\n"
                 "  shape of lm_head.weight: expected (96, 8), received (96, 64)\n"
                 "  dtype of lm_head.weight: expected uint32, received bfloat16");
  }
  EXPECT_NO_THROW(load_model(dir("bad"), false));
}

// 4-bit weights under a config.json that says 3 bits: the layer is named, nothing loads.
TEST_F(LoadModelTest, QuantizedWeightsThatDoNotFitTheConfigAreFileErrors) {
  LoadedModel source = load_model(float_dir());
  const QuantizationConfig four{{64, 4, QuantMode::affine}, {}};
  nn::quantize(*source.model, 64, 4, "affine",
               checkpoint_predicate(four, [](auto&) { return true; }));
  save_model(dir("q4"), *source.model, source.config, four);
  model::write_text_file(
      dir("q4") / "config.json",
      with_quantization(source.config, QuantizationConfig{{64, 3, QuantMode::affine}, {}}));
  try {
    load_model(dir("q4"));
    FAIL() << "expected an error";
  } catch (const FileError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(
                  "the weights of lm_head do not fit its quantization in config.json: "
                  "[QuantizedLinear] The shapes of the weight and scales are incompatible",
                  0),
              0u)
        << e.what();
  }
}

TEST_F(LoadModelTest, MissingFilesAreFileErrors) {
  EXPECT_THROW(load_model(dir("nowhere")), FileError);
  std::filesystem::create_directories(dir("empty"));
  std::filesystem::copy(float_dir() / "config.json", dir("empty") / "config.json");
  try {
    load_model(dir("empty"));
    FAIL() << "expected an error";
  } catch (const FileError& e) {
    EXPECT_STREQ(e.what(), (dir("empty").string() + ": no model*.safetensors files found").c_str());
  }
}

// Found by fuzz/index_fuzzer: an index could name any file on the machine.
TEST_F(LoadModelTest, IndexNamingAFileOutsideTheFolderIsRefused) {
  const auto folder = dir("escaping");
  std::filesystem::create_directories(folder);
  std::filesystem::copy(float_dir() / "config.json", folder / "config.json");
  const auto index = folder / "model.safetensors.index.json";
  // "../float/model.safetensors" is a real, valid file: only its path is wrong.
  for (const std::string file :
       {"../float/model.safetensors", "/etc/passwd", "sub/model.safetensors", "..", ""}) {
    std::ofstream(index) << R"({"weight_map": {"lm_head.weight": ")" << file << R"("}})";
    try {
      load_model(folder);
      FAIL() << "loaded an index naming '" << file << "'";
    } catch (const FileError& e) {
      EXPECT_EQ(std::string(e.what()), index.string() + ": the weight file of 'lm_head.weight', '" +
                                           file + "', is not a file name in the folder");
    }
  }
}

}  // namespace
}  // namespace qlinear
