// Language models sharded over the group (lm::sharded_load; ctest: alone, and under
// mpirun with 2 and 3 ranks): every rank writes the same tiny model folder and loads it
// whole and sharded; both must give the same greedy tokens, and logits within the bound
// below. The qwen3_moe model's 2 key-value heads do not divide among 3 ranks: there the
// clear error is checked instead.
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "models/lm_test_util.h"
#include "models/qwen3_moe_fixture.h"
#include "qlinear/convert.h"
#include "qlinear/lm.h"

namespace qlinear {
namespace {

using testing::ids_of;
using testing::max_abs;

const std::vector<std::int64_t> kPrompt = {3, 17, 42, 5, 9};
constexpr std::int64_t kNewTokens = 8;

// hidden 192 in 12 heads of 16 (6 key-value heads) and an MLP of 384: the heads divide
// among 1, 2 and 3 ranks, and o_proj's and down_proj's inputs split into whole groups of
// 32 for the quantized folder.
SyntheticModelShape shape() {
  SyntheticModelShape s;
  s.hidden = 192;
  s.intermediate = 384;
  s.vocab = 64;
  s.blocks = 2;
  s.heads = 12;
  s.kv_heads = 6;
  s.dtype = Dtype::float32;
  return s;
}

class ShardedModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // One folder per process: the ranks run on the same machine.
    root_ = std::filesystem::temp_directory_path() /
            ("qlinear_sharded_model_" + std::to_string(::getpid()));
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::vector<std::int64_t> greedy(const lm::Model& model) const {
    std::vector<std::int64_t> tokens;
    lm::generate(model, kPrompt, {.max_tokens = kNewTokens}, [&](std::int64_t token) {
      tokens.push_back(token);
      return true;
    });
    return tokens;
  }

  // Sharded and unsharded logits agree: the sharded-to-all projections add the same
  // products in another order (N partial sums joined by all_sum), a few float32 roundings
  // per output that the blocks carry on; 1e-4 of the largest logit is far above that and
  // far below the gap a wrong shard, head split or missing sum makes.
  void expect_same_model(const std::filesystem::path& folder) const {
    const distributed::Group group = distributed::init();
    const lm::LoadedLm whole = lm::load(folder);
    const lm::LoadedLm sharded = lm::sharded_load(folder, group);
    const std::vector<float> expected = (*whole.model)(ids_of(kPrompt)).to_floats();
    const std::vector<float> actual = (*sharded.model)(ids_of(kPrompt)).to_floats();
    ASSERT_EQ(actual.size(), expected.size());
    const float bound = 1e-4f * max_abs(expected);
    for (std::size_t i = 0; i < expected.size(); ++i)
      ASSERT_NEAR(actual[i], expected[i], bound) << folder << " logit " << i;
    const std::vector<std::int64_t> tokens = greedy(*whole.model);
    EXPECT_EQ(tokens.size(), static_cast<std::size_t>(kNewTokens));
    EXPECT_EQ(greedy(*sharded.model), tokens) << folder << " on " << group.size() << " ranks";
  }

  std::filesystem::path root_;
};

TEST_F(ShardedModelTest, FloatLlamaGivesTheUnshardedTokens) {
  write_synthetic_model(root_ / "float", shape(), 1);
  expect_same_model(root_ / "float");
}

TEST_F(ShardedModelTest, QuantizedLlamaGivesTheUnshardedTokens) {
  write_synthetic_model(root_ / "float", shape(), 1);
  run_conversion(plan_conversion(root_ / "float",
                                 {.quantize = true, .group_size = 32, .dtype = Dtype::float32}),
                 root_ / "q4");
  expect_same_model(root_ / "q4");
}

TEST_F(ShardedModelTest, Qwen3MoeShardsItsExpertsOrRefusesHeadsThatDoNotDivide) {
  namespace moe = testing::qwen3_moe;
  moe::write_qwen3_moe_folder(root_ / "moe");
  const int ranks = distributed::init().size();
  if (moe::kKvHeads % ranks == 0) {
    expect_same_model(root_ / "moe");
    return;
  }
  try {
    lm::sharded_load(root_ / "moe", distributed::init());
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()),
              "[lm.shard] The qwen3_moe model's 4 attention heads and 2 key-value heads cannot "
              "be divided among " +
                  std::to_string(ranks) + " ranks.");
  }
}

}  // namespace
}  // namespace qlinear
