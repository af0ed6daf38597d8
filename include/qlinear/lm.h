// Language models from mlx-lm model folders: the decoder architectures of mlx-lm's
// models/ (llama, qwen2, qwen3), their KV cache, and a token generator. Activations are
// float32 whatever the checkpoint's dtype; weights stay as stored (float or quantized).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "qlinear/sample.h"
#include "qlinear/tensor.h"

namespace qlinear::lm {

// config.json read as mlx-lm's ModelArgs of the architecture read it (defaults and all).
struct ModelArgs {
  std::string model_type;
  std::int64_t hidden_size = 0, num_hidden_layers = 0, intermediate_size = 0;
  std::int64_t num_attention_heads = 0, num_key_value_heads = 0, head_dim = 0, vocab_size = 0;
  float rms_norm_eps = 0;
  float rope_theta = 10000;
  bool rope_traditional = false;
  // Per-feature-pair rotary frequencies when rope_scaling asks for them (llama3), else
  // empty: base rope_theta with scale rope_scale ("linear": 1 / factor).
  std::vector<float> rope_freqs;
  float rope_scale = 1;
  bool tie_word_embeddings = true;
  bool attention_bias = false;  // q, k, v (and in llama o) projections have biases
  bool o_proj_bias = false;
  bool mlp_bias = false;
  bool qk_norm = false;  // qwen3: RMSNorm of each head's queries and keys
};

// The architectures load() knows, by model_type.
const std::vector<std::string>& supported_model_types();

// mlx-lm's KVCache for one layer: keys and values (1, kv_heads, capacity, head_dim),
// grown in steps of 256 positions; offset = positions stored.
class KVCache {
 public:
  static constexpr std::int64_t kStep = 256;
  // Appends keys and values (1, kv_heads, T, head_dim) float32.
  void update(const Tensor& keys, const Tensor& values);
  std::int64_t offset() const { return offset_; }
  const Tensor& keys() const { return keys_; }  // the first offset() positions are valid
  const Tensor& values() const { return values_; }
  std::size_t nbytes() const { return keys_.nbytes() + values_.nbytes(); }

 private:
  Tensor keys_, values_;
  std::int64_t offset_ = 0;
};
using Cache = std::vector<KVCache>;

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelArgs& args() const = 0;
  // Logits (1, T, vocab) float32 for token ids (1, T) of an integer dtype, at the cache's
  // positions; appends to the cache if given (one KVCache per layer, see make_cache).
  virtual Tensor operator()(const Tensor& ids, Cache* cache = nullptr) const = 0;
  Cache make_cache() const { return Cache(static_cast<std::size_t>(args().num_hidden_layers)); }
};

struct LoadedLm {
  std::shared_ptr<const Model> model;
  ModelArgs args;
  std::string config;  // config.json as read
};

// Loads an mlx-lm model folder (float, quantized or mixed; see qlinear::load_model).
// Throws FileError for an unknown model_type (naming the supported ones), a missing
// tensor or one whose shape does not fit the config.
LoadedLm load(const std::filesystem::path& folder);

// --- generation -------------------------------------------------------------------

struct GenerateOptions {
  std::int64_t max_tokens = 256;
  std::vector<std::int64_t> eos_tokens = {};  // stop when one comes (it is not reported)

  // Sampling (qlinear/sample.h): each position's logits go through the processors (with
  // the prompt and the tokens generated so far), then the sampler picks from their
  // log-probabilities. No sampler: greedy.
  Sampler sampler = {};
  std::vector<LogitsProcessor> logits_processors = {};
};

struct GenerationStats {
  std::int64_t prompt_tokens = 0, generation_tokens = 0;
  double prompt_tps = 0, generation_tps = 0;  // tokens per second
  double peak_memory_mb = 0;                  // the process's peak resident memory
};

// Generation as mlx-lm's generate_step: the prompt in one forward pass (prefill), then one
// token at a time, each picked by options.sampler (greedy: the argmax) from the last
// position's processed logits minus their logsumexp.
// on_token(token) is called for every generated token; returning false stops early.
GenerationStats generate(const Model& model, const std::vector<std::int64_t>& prompt,
                         const GenerateOptions& options,
                         const std::function<bool(std::int64_t)>& on_token);

}  // namespace qlinear::lm
