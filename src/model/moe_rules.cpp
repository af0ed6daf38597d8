// Mixture-of-experts checkpoints: which weights are expert stacks, and mlx-lm's
// per-model quantization rules for their routers.
#include <nlohmann/json.hpp>

#include "qlinear/model.h"

namespace qlinear {
namespace {

// The path suffixes each mlx-lm 0.32.2 model's quant_predicate keeps at affine 8 bits,
// group 64 (models/<model_type>.py; those whose rule is a plain suffix match).
struct RouterRule {
  std::string_view model_type;
  std::vector<std::string_view> suffixes;
};

const std::vector<RouterRule>& router_rules() {
  static const std::vector<RouterRule> rules = {
      {"qwen3_moe", {"mlp.gate"}},
      {"qwen3_vl_moe", {"mlp.gate"}},
      {"qwen3_next", {"mlp.gate", "shared_expert_gate"}},
      {"Klear", {"mlp.gate"}},
      {"gpt_oss", {"router"}},
      {"jamba", {"router"}},
      {"minimax", {"block_sparse_moe.gate"}},
      {"lfm2_moe", {"feed_forward.gate"}},
  };
  return rules;
}

}  // namespace

bool is_expert_layer(std::string_view path) {
  const std::size_t last = path.rfind('.');
  if (last == std::string_view::npos) return false;
  const std::string_view owner = path.substr(0, last);
  const std::string_view parent = owner.substr(owner.rfind('.') + 1);
  return parent == "switch_mlp" || parent == "switch_glu" || parent == "experts";
}

ModelQuantRule model_quant_rule(const std::string& config_json) {
  const auto config = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object() || !config.contains("model_type") || !config["model_type"].is_string()) {
    return {};
  }
  const std::string type = config["model_type"];
  for (const RouterRule& rule : router_rules()) {
    if (rule.model_type != type) continue;
    return [suffixes = rule.suffixes](std::string_view path) -> std::optional<QuantSpec> {
      for (std::string_view suffix : suffixes) {
        if (path.ends_with(suffix)) return QuantSpec{64, 8, QuantMode::affine};
      }
      return std::nullopt;
    };
  }
  return {};
}

}  // namespace qlinear
