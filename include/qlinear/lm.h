// Language models from mlx-lm model folders: the decoder architectures of mlx-lm's
// models/ (llama, qwen2, qwen3, qwen3_moe), their KV cache, and a token generator. Activations are
// float32 whatever the checkpoint's dtype; weights stay as stored (float or quantized).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "qlinear/distributed.h"
#include "qlinear/ops.h"
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
  // qwen3_moe's sparse blocks: block i routes each token to num_experts_per_tok of
  // num_experts SwitchGLU experts unless i is in mlp_only_layers or (i + 1) is not a
  // multiple of decoder_sparse_step (then it has the dense intermediate_size MLP).
  struct Experts {
    std::int64_t num_experts = 0, num_experts_per_tok = 0, decoder_sparse_step = 1;
    std::int64_t moe_intermediate_size = 0;
    std::vector<std::int64_t> mlp_only_layers;
    bool norm_topk_prob = false;  // renormalise the top-k router probabilities to sum 1
  };
  std::optional<Experts> experts;
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

// mlx-lm's QuantizedKVCache for one layer: keys and values stored as affine quantize()
// gives them (wq, scales, biases), each (1, kv_heads, capacity, ...), quantized in groups
// of group_size along head_dim; grown as mlx-lm grows it (the filled part trimmed to
// offset, then a whole number of steps of 256 positions added).
class QuantizedKVCache {
 public:
  static constexpr std::int64_t kStep = 256;
  // bits and group_size as affine quantize allows them (invalid_argument otherwise).
  QuantizedKVCache(int group_size, int bits);
  // mlx-lm's KVCache.to_quantized: the float cache's positions (its whole capacity,
  // as mlx-lm quantizes it) quantized, offset kept.
  static QuantizedKVCache from_float(const KVCache& cache, int group_size, int bits);
  // Appends keys and values (1, kv_heads, T, head_dim) float32, quantized;
  // head_dim must be a multiple of group_size.
  void update(const Tensor& keys, const Tensor& values);
  std::int64_t offset() const { return offset_; }
  int group_size() const { return group_size_; }
  int bits() const { return bits_; }
  const Quantized& keys() const { return keys_; }  // the first offset() positions are valid
  const Quantized& values() const { return values_; }
  std::size_t nbytes() const;

 private:
  int group_size_, bits_;
  Quantized keys_, values_;
  std::int64_t offset_ = 0;
};

// One layer's cache: float, or quantized once generation converts it (see
// GenerateOptions::kv_bits), as mlx-lm swaps a KVCache for its to_quantized().
class LayerCache {
 public:
  std::int64_t offset() const;
  std::size_t nbytes() const;
  KVCache* float_cache() { return std::get_if<KVCache>(&cache_); }
  QuantizedKVCache* quantized_cache() { return std::get_if<QuantizedKVCache>(&cache_); }
  // Converts a float cache (a quantized one stays as it is).
  void quantize(int group_size, int bits);

 private:
  std::variant<KVCache, QuantizedKVCache> cache_;
};
using Cache = std::vector<LayerCache>;

// mlx-lm's quantized_scaled_dot_product_attention (models/base.py): q (1, heads, L, D)
// times scale, scores through quantized_matmul on the quantized keys (transpose=true),
// softmax (masked scores at the lowest float when mask is "causal"), then quantized_matmul
// on the quantized values (transpose=false). keys and values as affine quantize() gives
// them for (1, kv_heads, T, D), heads a multiple of kv_heads. Returns (1, heads, L, D)
// float32; invalid_argument "[quantized_scaled_dot_product_attention] ..." for bad input.
Tensor quantized_scaled_dot_product_attention(const Tensor& q, const Quantized& keys,
                                              const Quantized& values, float scale,
                                              std::string_view mask = "", int group_size = 64,
                                              int bits = 8);

// mlx-lm's maybe_quantize_kv_cache: with kv_bits set, every layer whose offset has
// reached quantized_kv_start becomes quantized.
void maybe_quantize_kv_cache(Cache& cache, std::int64_t quantized_kv_start, int kv_group_size,
                             std::optional<int> kv_bits);

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelArgs& args() const = 0;
  // Logits (1, T, vocab) float32 for token ids (1, T) of an integer dtype, at the cache's
  // positions; appends to the cache if given (one LayerCache per layer, see make_cache).
  virtual Tensor operator()(const Tensor& ids, Cache* cache = nullptr) const = 0;
  Cache make_cache() const { return Cache(static_cast<std::size_t>(args().num_hidden_layers)); }
};

