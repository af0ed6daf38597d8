// The decoder models on a synthetic Llama folder: config read as mlx-lm reads it, the KV
// cache giving the same logits as a full forward pass, greedy generation, quantized
// folders, and the errors of bad folders. (Agreement with mlx-lm itself is checked by
// python/tests/test_lm_models.py, which builds its models with mlx-lm.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/lm_test_util.h"
#include "nn/model_fixture.h"
#include "qlinear/lm.h"
#include "qlinear/runtime.h"

namespace qlinear {
namespace {

using testing::ids_of;
using testing::max_abs;
using testing::ModelFolderTest;

void edit_config(const std::filesystem::path& folder, const nlohmann::json& patch) {
  std::ifstream in(folder / "config.json");
  nlohmann::json config = nlohmann::json::parse(in);
  config.merge_patch(patch);
  std::ofstream(folder / "config.json") << config.dump(4);
}

std::string load_error(const std::filesystem::path& folder) {
  try {
    lm::load(folder);
  } catch (const FileError& e) {
    return e.what();
  }
  return "no error";
}

using LmTest = ModelFolderTest;

TEST_F(LmTest, ReadsTheConfigAsMlxLmDoes) {
  const lm::LoadedLm loaded = lm::load(float_dir());
  const lm::ModelArgs& a = loaded.args;
  EXPECT_EQ(a.model_type, "llama");
  EXPECT_EQ(a.head_dim, 16);  // hidden_size / num_attention_heads
  EXPECT_EQ(a.num_key_value_heads, 2);
  EXPECT_EQ(a.rope_theta, 10000.0f);
  EXPECT_FALSE(a.tie_word_embeddings);
  EXPECT_TRUE(a.rope_freqs.empty());
}

TEST_F(LmTest, CachedDecodingGivesTheFullPassLogits) {
  const lm::LoadedLm loaded = lm::load(float_dir());
  const std::vector<std::int64_t> tokens = {3, 17, 42, 5, 88, 1, 60};
  const std::vector<float> full = (*loaded.model)(ids_of(tokens)).to_floats();
  const std::int64_t vocab = loaded.args.vocab_size;
  ASSERT_EQ(full.size(), tokens.size() * vocab);
  lm::Cache cache = loaded.model->make_cache();
  std::vector<float> stepwise = (*loaded.model)(ids_of({3, 17, 42}), &cache).to_floats();
  for (std::size_t t = 3; t < tokens.size(); ++t) {
    const std::vector<float> step = (*loaded.model)(ids_of({tokens[t]}), &cache).to_floats();
    stepwise.insert(stepwise.end(), step.begin(), step.end());
  }
  EXPECT_EQ(cache[0].offset(), 7);
  // Same arithmetic but for the sums' order in the rows the prefill batches.
  const float bound = 1e-4f * max_abs(full);
  for (std::size_t i = 0; i < full.size(); ++i) ASSERT_NEAR(stepwise[i], full[i], bound) << i;
}

TEST_F(LmTest, GreedyGenerationFollowsTheArgmaxOfTheLogits) {
  const lm::LoadedLm loaded = lm::load(float_dir());
  std::vector<std::int64_t> context = {3, 17, 42};
  std::vector<std::int64_t> generated;
  const lm::GenerationStats stats =
      lm::generate(*loaded.model, context, {.max_tokens = 6}, [&](std::int64_t token) {
        generated.push_back(token);
        return true;
      });
  ASSERT_EQ(generated.size(), 6u);
  EXPECT_EQ(stats.prompt_tokens, 3);
  EXPECT_EQ(stats.generation_tokens, 6);
  EXPECT_GT(stats.peak_memory_mb, 0.0);
  const std::int64_t vocab = loaded.args.vocab_size;
  for (std::int64_t token : generated) {
    const std::vector<float> logits = (*loaded.model)(ids_of(context)).to_floats();
    const auto last = logits.end() - vocab;
    EXPECT_EQ(token, std::max_element(last, logits.end()) - last);
    context.push_back(token);
  }
  // An end-of-sequence token stops generation and is not reported.
  std::vector<std::int64_t> until_eos;
  lm::generate(*loaded.model, {3, 17, 42}, {.max_tokens = 6, .eos_tokens = {generated[2]}},
               [&](std::int64_t token) {
                 until_eos.push_back(token);
                 return true;
               });
  const auto first_eos = std::find(generated.begin(), generated.end(), generated[2]);
  EXPECT_EQ(until_eos, std::vector<std::int64_t>(generated.begin(), first_eos));
}

std::vector<std::int64_t> generate_tokens(const lm::Model& model,
                                          const lm::GenerateOptions& options,
                                          const std::vector<std::int64_t>& prompt = {3, 17, 42}) {
  std::vector<std::int64_t> tokens;
  lm::generate(model, prompt, options, [&](std::int64_t token) {
    tokens.push_back(token);
    return true;
  });
  return tokens;
}

TEST_F(LmTest, SampledGenerationIsReproducibleForASeedAndAnyThreadCount) {
  const lm::LoadedLm loaded = lm::load(float_dir());
  const auto sampled = [&](std::uint64_t seed) {
    return generate_tokens(*loaded.model,
                           {.max_tokens = 16, .sampler = lm::make_sampler({.temp = 1.5f}, seed)});
  };
  const std::vector<std::int64_t> first = sampled(5);
  EXPECT_EQ(sampled(5), first);
  EXPECT_NE(sampled(6), first);
  const int threads = num_threads();
  set_num_threads(threads == 1 ? 2 : 1);
  EXPECT_EQ(sampled(5), first);
  set_num_threads(threads);
  // Temperature 0 is the greedy default.
  EXPECT_EQ(generate_tokens(*loaded.model,
                            {.max_tokens = 8, .sampler = lm::make_sampler({.temp = 0}, 5)}),
            generate_tokens(*loaded.model, {.max_tokens = 8}));
}

TEST_F(LmTest, LogitsProcessorsSeeThePromptAndTheTokensSoFar) {
  const lm::LoadedLm loaded = lm::load(float_dir());
  std::vector<std::vector<std::int64_t>> seen;
  const lm::LogitsProcessor record = [&](std::span<const std::int64_t> tokens, std::span<float>) {
    seen.emplace_back(tokens.begin(), tokens.end());
  };
  const std::vector<std::int64_t> generated =
      generate_tokens(*loaded.model, {.max_tokens = 5, .logits_processors = {record}});
  ASSERT_EQ(seen.size(), 5u);
  std::vector<std::int64_t> context = {3, 17, 42};
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i], context) << i;
    context.push_back(generated[i]);
  }
  // A processor that forbids the greedy choice changes it: its output is what is sampled.
  const lm::LogitsProcessor forbid = [&](std::span<const std::int64_t>, std::span<float> logits) {
    logits[static_cast<std::size_t>(generated[0])] = -1e30f;
  };
  const auto avoided =
      generate_tokens(*loaded.model, {.max_tokens = 3, .logits_processors = {forbid}});
  EXPECT_EQ(std::ranges::count(avoided, generated[0]), 0);
}

