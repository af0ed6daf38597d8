// mlx-lm's models/llama.py ModelArgs (Llama 2/3/3.1/3.2; Mistral loads as llama).
#include "models/config_reader.h"

namespace qlinear::lm::detail {

ModelArgs llama_args(const ConfigReader& config) {
  ModelArgs args = read_common(config);
  args.num_key_value_heads =
      config.optional<std::int64_t>("num_key_value_heads", args.num_attention_heads);
  args.head_dim = config.optional<std::int64_t>("head_dim", 0);
  if (args.head_dim == 0) args.head_dim = args.hidden_size / args.num_attention_heads;
  args.attention_bias = args.o_proj_bias = config.optional<bool>("attention_bias", false);
  args.mlp_bias = config.optional<bool>("mlp_bias", false);
  args.rope_theta = config.optional<float>("rope_theta", 10000.0f);
  args.tie_word_embeddings = config.optional<bool>("tie_word_embeddings", true);
  if (config.has("layer_types")) {
    for (const auto& type : config.json().at("layer_types")) {
      if (type != "full_attention") {
        config.fail("has layer_types with " + type.dump() + "; only full_attention is supported");
      }
    }
  }
  config.read_rope(args, config.has("rope_scaling") ? &config.json().at("rope_scaling") : nullptr);
  return args;
}

}  // namespace qlinear::lm::detail
