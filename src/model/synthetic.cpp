// A Llama-shaped float model with realistic weight statistics.
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "model/text_file.h"
#include "qlinear/model.h"

namespace qlinear {
namespace {

class WeightSource {
 public:
  explicit WeightSource(std::uint32_t seed) : engine_(seed) {}

  // (rows, cols): normal(0, 0.02) times a per-row log-normal factor, sparse outliers.
  Tensor matrix(std::int64_t rows, std::int64_t cols, Dtype dtype) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::lognormal_distribution<float> row_scale(0.0f, 0.3f);
    std::bernoulli_distribution outlier(0.001);
    std::vector<float> values(static_cast<std::size_t>(rows * cols));
    for (std::int64_t r = 0; r < rows; ++r) {
      const float scale = 0.02f * row_scale(engine_);
      for (std::int64_t c = 0; c < cols; ++c) {
        values[r * cols + c] = scale * normal(engine_) * (outlier(engine_) ? 8.0f : 1.0f);
      }
    }
    return Tensor::from_floats({rows, cols}, dtype, values);
  }

  // A norm's weight: around 1 with a little spread.
  Tensor norm(std::int64_t size, Dtype dtype) {
    std::normal_distribution<float> normal(1.0f, 0.1f);
    std::vector<float> values(static_cast<std::size_t>(size));
    for (float& v : values) v = normal(engine_);
    return Tensor::from_floats({size}, dtype, values);
  }

 private:
  std::mt19937 engine_;
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
  add("lm_head.weight", source.matrix(shape.vocab, shape.hidden, dtype));

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
                                         {"tie_word_embeddings", false},
                                         {"torch_dtype", std::string(name_of(dtype))},
                                         {"vocab_size", shape.vocab}};
  model::write_text_file(folder / "config.json", config.dump(4));
  model::write_text_file(folder / "tokenizer_config.json",
                         nlohmann::json{{"model_max_length", 4096}}.dump(4));
}

}  // namespace qlinear
