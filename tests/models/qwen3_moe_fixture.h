// A small qwen3_moe model folder for the tests: its config and the module tree
// save_model writes (blocks 0 and 2 sparse with 8 experts, top 4; block 1 dense).
#pragma once

#include <nlohmann/json.hpp>

#include "qlinear/model.h"
#include "qlinear/nn.h"

namespace qlinear::testing::qwen3_moe {

constexpr std::int64_t kHidden = 64, kHeads = 4, kKvHeads = 2, kHeadDim = 32, kVocab = 96;
constexpr std::int64_t kExperts = 8, kTopK = 4;

inline const nlohmann::json kConfig = {
    {"model_type", "qwen3_moe"}, {"hidden_size", kHidden},        {"num_hidden_layers", 3},
    {"intermediate_size", 128},  {"num_attention_heads", kHeads}, {"num_key_value_heads", kKvHeads},
    {"head_dim", kHeadDim},      {"rms_norm_eps", 1e-6},          {"vocab_size", kVocab},
    {"rope_theta", 1000000.0},   {"tie_word_embeddings", false},  {"max_position_embeddings", 512},
    {"num_experts", kExperts},   {"num_experts_per_tok", kTopK},  {"decoder_sparse_step", 1},
    {"mlp_only_layers", {1}},    {"moe_intermediate_size", 64},   {"norm_topk_prob", true}};

inline std::shared_ptr<nn::Container> norm(std::int64_t dims) {
  auto module = std::make_shared<nn::Container>("RMSNorm");
  module->set_parameter(
      "weight", Tensor::from_floats({dims}, Dtype::float32, std::vector<float>(dims, 1.0f)));
  return module;
}

// The module tree of kConfig: blocks 0 and 2 sparse, block 1 dense.
inline std::shared_ptr<nn::Container> qwen3_moe_tree() {
  nn::seed(11);
  auto inner = std::make_shared<nn::Container>();
  inner->set_module("embed_tokens", std::make_shared<nn::Embedding>(kVocab, kHidden));
  nn::ModuleList blocks;
  for (int b = 0; b < 3; ++b) {
    auto attention = std::make_shared<nn::Container>();
    attention->set_module("q_proj",
                          std::make_shared<nn::Linear>(kHidden, kHeads * kHeadDim, false));
    attention->set_module("k_proj",
                          std::make_shared<nn::Linear>(kHidden, kKvHeads * kHeadDim, false));
    attention->set_module("v_proj",
                          std::make_shared<nn::Linear>(kHidden, kKvHeads * kHeadDim, false));
    attention->set_module("o_proj",
                          std::make_shared<nn::Linear>(kHeads * kHeadDim, kHidden, false));
    attention->set_module("q_norm", norm(kHeadDim));
    attention->set_module("k_norm", norm(kHeadDim));
    auto mlp = std::make_shared<nn::Container>();
    if (b == 1) {
      mlp->set_module("gate_proj", std::make_shared<nn::Linear>(kHidden, 128, false));
      mlp->set_module("up_proj", std::make_shared<nn::Linear>(kHidden, 128, false));
      mlp->set_module("down_proj", std::make_shared<nn::Linear>(128, kHidden, false));
    } else {
      mlp->set_module("gate", std::make_shared<nn::Linear>(kHidden, kExperts, false));
      mlp->set_module("switch_mlp", std::make_shared<nn::SwitchGLU>(kHidden, 64, kExperts));
    }
    auto block = std::make_shared<nn::Container>();
    block->set_module("self_attn", attention);
    block->set_module("mlp", mlp);
    block->set_module("input_layernorm", norm(kHidden));
    block->set_module("post_attention_layernorm", norm(kHidden));
    blocks.push_back(block);
  }
  inner->set_modules("layers", blocks);
  inner->set_module("norm", norm(kHidden));
  auto model = std::make_shared<nn::Container>("Model");
  model->set_module("model", inner);
  model->set_module("lm_head", std::make_shared<nn::Linear>(kHidden, kVocab, false));
  return model;
}

// Writes the float folder.
inline void write_qwen3_moe_folder(const std::filesystem::path& folder) {
  save_model(folder, *qwen3_moe_tree(), kConfig.dump(), std::nullopt);
}

}  // namespace qlinear::testing::qwen3_moe
