#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "model/text_file.h"
#include "nn/model_fixture.h"
#include "nn/test_util.h"

namespace qlinear {
namespace {

using testing::ModelFolderTest;

nlohmann::ordered_json read_json(const std::filesystem::path& path) {
  return nlohmann::ordered_json::parse(model::read_text_file(path));
}

ConvertOptions quantize_options(std::optional<int> group_size = std::nullopt,
                                std::optional<int> bits = std::nullopt) {
  ConvertOptions options;
  options.quantize = true;
  options.group_size = group_size;
  options.bits = bits;
  return options;
}

using ConvertTest = ModelFolderTest;

// convert -> load -> forward equals quantizing the float layers directly.
TEST_F(ConvertTest, RoundTripEqualsQuantizingTheFloatModel) {
  convert("q4", quantize_options());
  const LoadedModel loaded = load_model(dir("q4"));
  LoadedModel direct = load_model(float_dir());
  nn::quantize(*direct.model, 64, 4);

  EXPECT_EQ(loaded.model->repr(), direct.model->repr());
  nn::testing::expect_same_parameters(loaded.model->parameters(), direct.model->parameters());
  const Tensor x = nn::testing::random_floats({3, 64}, 9);
  for (const char* path : {"model.layers.2.self_attn.v_proj", "lm_head"}) {
    const auto& layer = dynamic_cast<const nn::QuantizedLinear&>(loaded.model->module_at(path));
    const auto& reference = dynamic_cast<const nn::QuantizedLinear&>(direct.model->module_at(path));
    EXPECT_TRUE(layer(x).bit_equal(reference(x))) << path;
  }
  EXPECT_EQ(loaded.model->module_at("model.embed_tokens").type_name(), "QuantizedEmbedding");
  EXPECT_EQ(loaded.model->module_at("model.norm").type_name(), "Module");
}

// The mode flows through: an mxfp4 conversion loads into mxfp4 layers (uint8 scales, no
// biases) that compute what the ops compute.
TEST_F(ConvertTest, FloatModesFlowThrough) {
  ConvertOptions options = quantize_options();
  options.mode = QuantMode::mxfp4;
  convert("mxfp4", options);
  const LoadedModel loaded = load_model(dir("mxfp4"));
  const QuantSpec spec{32, 4, QuantMode::mxfp4};
  EXPECT_EQ(loaded.quantization->defaults, spec);
  const std::string path = "model.layers.5.mlp.up_proj";
  const auto& layer = dynamic_cast<const nn::QuantizedLinear&>(loaded.model->module_at(path));
  EXPECT_EQ(layer.quant_spec(), spec);
  EXPECT_FALSE(layer.has_parameter("biases"));
  const Quantized expected =
      quantize(load_folder_weights(float_dir()).at(path + ".weight"), 32, 4, "mxfp4");
  EXPECT_TRUE(layer.parameter("weight").bit_equal(expected.wq));
  EXPECT_TRUE(layer.parameter("scales").bit_equal(expected.scales));
  const Tensor x = nn::testing::random_floats({2, 64}, 10);
  EXPECT_TRUE(layer(x).bit_equal(
      quantized_matmul(x, expected.wq, expected.scales, std::nullopt, true, 32, 4, "mxfp4")));
}

TEST_F(ConvertTest, ConfigAndIndexAreWhatMlxLmWrites) {
  const ConversionPlan plan = convert("q4", quantize_options(32, 8));
  const auto config = read_json(dir("q4") / "config.json");
  const nlohmann::ordered_json block = {{"group_size", 32}, {"bits", 8}, {"mode", "affine"}};
  EXPECT_EQ(config["quantization"], block);
  EXPECT_EQ(config["quantization_config"], block);
  EXPECT_EQ(config["torch_dtype"], "bfloat16");
  std::vector<std::string> keys;
  for (const auto& [key, value] : config.items()) keys.push_back(key);
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));

