#include <gtest/gtest.h>

#include "qlinear/model.h"

namespace qlinear {
namespace {

std::vector<std::string> llama_paths(int blocks) {
  std::vector<std::string> paths{"model.embed_tokens"};
  for (int b = 0; b < blocks; ++b) {
    for (const char* name : {"self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"}) {
      paths.push_back("model.layers." + std::to_string(b) + "." + name);
    }
  }
  paths.push_back("lm_head");
  return paths;
}

// With 32 blocks: the first and last eighth (0-3, 28-31) and every third block between
// starting at 4 + 2 = 6 (6, 9, ..., 27) get the high bits on v_proj and down_proj.
TEST(MixedRecipe, HighBitsExactlyWhereMlxLmPutsThem) {
  const auto paths = llama_paths(32);
  const Recipe recipe = mixed_recipe("mixed_2_6", paths, 64);
  std::vector<int> high_blocks;
  for (int b = 0; b < 32; ++b) {
    const std::string block = "model.layers." + std::to_string(b) + ".";
    const int v = recipe(block + "self_attn.v_proj").bits;
    EXPECT_EQ(recipe(block + "mlp.down_proj").bits, v);
    EXPECT_EQ(recipe(block + "self_attn.q_proj"), (QuantSpec{64, 2, QuantMode::affine}));
    if (v == 6) high_blocks.push_back(b);
  }
  EXPECT_EQ(high_blocks,
            (std::vector<int>{0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31}));
  EXPECT_EQ(recipe("lm_head"), (QuantSpec{64, 6, QuantMode::affine}));
  EXPECT_EQ(recipe("model.embed_tokens").bits, 2);
}

TEST(MixedRecipe, EachRecipeHasItsBits) {
  const auto paths = llama_paths(8);
  for (const auto& [name, low, high] : {std::tuple{"mixed_2_6", 2, 6},
                                        {"mixed_3_4", 3, 4},
                                        {"mixed_3_6", 3, 6},
                                        {"mixed_4_6", 4, 6}}) {
    const Recipe recipe = mixed_recipe(name, paths, 32);
    EXPECT_EQ(recipe("model.layers.1.mlp.down_proj"), (QuantSpec{32, low, QuantMode::affine}));
    EXPECT_EQ(recipe("model.layers.7.mlp.down_proj"), (QuantSpec{32, high, QuantMode::affine}));
  }
  EXPECT_EQ(recipe_names().size(), 4u);
}

TEST(MixedRecipe, RejectsUnknownNamesAndModelsWithoutBlocks) {
  EXPECT_THROW(mixed_recipe("mixed_5_8", llama_paths(4)), std::invalid_argument);
  try {
    mixed_recipe("mixed_4_6", {"encoder.proj", "lm_head"});
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "Model does not have expected keys for mixed quant (mixed_4_6 needs numbered "
                 "blocks with a down_proj).");
  }
}

}  // namespace
}  // namespace qlinear
