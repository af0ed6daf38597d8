// Language models sharded over the group (lm::sharded_load; ctest: alone, and under
// mpirun with 2 and 3 ranks): every rank writes the same tiny model folder and loads it
// whole and sharded; both must give the same greedy tokens, and logits within the bound
// below. The qwen3_moe model's 2 key-value heads do not divide among 3 ranks: there the
// clear error is checked instead.
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "common/sanitized.h"
#include "models/lm_test_util.h"
#include "models/qwen3_moe_fixture.h"
#include "qlinear/convert.h"
#include "qlinear/lm.h"
#include "qlinear/model.h"

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

// The bytes a rank keeps of each tensor: 1/N of every tensor of the sharded projections
// (attention q/k/v/o, the MLP's and the experts' gate/up/down, but not o_proj's or
// down_proj's bias, which sharded-to-all keeps whole) and every other tensor whole.
// Stated here apart from the model's shard() so that the two check each other.
std::vector<std::uint64_t> kept_bytes(const std::filesystem::path& folder, int ranks) {
  std::vector<std::uint64_t> kept;
  for (const auto& [path, tensor] : load_model(folder).model->parameters()) {
    const bool projection = path.find("_proj.") != std::string::npos;
    const bool whole_bias =
        path.ends_with(".bias") &&
        (path.find("o_proj") != std::string::npos || path.find("down_proj") != std::string::npos);
    kept.push_back(projection && !whole_bias ? tensor.nbytes() / static_cast<std::uint64_t>(ranks)
                                             : tensor.nbytes());
  }
  return kept;
}

std::uint64_t expected_bytes_read(const std::filesystem::path& folder, int ranks) {
  std::uint64_t bytes = 0;
  for (const std::uint64_t kept : kept_bytes(folder, ranks)) bytes += kept;
  return bytes;
}

std::uint64_t total_bytes(const std::filesystem::path& folder) {
  std::uint64_t bytes = 0;
  for (const auto& [path, tensor] : load_model(folder).model->parameters())
    bytes += tensor.nbytes();
  return bytes;
}

// A field of /proc/self/status in bytes ("VmRSS", "VmHWM").
std::uint64_t status_bytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string key;
  std::uint64_t kib = 0;
  while (status >> key) {
    if (key == field + ":" && status >> kib) return kib * 1024;
  }
  return 0;
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
    // Each rank read only its slices of the sharded tensors and the others whole.
    EXPECT_EQ(sharded.weight_bytes_read, expected_bytes_read(folder, group.size())) << folder;
    if (group.size() > 1) EXPECT_LT(sharded.weight_bytes_read, total_bytes(folder)) << folder;
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

// A model big enough (21 MB of float16) that what a rank keeps shows next to the
// allocator's and MPI's own memory: the resident set grows by no more than the bytes read
// (about 1/N of the projections, the small rest whole) and 1 MiB.
// Mapping the folder and copying the slices out, as before, also made every page of the
// sharded-to-all projections resident and half of the others: 2 ranks grew by 30-32 MB
// there against 7 MB now, 3 ranks by 16-17 MB against under 1 MB (the heap's free memory
// reused). Under a sanitizer the resident set also holds the shadow of every byte read
// (ASan: one more byte per eight), so there only the bytes read are checked.
TEST_F(ShardedModelTest, ResidentMemoryIsTheRankSlices) {
  SyntheticModelShape s = shape();
  s.hidden = 768;
  s.intermediate = 1536;
  s.dtype = Dtype::float16;
  const std::filesystem::path folder = root_ / "big";
  write_synthetic_model(folder, s, 2);
  const distributed::Group group = distributed::init();
  const std::uint64_t before = status_bytes("VmRSS");
  const lm::LoadedLm sharded = lm::sharded_load(folder, group);
  const std::uint64_t grown = status_bytes("VmRSS") - before;
  EXPECT_EQ(sharded.weight_bytes_read, expected_bytes_read(folder, group.size()));
  if (!testing::kSanitized) EXPECT_LE(grown, sharded.weight_bytes_read + (std::uint64_t{1} << 20));
  std::printf("rank %d of %d: read %.2f MB of %.2f MB, resident grew %.2f MB\n", group.rank(),
              group.size(), sharded.weight_bytes_read / 1e6, total_bytes(folder) / 1e6,
              grown / 1e6);
}

// A folder whose weight file was cut short: sharded_load reads only the header before it
// refuses, with load's error.
TEST_F(ShardedModelTest, TruncatedFolderGivesLoadsError) {
  write_synthetic_model(root_ / "cut", shape(), 1);
  const std::filesystem::path file = root_ / "cut" / "model.safetensors";
  std::filesystem::resize_file(file, std::filesystem::file_size(file) - 4);
  const auto message = [](const std::function<void()>& run) -> std::string {
    try {
      run();
    } catch (const FileError& e) {
      return e.what();
    }
    return "no FileError";
  };
  const std::string expected = message([&] { lm::load(root_ / "cut"); });
  EXPECT_NE(expected.find("[load_safetensors] " + file.string()), std::string::npos) << expected;
  EXPECT_EQ(message([&] { lm::sharded_load(root_ / "cut", distributed::init()); }), expected);
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
