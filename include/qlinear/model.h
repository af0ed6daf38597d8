// Model folders as MLX and mlx-lm write them: config.json with its "quantization"
// block, model.safetensors or model-0000k-of-0000n.safetensors shards, and
// model.safetensors.index.json; loading one into a module tree.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qlinear/io.h"
#include "qlinear/nn.h"

namespace qlinear {

// config.json's "quantization" block (and its copy "quantization_config").
struct QuantizationConfig {
  QuantSpec defaults;
  // Per-layer entries by path, in the order written: settings, or nullopt for `false`
  // (the layer stays in float).
  std::vector<std::pair<std::string, std::optional<QuantSpec>>> layers;

  // The entry for `path`, if there is one.
  const std::optional<QuantSpec>* find(std::string_view path) const;
  bool operator==(const QuantizationConfig&) const = default;
};

// The "quantization" block of config.json text (or "quantization_config" when it holds
// MLX settings); nullopt if neither is there. Missing group_size/bits take the mode's
// defaults. Throws FileError naming `source` for malformed JSON or settings.
std::optional<QuantizationConfig> parse_quantization(const std::string& config_json,
                                                     const std::string& source = "config.json");

// config.json text as mlx-lm's save_config writes it: "quantization" and
// "quantization_config" set to `quantization` (or both removed when nullopt),
// "_name_or_path" and "vision_config" dropped, top-level keys sorted, indent 4.
std::string with_quantization(const std::string& config_json,
                              const std::optional<QuantizationConfig>& quantization);

// --- weight files ---------------------------------------------------------------

constexpr std::uint64_t kDefaultShardBytes = std::uint64_t{5} << 30;  // mlx-lm's 5 GB

// "model.safetensors" for one shard, else "model-00002-of-00003.safetensors".
std::string shard_file_name(std::size_t index, std::size_t count);

// Splits names (in order) into shards the way mlx-lm does: a new shard starts when the
// next tensor would take the current one past max_bytes.
std::vector<std::vector<TensorInfo>> plan_shards(const std::vector<TensorInfo>& tensors,
                                                 std::uint64_t max_bytes = kDefaultShardBytes);

// model.safetensors.index.json: {"metadata": {"total_size", "total_parameters"},
// "weight_map": {name: file}} with names sorted, indent 4. Written atomically.
void write_weight_index(const std::filesystem::path& folder,
                        const std::map<std::string, std::string>& weight_map,
                        std::uint64_t total_size, std::uint64_t total_parameters);

// The weight files of a folder: those model.safetensors.index.json names, else every
// model*.safetensors (as mlx-lm globs). Throws FileError if there are none.
std::vector<std::filesystem::path> weight_files(const std::filesystem::path& folder);

// Every tensor of the folder's weight files, as views on their mappings.
TensorMap load_folder_weights(const std::filesystem::path& folder);

// Writes tensors as a model folder's weights: shards, metadata {"format": "mlx"}, index.
void save_folder_weights(const std::filesystem::path& folder, const TensorMap& tensors,
                         std::uint64_t total_parameters,
                         std::uint64_t max_shard_bytes = kDefaultShardBytes);

// --- module trees ---------------------------------------------------------------

// A tree of Linear / Embedding layers and plain containers built from weight names
// and shapes: a path with a 2-D "weight" becomes an Embedding when its last segment
// contains "embed" (or is "wte"), else a Linear (with a bias if there is one); a 3-D
// "weight" of an expert layer (is_expert_layer) a SwitchLinear; numeric
// segments make lists ("model.layers.3"); other parameters sit in plain modules. A
// quantized layer (one with "scales") is built quantized, with the stored shapes and the
// settings `quantization` gives it (a FileError if they do not fit).
std::shared_ptr<nn::Container> build_model_tree(
    const std::map<std::string, TensorInfo>& weights,
    const std::optional<QuantizationConfig>& quantization);

// mlx-lm's rule for which layers a checkpoint has quantized: the per-layer entry of
// `quantization` if there is one, else every Linear/Embedding/SwitchLinear whose "<path>.scales"
// is among the weight names.
nn::ClassPredicate checkpoint_predicate(const QuantizationConfig& quantization,
                                        std::function<bool(const std::string&)> has_weight);

struct LoadedModel {
  std::shared_ptr<nn::Container> model;
  std::string config;  // config.json as read
  std::optional<QuantizationConfig> quantization;
};

// Loads a model folder as mlx-lm does: builds the tree, quantizes exactly the layers
// config.json says (checkpoint_predicate; those stored quantized are built so), then
// load_weights(strict).
LoadedModel load_model(const std::filesystem::path& folder, bool strict = true);

// Copies the tree's parameters that view mapped files (load_model's weights) into one
// block of the process's own memory, in the tree's order, in transparent huge pages
// where the system gives them; each file range's pages leave the resident set as its
// copy enters it. As mlx_lm.load (lazy=False) reads a model into memory; decoding reads
// such weights faster than the mapping's 4 KiB pages (docs/models.md).
void copy_weights_into_memory(nn::Module& model);

// Writes a module tree as a model folder: its parameters as weight files (see
// save_folder_weights; parameters counted as mlx-lm counts them) and config.json from
// `config_json` with the "quantization" block set (with_quantization).
void save_model(const std::filesystem::path& folder, const nn::Module& model,
                const std::string& config_json,
                const std::optional<QuantizationConfig>& quantization,
                std::uint64_t max_shard_bytes = kDefaultShardBytes);

// --- mixed-precision recipes ----------------------------------------------------

// mlx-lm's recipes "mixed_2_6", "mixed_3_4", "mixed_3_6", "mixed_4_6": low bits for
// every layer, high bits for v_proj and down_proj in the first and last eighth of the
// blocks and every third block between, and for lm_head. layer_paths are the model's
// quantizable layer paths (the block count and index position come from the down_proj
// ones). Throws std::invalid_argument for an unknown recipe or a model without down_proj.
using Recipe = std::function<QuantSpec(std::string_view path)>;
Recipe mixed_recipe(std::string_view name, const std::vector<std::string>& layer_paths,
                    int group_size = 64);
// The recipe names, for help texts.
const std::vector<std::string>& recipe_names();

// --- mixture-of-experts layers ----------------------------------------------------

// Whether a 3-D "<path>.weight" is a stack of experts (a SwitchLinear): the layer sits
// directly under one of the names mlx-lm's models give their SwitchGLU / SwitchMLP
// ("switch_mlp", "switch_glu", "experts"), e.g. "model.layers.0.mlp.switch_mlp.up_proj".
bool is_expert_layer(std::string_view path);

// mlx-lm's per-model quant_predicate (models/<model_type>.py), which convert applies when
// no recipe is given: the settings of the layers the model keeps apart (the MoE routers
// at affine 8 bits, group 64), nullopt for the others. An empty rule for model types
// without one. config_json is config.json's text (its "model_type" picks the rule).
using ModelQuantRule = std::function<std::optional<QuantSpec>(std::string_view path)>;
ModelQuantRule model_quant_rule(const std::string& config_json);

}  // namespace qlinear

namespace qlinear {

// --- a synthetic model, for the demo and the tests ---------------------------------

// The sizes of a Llama-shaped model (defaults: a small one that converts in seconds).
struct SyntheticModelShape {
  std::int64_t hidden = 1024;
  std::int64_t intermediate = 2816;
  std::int64_t vocab = 8192;
  std::int64_t blocks = 4;
  std::int64_t heads = 16;
  std::int64_t kv_heads = 4;
  Dtype dtype = Dtype::bfloat16;
  bool tie_word_embeddings = false;  // no lm_head: the embedding is the output head
};

// Writes a float Llama-shaped folder (config.json, model.safetensors + index,
// tokenizer_config.json): embed_tokens, per block q/k/v/o and gate/up/down projections
// and two norms, the final norm and lm_head (unless tied). Weights are normal with std
// 0.02 scaled per output row by a log-normal factor, with one in 1024 an outlier eight times
// larger: the uneven, heavy-tailed rows real checkpoints have. Same seed, same bytes.
void write_synthetic_model(const std::filesystem::path& folder, const SyntheticModelShape& shape,
                           std::uint32_t seed = 0);

}  // namespace qlinear
