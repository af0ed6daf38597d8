// convert_gguf: a llama.cpp model file (llama, qwen2, qwen3) as an mlx-lm folder, its
// quantized tensors kept as affine group-32 weights without loss (load_gguf's exact import).
#include <algorithm>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

#include "model/gguf_names.h"
#include "model/partial_folder.h"
#include "model/text_file.h"
#include "qlinear/convert.h"

namespace qlinear {
namespace {

constexpr int kGroupSize = 32;  // every affine tensor the exact import gives

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& reason) {
  throw FileError("[convert] " + path.string() + ": " + reason);
}

class GgufSettings {
 public:
  GgufSettings(const GgufLoad& loaded, const std::filesystem::path& path, std::string arch)
      : loaded_(loaded), path_(path), arch_(std::move(arch)) {}

  std::optional<double> number(const std::string& key) const {
    const auto found = loaded_.metadata.find(key);
    if (found == loaded_.metadata.end()) return std::nullopt;
    const Tensor* value = std::get_if<Tensor>(&found->second);
    if (!value || value->ndim() != 0) fail(path_, "metadata '" + key + "' is not a number");
    return value->astype(Dtype::float64).data<double>()[0];
  }
  // "<arch>.<key>", which the model needs.
  double required(const std::string& key) const {
    const std::optional<double> value = number(arch_ + "." + key);
    if (!value) fail(path_, "metadata '" + arch_ + "." + key + "' is missing");
    return *value;
  }
  std::optional<double> optional(const std::string& key) const { return number(arch_ + "." + key); }

 private:
  const GgufLoad& loaded_;
  const std::filesystem::path& path_;
  std::string arch_;
};

std::int64_t integer(double value) {
  return static_cast<std::int64_t>(value);
}

std::string config_json(const GgufSettings& meta, const GgufLoad& loaded, const std::string& arch,
                        bool tied) {
  nlohmann::ordered_json config;
  config["model_type"] = arch;
  config["hidden_size"] = integer(meta.required("embedding_length"));
  config["num_hidden_layers"] = integer(meta.required("block_count"));
  config["intermediate_size"] = integer(meta.required("feed_forward_length"));
  const std::int64_t heads = integer(meta.required("attention.head_count"));
  config["num_attention_heads"] = heads;
  config["num_key_value_heads"] =
      integer(meta.optional("attention.head_count_kv").value_or(static_cast<double>(heads)));
  config["rms_norm_eps"] = meta.required("attention.layer_norm_rms_epsilon");
  config["rope_theta"] = meta.optional("rope.freq_base").value_or(10000.0);
  if (const auto context = meta.optional("context_length")) {
    config["max_position_embeddings"] = integer(*context);
  }
  if (const auto key_length = meta.optional("attention.key_length")) {
    config["head_dim"] = integer(*key_length);
  }
  config["vocab_size"] = loaded.tensors.at("token_embd.weight").shape().front();
  config["tie_word_embeddings"] = tied;
  for (const auto& [key, name] : {std::pair{"tokenizer.ggml.bos_token_id", "bos_token_id"},
                                  std::pair{"tokenizer.ggml.eos_token_id", "eos_token_id"}}) {
    if (const auto id = meta.number(key)) config[name] = integer(*id);
  }
  return config.dump();
}

}  // namespace

