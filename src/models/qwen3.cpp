// mlx-lm's models/qwen3.py ModelArgs: RMSNorm on each head's queries and keys, an
// explicit head_dim; transformers 5 nests rope_theta and rope_scaling in rope_parameters.
#include "models/config_reader.h"

namespace qlinear::lm::detail {

ModelArgs qwen3_args(const ConfigReader& config) {
  ModelArgs args = read_common(config);
  args.num_key_value_heads = config.required<std::int64_t>("num_key_value_heads");
  args.head_dim = config.required<std::int64_t>("head_dim");
  config.required<std::int64_t>("max_position_embeddings");
  args.tie_word_embeddings = config.required<bool>("tie_word_embeddings");
  args.qk_norm = true;
  const Json* parameters =
      config.has("rope_parameters") ? &config.json().at("rope_parameters") : nullptr;
  if (config.has("rope_theta")) {
    args.rope_theta = config.required<float>("rope_theta");
  } else if (parameters && parameters->contains("rope_theta")) {
    args.rope_theta = parameters->at("rope_theta").get<float>();
  } else {
    config.fail("has no rope_theta (nor rope_parameters.rope_theta)");
  }
  const Json* scaling = config.has("rope_scaling") ? &config.json().at("rope_scaling") : parameters;
  config.read_rope(args, scaling);
  args.rope_traditional = false;  // qwen3.py never reads rope_traditional
  return args;
}

}  // namespace qlinear::lm::detail