  const auto index = read_json(dir("q4") / "model.safetensors.index.json");
  std::uint64_t total = 0;
  const TensorMap weights = load_folder_weights(dir("q4"));
  for (const auto& [name, tensor] : weights) {
    total += tensor.nbytes();
    EXPECT_EQ(index["weight_map"][name], "model.safetensors") << name;
  }
  EXPECT_EQ(index["metadata"]["total_size"], total);
  EXPECT_EQ(index["weight_map"].size(), weights.size());
  EXPECT_EQ(plan.output_bytes, total);
  EXPECT_EQ(load_safetensors(dir("q4") / "model.safetensors").metadata,
            (Metadata{{"format", "mlx"}}));
  EXPECT_TRUE(std::filesystem::exists(dir("q4") / "tokenizer_config.json"));
  EXPECT_EQ(weights.at("model.layers.0.mlp.down_proj.scales").shape(), (Shape{64, 4}));
}

// mixed_3_6 on 8 blocks: v_proj and down_proj of blocks 0, 3, 6, 7 and lm_head get 6 bits.
TEST_F(ConvertTest, MixedRecipeGivesTheHighBitsToExactlyTheSpecLayers) {
  ConvertOptions options = quantize_options();
  options.recipe = "mixed_3_6";
  convert("mixed", options);
  const auto block = read_json(dir("mixed") / "config.json")["quantization"];
  const LoadedModel loaded = load_model(dir("mixed"));
  std::vector<std::string> high;
  int layers = 0;
  for (const auto& [path, module] : loaded.model->leaf_modules()) {
    const auto spec = module->quant_spec();
    if (!spec) continue;
    ++layers;
    EXPECT_EQ(block[path]["bits"], spec->bits) << path;
    EXPECT_EQ(block[path]["group_size"], 64);
    if (spec->bits == 6)
      high.push_back(path);
    else
      EXPECT_EQ(spec->bits, 3) << path;
  }
  EXPECT_EQ(layers, 2 + 8 * 7);
  std::vector<std::string> expected;
  for (int b : {0, 3, 6, 7}) {
    const std::string prefix = "model.layers." + std::to_string(b) + ".";
    expected.push_back(prefix + "mlp.down_proj");
    expected.push_back(prefix + "self_attn.v_proj");
  }
  expected.push_back("lm_head");
  std::sort(high.begin(), high.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(high, expected);
}

TEST_F(ConvertTest, LayersWithAnIndivisibleInputStayFloat) {
  const ConversionPlan plan = convert("g128", quantize_options(128, 4));
  const LoadedModel loaded = load_model(dir("g128"));
  for (const LayerPlan& layer : plan.layers) {
    const bool down = layer.path.ends_with("down_proj");
    EXPECT_EQ(layer.output_spec.has_value(), down) << layer.path;
    EXPECT_EQ(layer.skipped, down ? "" : "input dims 64 not divisible by group size 128");
    EXPECT_EQ(
        loaded.model->module_at(layer.path).type_name(),
        down ? "QuantizedLinear" : (layer.path == "model.embed_tokens" ? "Embedding" : "Linear"));
  }
}

TEST_F(ConvertTest, DequantizeRestoresFloatLayersAndDropsTheConfig) {
  convert("q4", quantize_options());
  ConvertOptions options;
  options.dequantize = true;
  run_conversion(plan_conversion(dir("q4"), options), dir("back"));
  const auto config = read_json(dir("back") / "config.json");
  EXPECT_FALSE(config.contains("quantization"));
  EXPECT_FALSE(config.contains("quantization_config"));
  const TensorMap quantized = load_folder_weights(dir("q4"));
  const TensorMap restored = load_folder_weights(dir("back"));
  const std::string path = "model.layers.1.mlp.gate_proj";
  EXPECT_TRUE(
      restored.at(path + ".weight")
          .bit_equal(dequantize(quantized.at(path + ".weight"), quantized.at(path + ".scales"),
                                quantized.at(path + ".biases"), 64, 4)));
  EXPECT_FALSE(restored.contains(path + ".scales"));
  EXPECT_EQ(load_model(dir("back")).model->module_at(path).type_name(), "Linear");
}

TEST_F(ConvertTest, ShardsSplitAtTheSizeLimit) {
  ConvertOptions options;
  options.dtype = Dtype::float32;
  options.max_shard_bytes = 200'000;
  const ConversionPlan plan = convert("sharded", options);
  ASSERT_GT(plan.shards.size(), 2u);
  const std::string last = shard_file_name(plan.shards.size() - 1, plan.shards.size());
  EXPECT_EQ(last, "model-0000" + std::to_string(plan.shards.size()) + "-of-0000" +
                      std::to_string(plan.shards.size()) + ".safetensors");
  EXPECT_TRUE(std::filesystem::exists(dir("sharded") / last));
  EXPECT_FALSE(std::filesystem::exists(dir("sharded") / "model.safetensors"));
  const LoadedModel loaded = load_model(dir("sharded"));
  EXPECT_EQ(loaded.model->module_at("lm_head").parameter("weight").dtype(), Dtype::float32);
  const TensorMap original = load_folder_weights(float_dir());
  EXPECT_TRUE(loaded.model->module_at("lm_head").parameter("weight").bit_equal(
      original.at("lm_head.weight").astype(Dtype::float32)));
}

TEST_F(ConvertTest, AFailedRunLeavesNoOutputFolder) {
  ConversionPlan plan = plan_conversion(float_dir(), quantize_options());
  plan.layers.back().output_spec->group_size = 48;  // quantize() refuses it mid-run
  EXPECT_THROW(run_conversion(plan, dir("broken")), std::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(dir("broken")));
  for (const auto& entry : std::filesystem::directory_iterator(root_)) {
    EXPECT_EQ(entry.path().filename().string().find("partial"), std::string::npos) << entry.path();
  }
}

TEST_F(ConvertTest, RefusesContradictionsAndAnExistingOutput) {
  ConvertOptions both = quantize_options();
  both.dequantize = true;
  EXPECT_THROW(plan_conversion(float_dir(), both), std::invalid_argument);
  ConvertOptions recipe_only;
  recipe_only.recipe = "mixed_2_6";
  EXPECT_THROW(plan_conversion(float_dir(), recipe_only), std::invalid_argument);
  try {
    convert("float", quantize_options());
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), ("[convert] Cannot save to the path " + dir("float").string() +
                            " as it already exists.")
                               .c_str());
  }
  convert("q4", quantize_options());
  EXPECT_THROW(plan_conversion(dir("q4"), quantize_options()), std::invalid_argument);
}