std::vector<GgufConvertedTensor> convert_gguf(
    const std::filesystem::path& input, const std::filesystem::path& output,
    const std::function<void(const std::filesystem::path&)>& add_files) {
  model::PartialFolder partial(output);
  const GgufLoad loaded = load_gguf(input, {.exact = true});
  const auto arch_value = loaded.metadata.find("general.architecture");
  const std::string* arch =
      arch_value == loaded.metadata.end() ? nullptr : std::get_if<std::string>(&arch_value->second);
  if (!arch || (*arch != "llama" && *arch != "qwen2" && *arch != "qwen3")) {
    fail(input, "general.architecture '" + (arch ? *arch : std::string("(missing)")) +
                    "' is not one of llama, qwen2, qwen3");
  }
  const GgufSettings meta(loaded, input, *arch);
  if (loaded.tensors.count("token_embd.weight") == 0) fail(input, "no token_embd.weight");
  const std::int64_t heads = integer(meta.required("attention.head_count"));
  const std::int64_t kv_heads =
      integer(meta.optional("attention.head_count_kv").value_or(static_cast<double>(heads)));

  // Tensors by mlx-lm's names; the report and the quantization block by layer.
  std::map<std::string, const GgufTensorImport*> import_of;  // by GGUF tensor name
  for (const GgufTensorImport& tensor : loaded.report) import_of[tensor.name] = &tensor;
  TensorMap tensors;
  std::map<std::string, std::string> mlx_name;  // by GGUF tensor name
  std::vector<GgufConvertedTensor> converted;   // in file order
  std::map<int, int> layers_by_bits;
  std::uint64_t parameters = 0;
  for (const auto& [name, tensor] : loaded.tensors) {
    const std::size_t dot = name.rfind('.');
    const std::string gguf_layer = name.substr(0, dot);
    const std::string suffix = name.substr(dot);
    const std::optional<std::string> layer = model::mlx_layer_name(gguf_layer);
    if (!layer) fail(input, "tensor '" + name + "' has no mlx-lm counterpart for " + *arch);
    // PREFIX.scales and PREFIX.biases come from the file's PREFIX.weight.
    const auto own = import_of.find(name);
    const GgufTensorImport& import =
        own != import_of.end() ? *own->second : *import_of.at(gguf_layer + ".weight");
    Tensor value = tensor;
    const bool q = gguf_layer.ends_with(".attn_q"), k = gguf_layer.ends_with(".attn_k");
    if (*arch == "llama" && (q || k)) {
      value = model::reorder_llama_rows(tensor, q ? heads : kv_heads, false, name);
    }
    if (suffix == ".weight" && import.method == GgufImportMethod::affine) {
      parameters += static_cast<std::uint64_t>(value.size() * 32 / import.bits);
    } else if (suffix != ".scales" && suffix != ".biases") {
      parameters += static_cast<std::uint64_t>(value.size());
    }
    tensors.emplace(*layer + suffix, std::move(value));
    if (import.name == name) mlx_name[name] = *layer + suffix;
  }
  for (const GgufTensorImport& import : loaded.report) {
    converted.push_back({mlx_name.at(import.name), import});
    if (import.method == GgufImportMethod::affine) ++layers_by_bits[import.bits];
  }

  std::optional<QuantizationConfig> quantization;
  if (!layers_by_bits.empty()) {
    const int bits =
        std::max_element(layers_by_bits.begin(), layers_by_bits.end(), [](auto a, auto b) {
          return a.second < b.second;
        })->first;
    quantization = QuantizationConfig{{kGroupSize, bits, QuantMode::affine}, {}};
    for (const GgufConvertedTensor& tensor : converted) {
      const std::string path = tensor.mlx_name.substr(0, tensor.mlx_name.rfind('.'));
      if (tensor.import.method == GgufImportMethod::affine && tensor.import.bits != bits) {
        quantization->layers.emplace_back(path, QuantSpec{kGroupSize, tensor.import.bits});
      } else if (tensor.import.method != GgufImportMethod::affine &&
                 tensors.at(tensor.mlx_name).ndim() == 2) {
        quantization->layers.emplace_back(path, std::nullopt);  // a float Linear / Embedding
      }
    }
  }
  const bool tied = loaded.tensors.count("output.weight") == 0;
  save_folder_weights(partial.path(), tensors, parameters);
  model::write_text_file(partial.path() / "config.json",
                         with_quantization(config_json(meta, loaded, *arch, tied), quantization));
  if (add_files) add_files(partial.path());
  partial.move_to(output);
  return converted;
}

}  // namespace qlinear
