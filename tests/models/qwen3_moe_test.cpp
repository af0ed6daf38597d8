// qwen3_moe on a folder built here: config read as mlx-lm's ModelArgs, sparse and dense
// blocks where decoder_sparse_step / mlp_only_layers put them, the cache's one-token steps
// (the unsorted expert path) giving the logits of a full pass (sorted from 64 pairs on),
// a quantized folder computing its dequantized model, and clear errors. (Agreement with
// mlx-lm itself: python/tests/test_lm_models.py.)
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "models/lm_test_util.h"
#include "models/qwen3_moe_fixture.h"
#include "qlinear/convert.h"
#include "qlinear/lm.h"

namespace qlinear {
namespace {

using testing::ids_of;
using testing::max_abs;

using namespace testing::qwen3_moe;

void expect_close(const std::vector<float>& a, const std::vector<float>& b, float relative) {
  ASSERT_EQ(a.size(), b.size());
  const float bound = relative * max_abs(b);
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], bound) << i;
}

class Qwen3MoeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            (std::string("qlinear_qwen3_moe_") +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    write_qwen3_moe_folder(root_ / "float");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string load_error(const nlohmann::json& patch) {
    nlohmann::json config = kConfig;
    config.merge_patch(patch);
    std::ofstream(root_ / "float" / "config.json") << config.dump();
    try {
      lm::load(root_ / "float");
    } catch (const FileError& e) {
      return e.what();
    }
    return "no error";
  }

  std::filesystem::path root_;
};

TEST_F(Qwen3MoeTest, ReadsTheConfigAsMlxLmDoes) {
  const lm::LoadedLm loaded = lm::load(root_ / "float");
  ASSERT_TRUE(loaded.args.experts);
  const auto& e = *loaded.args.experts;
  EXPECT_EQ(e.num_experts, kExperts);
  EXPECT_EQ(e.num_experts_per_tok, kTopK);
  EXPECT_EQ(e.moe_intermediate_size, 64);
  EXPECT_EQ(e.mlp_only_layers, (std::vector<std::int64_t>{1}));
  EXPECT_TRUE(e.norm_topk_prob);
  EXPECT_TRUE(loaded.args.qk_norm);
  EXPECT_EQ(loaded.args.head_dim, kHeadDim);
}

// 20 prompt tokens route 80 token-expert pairs (the sorted path); one token 4 (unsorted).
TEST_F(Qwen3MoeTest, CachedStepsGiveTheFullPassLogits) {
  const lm::LoadedLm loaded = lm::load(root_ / "float");
  std::vector<std::int64_t> tokens;
  for (int i = 0; i < 24; ++i) tokens.push_back((i * 37 + 5) % kVocab);
  const std::vector<float> full = (*loaded.model)(ids_of(tokens)).to_floats();
  lm::Cache cache = loaded.model->make_cache();
  std::vector<float> stepwise =
      (*loaded.model)(ids_of({tokens.begin(), tokens.begin() + 20}), &cache).to_floats();
  for (std::size_t t = 20; t < tokens.size(); ++t) {
    const std::vector<float> step = (*loaded.model)(ids_of({tokens[t]}), &cache).to_floats();
    stepwise.insert(stepwise.end(), step.begin(), step.end());
  }
  // The same arithmetic but for the order of the attention's sums over the prefix.
  expect_close(stepwise, full, 1e-4f);
}

// Quantized (experts 4-bit, routers at 8 bits as mlx-lm's qwen3_moe predicate asks) and
// mixed folders compute what their dequantized float models compute.
TEST_F(Qwen3MoeTest, QuantizedFoldersComputeTheirDequantizedModel) {
  const std::vector<std::int64_t> tokens = {3, 17, 42, 5, 9};
  for (const std::string name : {"q4", "mixed"}) {
    ConvertOptions options{.quantize = true, .dtype = Dtype::float32};
    if (name == "mixed") options.recipe = "mixed_3_6";
    run_conversion(plan_conversion(root_ / "float", options), root_ / name);
    run_conversion(plan_conversion(root_ / name, {.dtype = Dtype::float32, .dequantize = true}),
                   root_ / (name + "-float"));
    const lm::LoadedLm quantized = lm::load(root_ / name);
    EXPECT_EQ(quantized.model->args().experts->num_experts, kExperts);
    expect_close((*quantized.model)(ids_of(tokens)).to_floats(),
                 (*lm::load(root_ / (name + "-float")).model)(ids_of(tokens)).to_floats(), 1e-4f);
  }
}

TEST_F(Qwen3MoeTest, BadFoldersAreClearErrors) {
  const std::string config = (root_ / "float" / "config.json").string();
  const std::string folder = (root_ / "float").string();
  EXPECT_EQ(load_error({{"num_experts", 6}}),
            "[lm.load] " + folder +
                ": model.layers.0.mlp.gate maps 64 to 8 features; the config says 64 to 6.");
  EXPECT_EQ(load_error({{"num_experts", 8}, {"moe_intermediate_size", 32}}),
            "[lm.load] " + folder +
                ": model.layers.0.mlp.switch_mlp.gate_proj holds 8 experts mapping 64 to 64 "
                "features; the config says 8 mapping 64 to 32 without.");
  EXPECT_EQ(
      load_error({{"moe_intermediate_size", 64}, {"mlp_only_layers", nlohmann::json::array()}}),
      "[lm.load] " + folder +
          ": the qwen3_moe model needs model.layers.1.mlp.gate, which the weights lack.");
  EXPECT_EQ(load_error({{"mlp_only_layers", {1}}, {"decoder_sparse_step", 0}}),
            "[lm.load] " + config + " has decoder_sparse_step 0; it must be positive.");
  EXPECT_EQ(load_error({{"decoder_sparse_step", 1}, {"num_experts_per_tok", 9}}),
            "[lm.load] " + config +
                " has num_experts_per_tok 9 for 8 experts; it must be between 1 and num_experts.");
  EXPECT_EQ(
      load_error({{"num_experts_per_tok", 4}, {"norm_topk_prob", nullptr}}),
      "[lm.load] " + config + " has no \"norm_topk_prob\", which model_type qwen3_moe requires.");
}

}  // namespace
}  // namespace qlinear
