// load(folder): config.json's model_type picks the architecture's ModelArgs reader; the
// weights load through qlinear::load_model (float, quantized or mixed).
#include <fstream>
#include <sstream>

#include "io/unread_tensor.h"
#include "model/unread_model.h"
#include "models/config_reader.h"
#include "models/decoder.h"
#include "qlinear/io.h"
#include "qlinear/model.h"

namespace qlinear::lm {
namespace {

struct Architecture {
  std::string model_type;
  ModelArgs (*args)(const detail::ConfigReader&);
  detail::MlpBinder mlp = {};  // the blocks' MLP, when not the dense one
};

const std::vector<Architecture>& architectures() {
  static const std::vector<Architecture> table = {
      {"llama", detail::llama_args},
      {"mistral", detail::llama_args},  // mlx-lm's MODEL_REMAPPING: mistral -> llama
      {"qwen2", detail::qwen2_args},
      {"qwen3", detail::qwen3_args},
      {"qwen3_moe", detail::qwen3_moe_args, detail::qwen3_moe_mlp},
  };
  return table;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError("[lm.load] cannot read " + path.string() + ".");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

const std::vector<std::string>& supported_model_types() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const Architecture& a : architectures()) out.push_back(a.model_type);
    return out;
  }();
  return names;
}

namespace {

LoadedLm load_over(const std::filesystem::path& folder, const LoadOptions& options,
                   const std::optional<distributed::Group>& group) {
  const std::filesystem::path config_path = folder / "config.json";
  LoadedLm out;
  out.config = read_text(config_path);
  detail::Json json;
  try {
    json = detail::Json::parse(out.config);
  } catch (const detail::Json::exception& e) {
    throw FileError("[lm.load] " + config_path.string() + " is not valid JSON: " + e.what());
  }
  const detail::ConfigReader reader(json, config_path.string());
  const std::string type = reader.required<std::string>("model_type");
  const auto& table = architectures();
  const auto arch = std::find_if(table.begin(), table.end(),
                                 [&](const Architecture& a) { return a.model_type == type; });
  if (arch == table.end()) {
    std::string names;
    for (const std::string& n : supported_model_types()) names += (names.empty() ? "" : ", ") + n;
    reader.fail("has model_type \"" + type +
                "\", which qlinear does not support; supported: " + names);
  }
  out.args = arch->args(reader);
  if (!group) {
    LoadedModel loaded = load_model(folder, /*strict=*/true);
    if (!options.lazy) copy_weights_into_memory(*loaded.model);
    out.model =
        detail::make_decoder(out.args, std::move(loaded), folder.string(), arch->mlp, group);
    return out;
  }
  // Sharded: the tensors stay unread until shard_decoder reads the rank's slices of the
  // ones it shards; the others (embedding, norms, head, router) are then read whole.
  auto bytes_read = std::make_shared<std::atomic<std::uint64_t>>(0);
  LoadedModel loaded = model::load_model_unread(folder, bytes_read);
  detail::shard_decoder(*loaded.model, out.args, *group);
  TensorMap whole;
  for (const auto& [path, tensor] : loaded.model->parameters())
    if (io::unread_place(tensor)) whole.emplace(path, io::read_whole(tensor));
  loaded.model->load_weights(whole, /*strict=*/false);
  out.weight_bytes_read = *bytes_read;
  out.model = detail::make_decoder(out.args, std::move(loaded), folder.string(), arch->mlp, group);
  return out;
}

}  // namespace

LoadedLm load(const std::filesystem::path& folder, const LoadOptions& options) {
  return load_over(folder, options, std::nullopt);
}

LoadedLm sharded_load(const std::filesystem::path& folder, const distributed::Group& group) {
  return load_over(folder, {}, group);
}

}  // namespace qlinear::lm