// A quantized folder computes what the float model of its dequantized weights computes:
// the same products, summed in another order (float32 scales, so dequantizing rounds
// nothing).
TEST_F(LmTest, QuantizedFoldersComputeTheirDequantizedModel) {
  convert("q4", {.quantize = true, .dtype = Dtype::float32});
  convert("mixed", {.quantize = true, .recipe = "mixed_3_6", .dtype = Dtype::float32});
  const std::vector<std::int64_t> tokens = {3, 17, 42, 5};
  for (const std::string name : {"q4", "mixed"}) {
    run_conversion(plan_conversion(dir(name), {.dtype = Dtype::float32, .dequantize = true}),
                   dir(name + "-float"));
    const std::vector<float> quantized = (*lm::load(dir(name)).model)(ids_of(tokens)).to_floats();
    const std::vector<float> dequantized =
        (*lm::load(dir(name + "-float")).model)(ids_of(tokens)).to_floats();
    const float bound = 1e-4f * max_abs(dequantized);
    for (std::size_t i = 0; i < quantized.size(); ++i) {
      ASSERT_NEAR(quantized[i], dequantized[i], bound) << name << " " << i;
    }
  }
}

// load reads the weights into memory, as mlx_lm.load does: the model then needs its files
// no more (a model still on the mapping would fault on the truncated files' pages);
// lazy leaves them mapped. Both compute the same logits.
TEST_F(LmTest, LoadReadsTheWeightsIntoMemoryAndLazyLeavesThemMapped) {
  convert("q4", {.quantize = true});
  const std::vector<std::int64_t> tokens = {3, 17, 42, 5};
  for (const std::filesystem::path& folder : {float_dir(), dir("q4")}) {
    const std::vector<float> expected =
        (*lm::load(folder, {.lazy = true}).model)(ids_of(tokens)).to_floats();
    const lm::LoadedLm loaded = lm::load(folder);
    for (const auto& entry : std::filesystem::directory_iterator(folder)) {
      if (entry.path().extension() == ".safetensors") std::filesystem::resize_file(entry, 0);
    }
    EXPECT_EQ((*loaded.model)(ids_of(tokens)).to_floats(), expected) << folder;
  }
}

TEST_F(LmTest, BadFoldersAreClearErrors) {
  edit_config(float_dir(), {{"model_type", "gpt9"}});
  EXPECT_EQ(load_error(float_dir()),
            "[lm.load] " + (float_dir() / "config.json").string() +
                " has model_type \"gpt9\", which qlinear does not support; supported: llama, "
                "mistral, qwen2, qwen3, qwen3_moe.");
  edit_config(float_dir(), {{"model_type", "llama"}, {"num_hidden_layers", 9}});
  EXPECT_EQ(load_error(float_dir()), "[lm.load] " + float_dir().string() +
                                         ": the llama model needs model.layers.8.self_attn.q_proj, "
                                         "which the weights lack.");
  edit_config(float_dir(), {{"num_hidden_layers", 8}, {"intermediate_size", 100}});
  EXPECT_EQ(load_error(float_dir()), "[lm.load] " + float_dir().string() +
                                         ": model.layers.0.mlp.gate_proj maps 64 to 128 features; "
                                         "the config says 64 to 100.");
  edit_config(float_dir(), {{"intermediate_size", nullptr}});
  EXPECT_EQ(load_error(float_dir()),
            "[lm.load] " + (float_dir() / "config.json").string() +
                " has no \"intermediate_size\", which model_type llama requires.");
  edit_config(float_dir(),
              {{"intermediate_size", 128}, {"rope_scaling", {{"type", "yarn"}, {"factor", 2}}}});
  EXPECT_EQ(load_error(float_dir()), "[lm.load] " + (float_dir() / "config.json").string() +
                                         " has rope_scaling type \"yarn\"; supported: default, "
                                         "linear, llama3.");
}

}  // namespace
}  // namespace qlinear
