#include "models/decoder.h"

#include <cmath>
#include <optional>
#include <vector>

#include "ops/float_ops.h"
#include "ops/quantized_attention.h"
#include "qlinear/float_ops.h"
#include "qlinear/io.h"
#include "qlinear/nn/layers.h"
#include "qlinear/nn/sharded_layers.h"

namespace qlinear::lm::detail {
namespace {

// (B, A, C, D) -> (B, C, A, D): heads to the front of a projection's output and back.
Tensor swap_middle_axes(const Tensor& t, std::int64_t A, std::int64_t C) {
  const std::int64_t B = t.dim(0), D = t.size() / (B * A * C);
  Tensor out = Tensor::zeros({B, C, A, D}, Dtype::float32);
  const float* src = t.data<float>();
  float* dst = out.mutable_data<float>();
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t a = 0; a < A; ++a) {
      for (std::int64_t c = 0; c < C; ++c) {
        std::copy_n(src + ((b * A + a) * C + c) * D, D, dst + ((b * C + c) * A + a) * D);
      }
    }
  }
  return out;
}

void add_into(Tensor& h, const Tensor& r) {
  float* dst = h.mutable_data<float>();
  const float* src = r.data<float>();
  for (std::int64_t i = 0; i < h.size(); ++i) dst[i] += src[i];
}

struct Block {
  const nn::Unary *q_proj, *k_proj, *v_proj, *o_proj;
  Mlp mlp;
  Tensor input_norm, post_attention_norm;
  std::optional<Tensor> q_norm, k_norm;
};

class Decoder final : public Model, public LayerBinder {
 public:
  Decoder(ModelArgs args, LoadedModel loaded, const std::string& source, const MlpBinder& mlp,
          std::optional<distributed::Group> group)
      : args_(std::move(args)),
        loaded_(std::move(loaded)),
        source_(source),
        group_(std::move(group)) {
    const ModelArgs& a = args_;
    const std::int64_t q_dims = a.num_attention_heads * a.head_dim;
    const std::int64_t kv_dims = a.num_key_value_heads * a.head_dim;
    if (a.num_key_value_heads <= 0 || a.num_attention_heads % a.num_key_value_heads != 0) {
      fail("num_attention_heads " + std::to_string(a.num_attention_heads) +
           " is not a multiple of num_key_value_heads " + std::to_string(a.num_key_value_heads));
    }
    embed_ = &module("model.embed_tokens");
    const auto* float_embed = dynamic_cast<const nn::Embedding*>(embed_);
    const auto* quant_embed = dynamic_cast<const nn::QuantizedEmbedding*>(embed_);
    if (!(float_embed && float_embed->num_embeddings() == a.vocab_size &&
          float_embed->dims() == a.hidden_size) &&
        !(quant_embed && quant_embed->num_embeddings() == a.vocab_size &&
          quant_embed->dims() == a.hidden_size)) {
      fail("model.embed_tokens is not an embedding of " + std::to_string(a.vocab_size) + " x " +
           std::to_string(a.hidden_size));
    }
    for (std::int64_t i = 0; i < a.num_hidden_layers; ++i) {
      const std::string p = "model.layers." + std::to_string(i) + ".";
      Block b{};
      b.q_proj = &linear(p + "self_attn.q_proj", a.hidden_size, q_dims, a.attention_bias);
      b.k_proj = &linear(p + "self_attn.k_proj", a.hidden_size, kv_dims, a.attention_bias);
      b.v_proj = &linear(p + "self_attn.v_proj", a.hidden_size, kv_dims, a.attention_bias);
      b.o_proj = &linear(p + "self_attn.o_proj", q_dims, a.hidden_size, a.o_proj_bias);
      b.mlp = mlp ? mlp(*this, a, i)
                  : dense_mlp(*this, p + "mlp.", a.hidden_size, a.intermediate_size, a.mlp_bias);
      b.input_norm = norm(p + "input_layernorm", a.hidden_size);
      b.post_attention_norm = norm(p + "post_attention_layernorm", a.hidden_size);
      if (a.qk_norm) {
        b.q_norm = norm(p + "self_attn.q_norm", a.head_dim);
        b.k_norm = norm(p + "self_attn.k_norm", a.head_dim);
      }
      blocks_.push_back(std::move(b));
    }
    final_norm_ = norm("model.norm", a.hidden_size);
    if (!a.tie_word_embeddings) lm_head_ = &linear("lm_head", a.hidden_size, a.vocab_size, false);
    if (!a.rope_freqs.empty()) {
      rope_freqs_ = Tensor::from_floats({static_cast<std::int64_t>(a.rope_freqs.size())},
                                        Dtype::float32, a.rope_freqs);
    }
  }

