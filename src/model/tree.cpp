// A generic module tree built from a checkpoint's weight names, and mlx-lm's loading.
#include <algorithm>
#include <charconv>

#include "io/unread_tensor.h"
#include "model/text_file.h"
#include "model/unread_model.h"
#include "qlinear/model.h"

namespace qlinear {
namespace {

// One dotted path segment's worth of the weight names.
struct Node {
  std::map<std::string, Node> children;
  std::map<std::string, TensorInfo> parameters;  // by local name ("weight")
};

std::optional<std::size_t> list_index(const std::string& key) {
  std::size_t index = 0;
  const auto [end, error] = std::from_chars(key.data(), key.data() + key.size(), index);
  if (error != std::errc{} || end != key.data() + key.size()) return std::nullopt;
  return index;
}

bool is_list(const Node& node) {
  return !node.children.empty() && node.parameters.empty() &&
         std::all_of(node.children.begin(), node.children.end(),
                     [](const auto& entry) { return list_index(entry.first).has_value(); });
}

bool is_embedding_name(const std::string& path) {
  const std::string last = path.substr(path.rfind('.') + 1);
  return last.find("embed") != std::string::npos || last == "wte";
}

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// A Linear, Embedding or (for a 3-D expert stack) SwitchLinear when the node's
// parameters are exactly a layer's, else nullptr.
nn::ModulePtr make_layer(const std::string& path, const Node& node,
                         const std::optional<QuantizationConfig>& quantization) {
  const auto& params = node.parameters;
  const auto weight = params.find("weight");
  if (!node.children.empty() || weight == params.end()) return nullptr;
  const std::size_t ndim = weight->second.shape.size();
  const bool experts = ndim == 3 && is_expert_layer(path);
  if (ndim != 2 && !experts) return nullptr;
  const bool quantized = params.contains("scales");
  for (const auto& [name, info] : params) {
    const bool known =
        name == "weight" || name == "bias" || (quantized && (name == "scales" || name == "biases"));
    if (!known) return nullptr;
  }
  if (!quantized && !is_floating(weight->second.dtype)) return nullptr;
  // Zeros stand in for the values load_weights sets; only the shapes matter here.
  auto zeros_like = [&](const std::string& name) {
    return Tensor::zeros(params.at(name).shape, params.at(name).dtype);
  };
  std::optional<Tensor> bias;
  if (params.contains("bias")) bias = zeros_like("bias");
  const bool embedding = !experts && is_embedding_name(path);
  if (!quantized) {
    if (experts) return std::make_shared<nn::SwitchLinear>(zeros_like("weight"), std::move(bias));
    if (embedding) return std::make_shared<nn::Embedding>(zeros_like("weight"));
    return std::make_shared<nn::Linear>(zeros_like("weight"), std::move(bias));
  }
  const std::optional<QuantSpec>* entry = quantization ? quantization->find(path) : nullptr;
  if (!quantization || (entry && !*entry)) {
    throw FileError(path + ".scales is in the weights but config.json does not quantize " + path);
  }
  const QuantSpec spec = entry ? **entry : quantization->defaults;
  // Built as stored: quantizing float placeholders would cost a pass over the model.
  Quantized packed{zeros_like("weight"), zeros_like("scales"),
                   params.contains("biases") ? std::optional(zeros_like("biases")) : std::nullopt};
  try {
    if (experts) {
      return nn::QuantizedSwitchLinear::from_quantized(spec, std::move(packed), std::move(bias));
    }
    if (embedding) return nn::QuantizedEmbedding::from_quantized(spec, std::move(packed));
    return nn::QuantizedLinear::from_quantized(spec, std::move(packed), std::move(bias));
  } catch (const std::invalid_argument& e) {
    throw FileError("the weights of " + path +
                    " do not fit its quantization in config.json: " + e.what());
  }
}

nn::ModulePtr make_module(const std::string& path, const Node& node,
                          const std::optional<QuantizationConfig>& quantization,
                          const std::string& type_name) {
  if (nn::ModulePtr layer = make_layer(path, node, quantization)) return layer;
  auto module = std::make_shared<nn::Container>(type_name);
  for (const auto& [name, info] : node.parameters) {
    module->set_parameter(name, Tensor::zeros(info.shape, info.dtype));
  }
  for (const auto& [key, child] : node.children) {
    const std::string child_path = join(path, key);
    if (!is_list(child)) {
      module->set_module(key, make_module(child_path, child, quantization, "Module"));
      continue;
    }
    nn::ModuleList list(child.children.size());
    for (const auto& [index_key, item] : child.children) {
      const std::size_t index = *list_index(index_key);
      if (index >= list.size()) {
        throw FileError("the weights of list " + child_path + " skip an index below " + index_key);
      }
      list[index] = make_module(join(child_path, index_key), item, quantization, "Module");
    }
    module->set_modules(key, std::move(list));
  }
  return module;
}

}  // namespace

std::shared_ptr<nn::Container> build_model_tree(
    const std::map<std::string, TensorInfo>& weights,
    const std::optional<QuantizationConfig>& quantization) {
  Node root;
  for (const auto& [name, info] : weights) {
    Node* node = &root;
    std::size_t start = 0;
    for (std::size_t dot; (dot = name.find('.', start)) != std::string::npos; start = dot + 1) {
      node = &node->children[name.substr(start, dot - start)];
    }
    node->parameters.emplace(name.substr(start), info);
  }
  return std::static_pointer_cast<nn::Container>(make_module("", root, quantization, "Model"));
}

nn::ClassPredicate checkpoint_predicate(const QuantizationConfig& quantization,
                                        std::function<bool(const std::string&)> has_weight) {
  return [quantization, has_weight = std::move(has_weight)](
             std::string_view path, const nn::Module& module) -> nn::QuantChoice {
    if (module.quant_spec()) return false;  // built quantized from the weights
    if (const std::optional<QuantSpec>* entry = quantization.find(path)) {
      return *entry ? nn::QuantChoice(**entry) : nn::QuantChoice(false);
    }
    if (!dynamic_cast<const nn::Quantizable*>(&module)) return false;
    return has_weight(std::string(path) + ".scales");
  };
}

namespace {

// load_model with the weights that `read_weights` gives for the folder.
LoadedModel load_model_from(const std::filesystem::path& folder, bool strict,
                            const std::function<TensorMap()>& read_weights) {
  const auto config_path = folder / "config.json";
  LoadedModel loaded;
  loaded.config = model::read_text_file(config_path);
  loaded.quantization = parse_quantization(loaded.config, config_path.string());
  const TensorMap weights = read_weights();
  std::map<std::string, TensorInfo> infos;
  for (const auto& [name, tensor] : weights) {
    infos.emplace(name, TensorInfo{name, tensor.dtype(), tensor.shape()});
  }
  loaded.model = build_model_tree(infos, loaded.quantization);
  if (const auto& q = loaded.quantization) {
    nn::quantize(
        *loaded.model, q->defaults.group_size, q->defaults.bits, mode_name(q->defaults.mode),
        checkpoint_predicate(*q, [&](const std::string& name) { return weights.contains(name); }));
  }
  loaded.model->load_weights(weights, strict);
  return loaded;
}

}  // namespace

LoadedModel load_model(const std::filesystem::path& folder, bool strict) {
  return load_model_from(folder, strict, [&] { return load_folder_weights(folder); });
}

namespace model {

LoadedModel load_model_unread(const std::filesystem::path& folder,
                              std::shared_ptr<std::atomic<std::uint64_t>> bytes_read) {
  return load_model_from(folder, /*strict=*/true, [&] {
    return folder_tensors(folder, [&](const std::filesystem::path& file) {
      return io::read_safetensors_header(file, bytes_read);
    });
  });
}

}  // namespace model
}  // namespace qlinear

namespace qlinear {

void save_model(const std::filesystem::path& folder, const nn::Module& model,
                const std::string& config_json,
                const std::optional<QuantizationConfig>& quantization,
                std::uint64_t max_shard_bytes) {
  // A quantized layer counts the float elements of its weight, plus its bias.
  std::uint64_t parameters = 0;
  for (const auto& [path, module] : model.leaf_modules()) {
    const auto spec = module->quant_spec();
    for (const auto& [name, value] : module->parameters()) {
      if (!spec || name == "bias") parameters += static_cast<std::uint64_t>(value.size());
      if (spec && name == "weight")
        parameters += static_cast<std::uint64_t>(spec->codes_in(value.size()));
    }
  }
  TensorMap tensors;
  for (auto& [path, value] : model.parameters()) tensors.emplace(path, std::move(value));
  std::filesystem::create_directories(folder);
  save_folder_weights(folder, tensors, parameters, max_shard_bytes);
  model::write_text_file(folder / "config.json", with_quantization(config_json, quantization));
}

}  // namespace qlinear
