// A model folder's weight files: shard naming and planning, the index, loading, saving.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "model/text_file.h"
#include "model/unread_model.h"
#include "qlinear/model.h"

namespace qlinear {
namespace {

constexpr const char* kIndexName = "model.safetensors.index.json";

std::uint64_t bytes_of(const TensorInfo& info) {
  return static_cast<std::uint64_t>(element_count(info.shape)) * size_of(info.dtype);
}

}  // namespace

std::string shard_file_name(std::size_t index, std::size_t count) {
  if (count == 1) return "model.safetensors";
  char name[64];
  std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", index + 1, count);
  return name;
}

std::vector<std::vector<TensorInfo>> plan_shards(const std::vector<TensorInfo>& tensors,
                                                 std::uint64_t max_bytes) {
  std::vector<std::vector<TensorInfo>> shards(1);
  std::uint64_t shard_bytes = 0;
  for (const TensorInfo& info : tensors) {
    const std::uint64_t bytes = bytes_of(info);
    if (!shards.back().empty() && shard_bytes + bytes > max_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(info);
    shard_bytes += bytes;
  }
  return shards;
}

void write_weight_index(const std::filesystem::path& folder,
                        const std::map<std::string, std::string>& weight_map,
                        std::uint64_t total_size, std::uint64_t total_parameters) {
  nlohmann::ordered_json index;
  index["metadata"] = {{"total_size", total_size}, {"total_parameters", total_parameters}};
  index["weight_map"] = nlohmann::ordered_json::object();
  for (const auto& [name, file] : weight_map) index["weight_map"][name] = file;
  model::write_text_file(folder / kIndexName, index.dump(4, ' ', true));
}

std::vector<std::filesystem::path> weight_files(const std::filesystem::path& folder) {
  std::set<std::filesystem::path> files;
  const auto index_path = folder / kIndexName;
  if (std::filesystem::exists(index_path)) {
    try {
      const auto index = nlohmann::json::parse(model::read_text_file(index_path));
      for (const auto& [name, file] : index.at("weight_map").items()) {
        const auto& file_name = file.get_ref<const std::string&>();
        // A downloaded index must not reach files outside its folder ("../x", "/x").
        if (file_name.empty() || file_name == "." || file_name == ".." ||
            file_name.find('/') != std::string::npos) {
          throw FileError(index_path.string() + ": the weight file of '" + name + "', '" +
                          file_name + "', is not a file name in the folder");
        }
        files.insert(folder / file_name);
      }
    } catch (const nlohmann::json::exception& e) {
      throw FileError(index_path.string() + ": malformed index: " + e.what());
    }
  } else if (std::filesystem::is_directory(folder)) {
    for (const auto& entry : std::filesystem::directory_iterator(folder)) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with("model") && entry.path().extension() == ".safetensors") {
        files.insert(entry.path());
      }
    }
  }
  if (files.empty()) throw FileError(folder.string() + ": no model*.safetensors files found");
  return {files.begin(), files.end()};
}

namespace model {

TensorMap folder_tensors(const std::filesystem::path& folder,
                         const std::function<SafetensorsFile(const std::filesystem::path&)>& load) {
  TensorMap tensors;
  for (const auto& file : weight_files(folder)) {
    for (auto& [name, tensor] : load(file).tensors) {
      if (!tensors.emplace(name, std::move(tensor)).second) {
        throw FileError(file.string() + ": tensor '" + name + "' is also in another shard");
      }
    }
  }
  return tensors;
}

}  // namespace model

TensorMap load_folder_weights(const std::filesystem::path& folder) {
  return model::folder_tensors(folder, load_safetensors);
}

void save_folder_weights(const std::filesystem::path& folder, const TensorMap& tensors,
                         std::uint64_t total_parameters, std::uint64_t max_shard_bytes) {
  std::vector<TensorInfo> infos;
  std::uint64_t total_size = 0;
  for (const auto& [name, tensor] : tensors) {
    infos.push_back({name, tensor.dtype(), tensor.shape()});
    total_size += tensor.nbytes();
  }
  const auto shards = plan_shards(infos, max_shard_bytes);
  std::map<std::string, std::string> weight_map;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const std::string file = shard_file_name(i, shards.size());
    TensorMap shard;
    for (const TensorInfo& info : shards[i]) {
      shard.emplace(info.name, tensors.at(info.name));
      weight_map.emplace(info.name, file);
    }
    save_safetensors(folder / file, shard, {{"format", "mlx"}});
  }
  write_weight_index(folder, weight_map, total_size, total_parameters);
}

}  // namespace qlinear
