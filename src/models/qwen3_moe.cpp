// mlx-lm's models/qwen3_moe.py: qwen3's attention (q/k norms, explicit head_dim, plain
// RoPE) with sparse mixture-of-experts blocks: a router (softmax, top-k as MLX's
// argpartition picks them, optionally renormalised) in front of a SwitchGLU.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "models/config_reader.h"
#include "models/decoder.h"
#include "ops/float_ops.h"
#include "qlinear/float_ops.h"
#include "qlinear/nn.h"

namespace qlinear::lm::detail {
namespace {

// MLX's argpartition(gates, kth=-k)[..., -k:] on one row: indices ordered by (value,
// index), NaN last, partitioned with std::nth_element exactly as MLX's CPU kernel does,
// so that the k experts come in MLX's order (the order their outputs are summed in).
void top_k(const float* gates, std::uint32_t experts, std::uint32_t k, std::uint32_t* out) {
  std::vector<std::uint32_t> order(experts);
  std::iota(order.begin(), order.end(), 0u);
  std::nth_element(order.begin(), order.begin() + (experts - k), order.end(),
                   [gates](std::uint32_t a, std::uint32_t b) {
                     const float va = gates[a], vb = gates[b];
                     if (std::isnan(va)) return false;
                     if (std::isnan(vb)) return true;
                     return va < vb || (va == vb && a < b);
                   });
  std::copy(order.end() - k, order.end(), out);
}

const nn::ModulePtr& expert_layer(const LayerBinder& layers, const nn::NamedModules& children,
                                  const std::string& owner, const std::string& name,
                                  std::int64_t experts, std::int64_t in, std::int64_t out) {
  const auto found = std::find_if(children.begin(), children.end(),
                                  [&](const auto& child) { return child.first == name; });
  const std::string path = owner + "." + name;
  if (found == children.end()) {
    layers.fail("the qwen3_moe model needs " + path + ", which the weights lack");
  }
  const auto* layer = dynamic_cast<const nn::SwitchLayer*>(found->second.get());
  if (!layer) layers.fail(path + " is a " + found->second->type_name() + ", not an expert layer");
  if (layer->num_experts() != experts || layer->input_dims() != in || layer->output_dims() != out ||
      layer->has_bias()) {
    layers.fail(path + " holds " + std::to_string(layer->num_experts()) + " experts mapping " +
                std::to_string(layer->input_dims()) + " to " +
                std::to_string(layer->output_dims()) + " features" +
                (layer->has_bias() ? " with a bias" : "") + "; the config says " +
                std::to_string(experts) + " mapping " + std::to_string(in) + " to " +
                std::to_string(out) + " without");
  }
  return found->second;
}

// Qwen3MoeSparseMoeBlock.__call__ on x (1, T, hidden) float32; with a group, the experts
// are sharded over it and their partial outputs summed.
Tensor sparse_moe(const Tensor& x, const nn::Unary& router, const nn::SwitchGLU& experts,
                  std::uint32_t num_experts, std::uint32_t k, bool norm_topk_prob,
                  const std::optional<distributed::Group>& group) {
  const std::int64_t hidden = x.dim(-1), tokens = x.size() / hidden;
  const Tensor gates = ops::float32_of(softmax(ops::float32_of(router(x))));
  Shape route_shape(x.shape().begin(), x.shape().end() - 1);
  route_shape.push_back(k);
  Tensor indices = Tensor::zeros(route_shape, Dtype::uint32);
  std::vector<float> scores(static_cast<std::size_t>(tokens * k));
  for (std::int64_t t = 0; t < tokens; ++t) {
    const float* row = gates.data<float>() + t * num_experts;
    std::uint32_t* picked = indices.mutable_data<std::uint32_t>() + t * k;
    top_k(row, num_experts, k, picked);
    float* s = scores.data() + t * k;
    float sum = 0.0f;
    for (std::uint32_t j = 0; j < k; ++j) sum += s[j] = row[picked[j]];
    if (norm_topk_prob) {
      for (std::uint32_t j = 0; j < k; ++j) s[j] /= sum;
    }
  }
  const Tensor y = ops::float32_of(experts(x, indices));  // (..., k, hidden)
  Tensor out = Tensor::zeros(x.shape(), Dtype::float32);
  float* dst = out.mutable_data<float>();
  const float* src = y.data<float>();
  for (std::int64_t t = 0; t < tokens; ++t) {
    for (std::uint32_t j = 0; j < k; ++j) {
      const float score = scores[t * k + j];
      const float* expert_row = src + (t * k + j) * hidden;
      for (std::int64_t d = 0; d < hidden; ++d) dst[t * hidden + d] += expert_row[d] * score;
    }
  }
  return group ? distributed::all_sum(out, *group) : out;
}

}  // namespace

ModelArgs qwen3_moe_args(const ConfigReader& config) {
  ModelArgs args = read_common(config);
  args.num_key_value_heads = config.required<std::int64_t>("num_key_value_heads");
  args.head_dim = config.required<std::int64_t>("head_dim");
  config.required<std::int64_t>("max_position_embeddings");
  args.tie_word_embeddings = config.required<bool>("tie_word_embeddings");
  // The attention's nn.RoPE takes rope_theta only: ModelArgs reads rope_scaling, nothing uses it.
  args.rope_theta = config.required<float>("rope_theta");
  args.rope_traditional = false;
  args.qk_norm = true;
  ModelArgs::Experts experts;
  experts.num_experts = config.required<std::int64_t>("num_experts");
  experts.num_experts_per_tok = config.required<std::int64_t>("num_experts_per_tok");
  experts.decoder_sparse_step = config.required<std::int64_t>("decoder_sparse_step");
  experts.mlp_only_layers = config.required<std::vector<std::int64_t>>("mlp_only_layers");
  experts.moe_intermediate_size = config.required<std::int64_t>("moe_intermediate_size");
  experts.norm_topk_prob = config.required<bool>("norm_topk_prob");
  if (experts.decoder_sparse_step <= 0) {
    config.fail("has decoder_sparse_step " + std::to_string(experts.decoder_sparse_step) +
                "; it must be positive");
  }
  if (experts.num_experts > 0 &&
      (experts.num_experts_per_tok <= 0 || experts.num_experts_per_tok > experts.num_experts)) {
    config.fail("has num_experts_per_tok " + std::to_string(experts.num_experts_per_tok) + " for " +
                std::to_string(experts.num_experts) +
                " experts; it must be between 1 and num_experts");
  }
  args.experts = std::move(experts);
  return args;
}

Mlp qwen3_moe_mlp(const LayerBinder& layers, const ModelArgs& args, std::int64_t layer) {
  const ModelArgs::Experts& e = *args.experts;
  const std::string prefix = "model.layers." + std::to_string(layer) + ".mlp";
  const bool dense = std::find(e.mlp_only_layers.begin(), e.mlp_only_layers.end(), layer) !=
                     e.mlp_only_layers.end();
  if (dense || e.num_experts <= 0 || (layer + 1) % e.decoder_sparse_step != 0) {
    return dense_mlp(layers, prefix + ".", args.hidden_size, args.intermediate_size, false);
  }
  const nn::Unary& router = layers.linear(prefix + ".gate", args.hidden_size, e.num_experts, false);
  const std::string owner = prefix + ".switch_mlp";
  const nn::NamedModules children = layers.module(owner).children();
  const auto bind = [&](const char* name, std::int64_t in, std::int64_t out) {
    return expert_layer(layers, children, owner, name, e.num_experts, in, out);
  };
  // Each rank holds 1 / N of every expert's intermediate features.
  const std::int64_t D = args.hidden_size, H = e.moe_intermediate_size / layers.ranks();
  // Bound one at a time, so that a mismatch is reported for the first layer in order.
  nn::ModulePtr gate = bind("gate_proj", D, H), up = bind("up_proj", D, H);
  nn::ModulePtr down = bind("down_proj", H, D);
  auto experts =
      std::make_shared<const nn::SwitchGLU>(std::move(gate), std::move(up), std::move(down));
  const auto num_experts = static_cast<std::uint32_t>(e.num_experts);
  const auto k = static_cast<std::uint32_t>(e.num_experts_per_tok);
  return [&router, experts, num_experts, k, norm = e.norm_topk_prob,
          group = layers.group()](const Tensor& x) {
    return sparse_moe(x, router, *experts, num_experts, k, norm, group);
  };
}

}  // namespace qlinear::lm::detail
