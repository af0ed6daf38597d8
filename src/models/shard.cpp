// mlx-lm's Model.shard(group) for the decoder architectures (llama.py, qwen2.py, qwen3.py,
// qwen3_moe.py share it): attention and dense MLP projections replaced by the sharded
// layers, the experts of a sparse block sharded in place.
#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>

#include "models/decoder.h"
#include "qlinear/nn/sharded_layers.h"

namespace qlinear::lm::detail {

void shard_decoder(nn::Module& model, const ModelArgs& args, const distributed::Group& group) {
  const std::int64_t ranks = group.size();
  if (args.num_attention_heads % ranks != 0 || args.num_key_value_heads % ranks != 0) {
    throw std::invalid_argument("[lm.shard] The " + args.model_type + " model's " +
                                std::to_string(args.num_attention_heads) + " attention heads and " +
                                std::to_string(args.num_key_value_heads) +
                                " key-value heads cannot be divided among " +
                                std::to_string(ranks) + " ranks.");
  }
  using nn::Sharding;
  std::map<std::string, nn::ModulePtr> sharded;
  const auto shard = [&](const std::string& path, Sharding sharding) {
    sharded.emplace(path, nn::shard_linear(model.module_at(path), sharding, {}, group));
  };
  for (std::int64_t i = 0; i < args.num_hidden_layers; ++i) {
    const std::string block = "model.layers." + std::to_string(i) + ".";
    for (const char* name : {"q_proj", "k_proj", "v_proj"})
      shard(block + "self_attn." + name, Sharding::all_to_sharded);
    shard(block + "self_attn.o_proj", Sharding::sharded_to_all);
    const nn::Module& mlp = model.module_at(block + "mlp");
    const nn::NamedModules children = mlp.children();
    const bool sparse = std::any_of(children.begin(), children.end(),
                                    [](const auto& child) { return child.first == "switch_mlp"; });
    if (sparse) {
      // The block sums its experts' partial outputs with one all_sum (the router stays whole).
      nn::Module& experts = model.module_at(block + "mlp.switch_mlp");
      nn::shard_inplace(experts.module_at("gate_proj"), Sharding::all_to_sharded, {}, group);
      nn::shard_inplace(experts.module_at("up_proj"), Sharding::all_to_sharded, {}, group);
      nn::shard_inplace(experts.module_at("down_proj"), Sharding::sharded_to_all, {}, group);
    } else {
      shard(block + "mlp.gate_proj", Sharding::all_to_sharded);
      shard(block + "mlp.up_proj", Sharding::all_to_sharded);
      shard(block + "mlp.down_proj", Sharding::sharded_to_all);
    }
  }
  model.update_modules(sharded);
}

}  // namespace qlinear::lm::detail
