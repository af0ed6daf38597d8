// A Llama-shaped float model with realistic weight statistics.
#include <cmath>
#include <nlohmann/json.hpp>
#include <utility>

#include "model/text_file.h"
#include "qlinear/model.h"

namespace qlinear {
namespace {

// splitmix64 and the Box-Muller transform: several times faster than
// std::normal_distribution, which matters for the tens of millions of weights the demo draws.
class WeightSource {
 public:
  explicit WeightSource(std::uint32_t seed) : state_(seed) {}

  // (rows, cols): normal(0, 0.02) times a per-row log-normal factor (sigma 0.3), with
  // one weight in 1024 an outlier eight times larger.
  Tensor matrix(std::int64_t rows, std::int64_t cols, Dtype dtype) {
    std::vector<float> values(static_cast<std::size_t>(rows * cols));
    for (std::int64_t r = 0; r < rows; ++r) {
      const float scale = 0.02f * std::exp(0.3f * normal().first);
      for (std::int64_t c = 0; c < cols; c += 2) {
        const auto [a, b] = normal();
        const std::uint64_t bits = next();
        values[r * cols + c] = scale * a * ((bits & 1023) == 0 ? 8.0f : 1.0f);
        if (c + 1 < cols)
          values[r * cols + c + 1] = scale * b * ((bits >> 10 & 1023) == 0 ? 8.0f : 1.0f);
      }
    }
    return Tensor::from_floats({rows, cols}, dtype, values);
  }

  // A norm's weight: normal(1, 0.1).
  Tensor norm(std::int64_t size, Dtype dtype) {
    std::vector<float> values(static_cast<std::size_t>(size));
    for (float& v : values) v = 1.0f + 0.1f * normal().first;
    return Tensor::from_floats({size}, dtype, values);
  }

 private:
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Two independent standard normal values.
  std::pair<float, float> normal() {
    const std::uint64_t bits = next();
    const float u1 = (static_cast<float>(bits >> 40) + 1.0f) * 0x1p-24f;  // (0, 1]
    const float u2 = static_cast<float>(bits >> 8 & 0xFFFFFF) * 0x1p-24f;
    const float radius = std::sqrt(-2.0f * std::log(u1));
    constexpr float kTwoPi = 6.28318530717958648f;
    return {radius * std::cos(kTwoPi * u2), radius * std::sin(kTwoPi * u2)};
  }

  std::uint64_t state_;
};

}  // namespace

void write_synthetic_model(const std::filesystem::path& folder, const SyntheticModelShape& shape,
                           std::uint32_t seed) {
  const std::int64_t head_dim = shape.hidden / shape.heads;
  const std::int64_t kv = shape.kv_heads * head_dim;
  WeightSource source(seed);
  TensorMap weights;
  std::uint64_t parameters = 0;
  const auto add = [&](const std::string& name, Tensor tensor) {
    parameters += static_cast<std::uint64_t>(tensor.size());
    weights.emplace(name, std::move(tensor));
  };
  const Dtype dtype = shape.dtype;
  add("model.embed_tokens.weight", source.matrix(shape.vocab, shape.hidden, dtype));
  for (std::int64_t b = 0; b < shape.blocks; ++b) {
    const std::string block = "model.layers." + std::to_string(b) + ".";
    add(block + "input_layernorm.weight", source.norm(shape.hidden, dtype));
    add(block + "self_attn.q_proj.weight", source.matrix(shape.hidden, shape.hidden, dtype));
    add(block + "self_attn.k_proj.weight", source.matrix(kv, shape.hidden, dtype));
    add(block + "self_attn.v_proj.weight", source.matrix(kv, shape.hidden, dtype));
    add(block + "self_attn.o_proj.weight", source.matrix(shape.hidden, shape.hidden, dtype));
    add(block + "post_attention_layernorm.weight", source.norm(shape.hidden, dtype));
    add(block + "mlp.gate_proj.weight", source.matrix(shape.intermediate, shape.hidden, dtype));
    add(block + "mlp.up_proj.weight", source.matrix(shape.intermediate, shape.hidden, dtype));
    add(block + "mlp.down_proj.weight", source.matrix(shape.hidden, shape.intermediate, dtype));
  }
  add("model.norm.weight", source.norm(shape.hidden, dtype));
  if (!shape.tie_word_embeddings) {
    add("lm_head.weight", source.matrix(shape.vocab, shape.hidden, dtype));
  }

  std::filesystem::create_directories(folder);
  save_folder_weights(folder, weights, parameters);
  const nlohmann::ordered_json config = {{"architectures", {"LlamaForCausalLM"}},
                                         {"hidden_size", shape.hidden},
                                         {"intermediate_size", shape.intermediate},
                                         {"model_type", "llama"},
                                         {"num_attention_heads", shape.heads},
                                         {"num_hidden_layers", shape.blocks},
                                         {"num_key_value_heads", shape.kv_heads},
                                         {"rms_norm_eps", 1e-5},
                                         {"tie_word_embeddings", shape.tie_word_embeddings},
                                         {"torch_dtype", std::string(name_of(dtype))},
                                         {"vocab_size", shape.vocab}};
  model::write_text_file(folder / "config.json", config.dump(4));
  model::write_text_file(folder / "tokenizer_config.json",
                         nlohmann::json{{"model_max_length", 4096}}.dump(4));
}

}  // namespace qlinear
