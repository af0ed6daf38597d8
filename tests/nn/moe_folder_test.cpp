// Model folders with stacked experts (mlx-lm's "...mlp.switch_mlp.up_proj.weight" (E, N, K)):
// they load into SwitchLinear / QuantizedSwitchLinear, convert quantizes the experts and
// keeps qwen3_moe's router at affine 8 bits (its quant_predicate), the mixed recipes treat
// the expert layers by their names, and dequantize restores the float stacks.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "model/text_file.h"
#include "nn/test_util.h"
#include "qlinear/convert.h"

namespace qlinear {
namespace {

constexpr int kBlocks = 8;  // the mixed recipes then pick blocks 0, 3, 6 and 7

// A qwen3_moe-shaped tree: embeddings, per block a router and a SwitchGLU of 4 experts
// (hidden 64, expert width 64), an output head.
std::shared_ptr<nn::Container> moe_tree() {
  nn::seed(5);
  auto inner = std::make_shared<nn::Container>();
  inner->set_module("embed_tokens", std::make_shared<nn::Embedding>(96, 64));
  nn::ModuleList blocks;
  for (int b = 0; b < kBlocks; ++b) {
    auto mlp = std::make_shared<nn::Container>();
    mlp->set_module("gate", std::make_shared<nn::Linear>(64, 4, false));
    mlp->set_module("switch_mlp", std::make_shared<nn::SwitchGLU>(64, 64, 4));
    auto block = std::make_shared<nn::Container>();
    block->set_module("mlp", mlp);
    blocks.push_back(block);
  }
  inner->set_modules("layers", blocks);
  auto model = std::make_shared<nn::Container>("Model");
  model->set_module("model", inner);
  model->set_module("lm_head", std::make_shared<nn::Linear>(64, 96, false));
  return model;
}

class MoeFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            (std::string("qlinear_moe_") +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    save_model(root_ / "float", *moe_tree(), R"({"model_type": "qwen3_moe"})", std::nullopt);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  ConversionPlan convert(const std::string& name, ConvertOptions options,
                         const std::string& from = "float") {
    return run_conversion(plan_conversion(root_ / from, options), root_ / name);
  }
  nlohmann::json block(const std::string& name) const {
    return nlohmann::json::parse(
        model::read_text_file(root_ / name / "config.json"))["quantization"];
  }

  std::filesystem::path root_;
};

ConvertOptions quantized(QuantMode mode = QuantMode::affine) {
  ConvertOptions options;
  options.quantize = true;
  options.mode = mode;
  return options;
}

const std::string kExpert = "model.layers.2.mlp.switch_mlp.down_proj";
const std::string kRouter = "model.layers.2.mlp.gate";

TEST(MoeRules, ExpertLayersAndRouterRules) {
  EXPECT_TRUE(is_expert_layer("model.layers.0.mlp.switch_mlp.up_proj"));
  EXPECT_TRUE(is_expert_layer("model.layers.0.mlp.experts.gate_proj"));
  EXPECT_FALSE(is_expert_layer("model.layers.0.mlp.up_proj"));
  EXPECT_FALSE(is_expert_layer("switch_mlp"));
  EXPECT_FALSE(model_quant_rule(R"({"model_type": "llama"})"));
  EXPECT_FALSE(model_quant_rule("not json"));
  const ModelQuantRule qwen = model_quant_rule(R"({"model_type": "qwen3_moe"})");
  ASSERT_TRUE(qwen);
  EXPECT_EQ(qwen(kRouter), (QuantSpec{64, 8, QuantMode::affine}));
  EXPECT_EQ(qwen("model.layers.2.mlp.gate_proj"), std::nullopt);
  EXPECT_EQ(qwen(kExpert), std::nullopt);
  EXPECT_EQ(model_quant_rule(R"({"model_type": "gpt_oss"})")("model.layers.0.mlp.router"),
            (QuantSpec{64, 8, QuantMode::affine}));
}

TEST_F(MoeFolderTest, FloatFolderLoadsIntoSwitchLinears) {
  const LoadedModel loaded = load_model(root_ / "float");
  const auto& expert = dynamic_cast<const nn::SwitchLinear&>(loaded.model->module_at(kExpert));
  EXPECT_EQ(expert.parameter("weight").shape(), (Shape{4, 64, 64}));
  EXPECT_EQ(loaded.model->module_at(kRouter).type_name(), "Linear");
}

// -q: the experts at the call's settings, the router at 8 bits group 64 whatever the mode
// (mlx-lm passes qwen3_moe's {"group_size": 64, "bits": 8} to to_quantized, whose mode
// defaults to affine), recorded per layer; the folder loads as quantizing the float
// model with that predicate.
TEST_F(MoeFolderTest, QuantizeKeepsTheRouterAtEightBits) {
  for (const QuantMode mode : {QuantMode::affine, QuantMode::mxfp4}) {
    const std::string name(mode_name(mode));
    SCOPED_TRACE(name);
    convert(name, quantized(mode));
    const nlohmann::json config = block(name);
    const QuantSpec call = QuantSpec::defaults(mode);
    EXPECT_EQ(config["bits"], call.bits);
    for (int b = 0; b < kBlocks; ++b) {
      const std::string router = "model.layers." + std::to_string(b) + ".mlp.gate";
      EXPECT_EQ(config[router],
                (nlohmann::json{{"group_size", 64}, {"bits", 8}, {"mode", "affine"}}));
    }
    EXPECT_EQ(config.size(), 3u + kBlocks);  // the defaults and one entry per router

    const LoadedModel loaded = load_model(root_ / name);
    const auto& expert =
        dynamic_cast<const nn::QuantizedSwitchLinear&>(loaded.model->module_at(kExpert));
    EXPECT_EQ(expert.quant_spec(), call);
    EXPECT_EQ(expert.parameter("weight").shape(), (Shape{4, 64, call.packed_words(64)}));
    EXPECT_EQ(expert.parameter("scales").shape(), (Shape{4, 64, 64 / call.group_size}));
    EXPECT_EQ(loaded.model->module_at(kRouter).quant_spec(), (QuantSpec{64, 8, QuantMode::affine}));

    LoadedModel direct = load_model(root_ / "float");
    nn::quantize(*direct.model, std::nullopt, std::nullopt, mode_name(mode),
                 [&](std::string_view path, const nn::Module&) -> nn::QuantChoice {
                   if (path.ends_with("mlp.gate")) return QuantSpec{64, 8, QuantMode::affine};
                   return true;
                 });
    nn::testing::expect_same_parameters(loaded.model->parameters(), direct.model->parameters());
  }
}

// A recipe replaces the model's predicate (as in mlx-lm): the router gets the low bits
// like any layer, and the expert down_proj of blocks 0, 3, 6, 7 the high ones.
TEST_F(MoeFolderTest, MixedRecipeTreatsExpertsByTheirNames) {
  ConvertOptions options = quantized();
  options.recipe = "mixed_2_6";
  convert("mixed", options);
  const nlohmann::json config = block("mixed");
  const LoadedModel loaded = load_model(root_ / "mixed");
  for (int b = 0; b < kBlocks; ++b) {
    const std::string prefix = "model.layers." + std::to_string(b) + ".mlp.";
    const bool high = b == 0 || b == 3 || b == 6 || b == 7;
    EXPECT_EQ(config[prefix + "switch_mlp.down_proj"]["bits"], high ? 6 : 2) << b;
    EXPECT_EQ(config[prefix + "switch_mlp.up_proj"]["bits"], 2) << b;
    EXPECT_EQ(config[prefix + "gate"]["bits"], 2) << b;
    EXPECT_EQ(loaded.model->module_at(prefix + "switch_mlp.down_proj").quant_spec()->bits,
              high ? 6 : 2);
  }
  EXPECT_EQ(config["lm_head"]["bits"], 6);
}

TEST_F(MoeFolderTest, DequantizeRestoresTheFloatStacks) {
  convert("q4", quantized());
  ConvertOptions options;
  options.dequantize = true;
  options.dtype = Dtype::float32;
  convert("back", options, "q4");
  const LoadedModel q4 = load_model(root_ / "q4");
  const LoadedModel back = load_model(root_ / "back");
  EXPECT_FALSE(back.quantization);
  const auto& layer = dynamic_cast<const nn::SwitchLinear&>(back.model->module_at(kExpert));
  const nn::Module& packed = q4.model->module_at(kExpert);
  EXPECT_TRUE(layer.parameter("weight").bit_equal(
      dequantize(packed.parameter("weight"), packed.parameter("scales"), packed.parameter("biases"),
                 64, 4, "affine", Dtype::float32)));
}

}  // namespace
}  // namespace qlinear
