// mlx-lm's models/qwen2.py ModelArgs: biases on the q, k and v projections.
#include "models/config_reader.h"

namespace qlinear::lm::detail {

ModelArgs qwen2_args(const ConfigReader& config) {
  ModelArgs args = read_common(config);
  args.num_key_value_heads = config.required<std::int64_t>("num_key_value_heads");
  args.head_dim = args.hidden_size / args.num_attention_heads;
  args.attention_bias = true;
  args.rope_theta = config.optional<float>("rope_theta", 1000000.0f);
  args.tie_word_embeddings = config.optional<bool>("tie_word_embeddings", true);
  config.read_rope(args, config.has("rope_scaling") ? &config.json().at("rope_scaling") : nullptr);
  return args;
}

}  // namespace qlinear::lm::detail