TEST_F(ConvertTest, ReportMeasuresTheRelativeError) {
  ConvertOptions options = quantize_options(64, 8);
  options.measure_error = true;
  const ConversionPlan plan = convert("q8", options);
  const TensorMap input = load_folder_weights(float_dir());
  const TensorMap output = load_folder_weights(dir("q8"));
  for (const LayerPlan& layer : plan.layers) {
    ASSERT_TRUE(layer.relative_error) << layer.path;
    // |w - w_hat| <= |scale| per element (half a step, plus the rounding of the stored
    // scale and bias), so the error norm is at most sqrt(group_size * sum scale^2).
    double bound = 0.0, norm = 0.0;
    for (float s : output.at(layer.path + ".scales").to_floats()) bound += 64.0 * s * s;
    for (float w : input.at(layer.path + ".weight").to_floats()) norm += double(w) * w;
    EXPECT_GT(*layer.relative_error, 0.0) << layer.path;
    EXPECT_LE(*layer.relative_error, std::sqrt(bound / norm)) << layer.path;
  }
  // 8 bits per weight plus 2 x 16 bits per 64 weights for scales and biases: 8.5, with
  // the float norms (16 bits each) pulling it up by a little.
  EXPECT_GT(plan.bits_per_weight(), 8.5);
  EXPECT_LT(plan.bits_per_weight(), 8.6);
}

}  // namespace
}  // namespace qlinear