struct LoadedLm {
  std::shared_ptr<const Model> model;
  ModelArgs args;
  std::string config;  // config.json as read
  // sharded_load: the tensor bytes read from the weight files, only this rank's slices of
  // the sharded layers and the other tensors whole; 0 for load.
  std::uint64_t weight_bytes_read = 0;
};

struct LoadOptions {
  // As mlx_lm.load's `lazy`: false reads the weights into the process's memory before
  // returning (copy_weights_into_memory); true leaves them on the mapped files, read from
  // the page cache as they are used (instant and shared between processes, but decoding
  // from 4 KiB pages is slower).
  bool lazy = false;
};

// Loads an mlx-lm model folder (float, quantized or mixed; see qlinear::load_model).
// Throws FileError for an unknown model_type (naming the supported ones), a missing
// tensor or one whose shape does not fit the config.
LoadedLm load(const std::filesystem::path& folder, const LoadOptions& options = {});

// load(folder) sharded over the group as mlx-lm's Model.shard(group) shards llama, qwen2,
// qwen3 and qwen3_moe (tensor parallelism): every block's q, k, v and gate, up
// projections all-to-sharded and its o and down projections sharded-to-all (two all_sums
// per block), attention and key-value heads divided among the ranks, the experts of a
// sparse block sharded in place (their sum over the ranks added with one all_sum), the
// embedding, norms, router and output head whole on every rank. Every rank of the group
// must call it, then run the same forward passes; each gets the whole logits. Throws
// std::invalid_argument "[lm.shard] ..." where the heads do not divide among the ranks
// (and the sharded layers' errors where a projection does not split).
LoadedLm sharded_load(const std::filesystem::path& folder, const distributed::Group& group);

// --- generation -------------------------------------------------------------------

struct GenerateOptions {
  std::int64_t max_tokens = 256;
  std::vector<std::int64_t> eos_tokens = {};  // stop when one comes (it is not reported)
  // The quantized KV cache, as mlx-lm's generate_step takes it: with kv_bits set, each
  // layer's cache is quantized (kv_group_size, kv_bits) after the first forward pass that
  // leaves it holding quantized_kv_start positions or more.
  std::optional<int> kv_bits = {};
  int kv_group_size = 64;
  std::int64_t quantized_kv_start = 0;
  // The prompt but its last token runs in passes of this many tokens (mlx-lm: 2048).
  std::int64_t prefill_step_size = 2048;

  // Sampling (qlinear/sample.h): each position's logits go through the processors (with
  // the prompt and the tokens generated so far), then the sampler picks from their
  // log-probabilities. No sampler: greedy.
  Sampler sampler = {};
  std::vector<LogitsProcessor> logits_processors = {};

  // The group a sharded model (sharded_load) runs over: every rank takes rank 0's token,
  // so that the ranks never part ways (their logits may differ in the last bit where MPI
  // adds a sharded-to-all sum in another order on each rank, and their samplers may have
  // different seeds). One all_sum of one float per token.
  std::optional<distributed::Group> group = {};
};

struct GenerationStats {
  std::int64_t prompt_tokens = 0, generation_tokens = 0;
  double prompt_tps = 0, generation_tps = 0;  // tokens per second
  double peak_memory_mb = 0;                  // the process's peak resident memory
};

// Generation as mlx-lm's generate_step: the prompt but its last token in passes of
// prefill_step_size (prefill), then the last prompt token and one token at a time, each
// picked by options.sampler (greedy: the argmax) from the last position's processed logits
// minus their logsumexp; the cache quantized after each pass as kv_bits asks. Throws
// invalid_argument for kv_bits / kv_group_size quantize refuses.
// on_token(token) is called for every generated token; returning false stops early.
GenerationStats generate(const Model& model, const std::vector<std::int64_t>& prompt,
                         const GenerateOptions& options,
                         const std::function<bool(std::int64_t)>& on_token);

}  // namespace qlinear::lm