  const ModelArgs& args() const override { return args_; }

  Tensor operator()(const Tensor& ids, Cache* cache) const override {
    const ModelArgs& a = args_;
    if (ids.ndim() != 2 || ids.dim(0) != 1 || ids.dim(1) == 0) {
      throw std::invalid_argument("[lm.Model] ids must have shape (1, T) with T > 0, got " +
                                  shape_string(ids.shape()) + ".");
    }
    Cache local;
    if (cache == nullptr) cache = &(local = make_cache());
    if (cache->size() != blocks_.size()) {
      throw std::invalid_argument("[lm.Model] The cache has " + std::to_string(cache->size()) +
                                  " layers, the model " + std::to_string(blocks_.size()) + ".");
    }
    Tensor h = embed(ids);
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      const Block& b = blocks_[i];
      add_into(h, attention(b, rms_norm(h, b.input_norm, a.rms_norm_eps), (*cache)[i]));
      const Tensor x = rms_norm(h, b.post_attention_norm, a.rms_norm_eps);
      add_into(h, b.mlp(x));
    }
    h = rms_norm(h, final_norm_, a.rms_norm_eps);
    return ops::float32_of(lm_head_ ? (*lm_head_)(h) : tied_head(h));
  }

  [[noreturn]] void fail(const std::string& message) const override {
    throw FileError("[lm.load] " + source_ + ": " + message + ".");
  }

  const nn::Module& module(const std::string& path) const override {
    try {
      return loaded_.model->module_at(path);
    } catch (const std::out_of_range&) {
      fail("the " + args_.model_type + " model needs " + path + ", which the weights lack");
    }
  }

  const std::optional<distributed::Group>& group() const override { return group_; }

  // The unsharded layer's dimensions, whether or not it is sharded.
  const nn::Unary& linear(const std::string& path, std::int64_t in, std::int64_t out,
                          bool bias) const override {
    const nn::Module& m = module(path);
    std::int64_t actual_in = -1, actual_out = -1;
    bool actual_bias = false;
    if (const auto* l = dynamic_cast<const nn::Linear*>(&m)) {
      actual_in = l->input_dims(), actual_out = l->output_dims(), actual_bias = l->has_bias();
    } else if (const auto* q = dynamic_cast<const nn::QuantizedLinear*>(&m)) {
      actual_in = q->input_dims(), actual_out = q->output_dims(), actual_bias = q->has_bias();
    } else if (const auto* s = dynamic_cast<const nn::ShardedLinear*>(&m)) {
      actual_in = s->input_dims(), actual_out = s->output_dims(), actual_bias = s->has_bias();
    } else {
      fail(path + " is a " + m.type_name() + ", not a linear layer");
    }
    if (actual_in != in || actual_out != out) {
      fail(path + " maps " + std::to_string(actual_in) + " to " + std::to_string(actual_out) +
           " features; the config says " + std::to_string(in) + " to " + std::to_string(out));
    }
    if (actual_bias != bias)
      fail(path + (bias ? " lacks the bias" : " has a bias") + " the config " +
           (bias ? "asks for" : "does not have"));
    return dynamic_cast<const nn::Unary&>(m);
  }

 private:
  Tensor norm(const std::string& path, std::int64_t dims) const {
    const nn::Module& m = module(path);
    if (!m.has_parameter("weight") || m.parameter("weight").shape() != Shape{dims}) {
      fail(path + ".weight must have shape (" + std::to_string(dims) + ",)");
    }
    return ops::float32_of(m.parameter("weight"));
  }

  Tensor embed(const Tensor& ids) const {
    return ops::float32_of(dynamic_cast<const nn::Unary&>(*embed_)(ids)).copy();
  }

  Tensor tied_head(const Tensor& h) const {
    if (const auto* q = dynamic_cast<const nn::QuantizedEmbedding*>(embed_)) return q->as_linear(h);
    return dynamic_cast<const nn::Embedding&>(*embed_).as_linear(h);
  }

  // Self-attention of x (1, T, hidden) at the cache's positions, appending to it.
  Tensor attention(const Block& b, const Tensor& x, LayerCache& cache) const {
    const ModelArgs& a = args_;
    const std::int64_t T = x.dim(1), D = a.head_dim;
    // This rank's heads: the sharded projections give each rank H / N and KV / N of them.
    const std::int64_t H = a.num_attention_heads / ranks(), KV = a.num_key_value_heads / ranks();
    Tensor q = ops::float32_of((*b.q_proj)(x)).reshape({1, T, H, D});
    Tensor k = ops::float32_of((*b.k_proj)(x)).reshape({1, T, KV, D});
    const Tensor v = ops::float32_of((*b.v_proj)(x)).reshape({1, T, KV, D});
    if (b.q_norm) {
      q = rms_norm(q, b.q_norm, a.rms_norm_eps);
      k = rms_norm(k, b.k_norm, a.rms_norm_eps);
    }
    q = rotate(swap_middle_axes(q, T, H), cache.offset());
    k = rotate(swap_middle_axes(k, T, KV), cache.offset());
    // head_dim ** -0.5 rounded once, as mlx-lm's Python float reaches MLX.
    const float scale = static_cast<float>(std::pow(static_cast<double>(D), -0.5));
    Tensor out;
    if (QuantizedKVCache* quantized = cache.quantized_cache()) {
      quantized->update(k, swap_middle_axes(v, T, KV));
      out = ops::quantized_attention_prefix(
          "lm.attention", q, quantized->keys(), quantized->values(),
          {quantized->group_size(), quantized->bits(), QuantMode::affine}, quantized->offset(),
          scale, true);
    } else {
      KVCache& floats = *cache.float_cache();
      floats.update(k, swap_middle_axes(v, T, KV));
      out = ops::attention_prefix("lm.attention", q, floats.keys(), floats.values(),
                                  floats.offset(), scale, true);
    }
    return (*b.o_proj)(swap_middle_axes(out, H, T).reshape({1, T, H * D}));
  }

  Tensor rotate(const Tensor& x, std::int64_t offset) const {
    const int dims = static_cast<int>(args_.head_dim);
    if (rope_freqs_.defined()) {
      return rope(x, dims, args_.rope_traditional, std::nullopt, args_.rope_scale, offset,
                  rope_freqs_);
    }
    return rope(x, dims, args_.rope_traditional, args_.rope_theta, args_.rope_scale, offset);
  }

  ModelArgs args_;
  LoadedModel loaded_;
  std::string source_;
  std::optional<distributed::Group> group_;
  const nn::Module* embed_ = nullptr;
  std::vector<Block> blocks_;
  Tensor final_norm_;
  const nn::Unary* lm_head_ = nullptr;
  Tensor rope_freqs_;
};

}  // namespace

Mlp dense_mlp(const LayerBinder& layers, const std::string& prefix, std::int64_t hidden,
              std::int64_t intermediate, bool bias) {
  const nn::Unary& gate = layers.linear(prefix + "gate_proj", hidden, intermediate, bias);
  const nn::Unary& up = layers.linear(prefix + "up_proj", hidden, intermediate, bias);
  const nn::Unary& down = layers.linear(prefix + "down_proj", intermediate, hidden, bias);
  return [&gate, &up, &down](const Tensor& x) { return down(swiglu(gate(x), up(x))); };
}

std::shared_ptr<const Model> make_decoder(ModelArgs args, LoadedModel loaded,
                                          const std::string& source, const MlpBinder& mlp,
                                          std::optional<distributed::Group> group) {
  return std::make_shared<Decoder>(std::move(args), std::move(loaded), source, mlp,
                                   std::move(group));
}

}  // namespace qlinear::lm::detail
