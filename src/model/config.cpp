// config.json's "quantization" block, read and written as mlx-lm does.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>

#include "qlinear/model.h"

namespace qlinear {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kSettingKeys[] = {"group_size", "bits", "mode"};

// A value for an error message. Containers are named, not dumped: dumping recurses, and a
// downloaded file can nest arrays deeper than the stack.
std::string brief(const Json& value) {
  return value.is_structured() ? std::string("an ") + value.type_name() : value.dump();
}

bool is_setting_key(const std::string& key) {
  return std::find(std::begin(kSettingKeys), std::end(kSettingKeys), key) != std::end(kSettingKeys);
}

std::optional<int> optional_int(const Json& object, const char* key) {
  const auto found = object.find(key);
  if (found == object.end() || found->is_null()) return std::nullopt;
  // get<int> would convert 1e21 (undefined behaviour) or wrap 2^32 + 4 to 4.
  const bool fits = found->is_number_integer() &&
                    (found->is_number_unsigned()
                         ? found->get<std::uint64_t>() <= std::numeric_limits<int>::max()
                         : found->get<std::int64_t>() >= std::numeric_limits<int>::min() &&
                               found->get<std::int64_t>() <= std::numeric_limits<int>::max());
  if (!fits) {
    throw std::invalid_argument(std::string(key) + " must be an integer that fits in int, not " +
                                brief(*found));
  }
  return found->get<int>();
}

// {"group_size": 64, "bits": 4, "mode": "affine"}, any of them missing or null.
QuantSpec parse_settings(const Json& object) {
  const std::string mode = object.contains("mode") && !object["mode"].is_null()
                               ? object["mode"].get<std::string>()
                               : "affine";
  constexpr std::string_view kOp = "quantization";
  return QuantSpec::resolve(kOp, parse_quant_mode(mode, kOp), optional_int(object, "group_size"),
                            optional_int(object, "bits"));
}

Json settings_json(const QuantSpec& spec) {
  return Json{{"group_size", spec.group_size},
              {"bits", spec.bits},
              {"mode", std::string(mode_name(spec.mode))}};
}

QuantizationConfig parse_block(const Json& block) {
  QuantizationConfig config;
  config.defaults = parse_settings(block);
  for (const auto& [key, value] : block.items()) {
    if (is_setting_key(key)) continue;
    if (value.is_boolean()) {
      config.layers.emplace_back(key,
                                 value.get<bool>() ? std::optional(config.defaults) : std::nullopt);
    } else if (value.is_object()) {
      config.layers.emplace_back(key, parse_settings(value));
    } else {
      throw std::invalid_argument("the entry for '" + key +
                                  "' must be a settings object or a boolean, not " + brief(value));
    }
  }
  return config;
}

}  // namespace

const std::optional<QuantSpec>* QuantizationConfig::find(std::string_view path) const {
  for (const auto& [key, spec] : layers) {
    if (key == path) return &spec;
  }
  return nullptr;
}

std::optional<QuantizationConfig> parse_quantization(const std::string& config_json,
                                                     const std::string& source) {
  try {
    const Json config = Json::parse(config_json);
    if (!config.is_object()) throw std::invalid_argument("the top level is not an object");
    if (config.contains("quantization")) return parse_block(config["quantization"]);
    // Hugging Face's own quantization_config ("quant_method": ...) is not MLX's format.
    const auto copy = config.find("quantization_config");
    if (copy != config.end() && copy->is_object() && !copy->contains("quant_method")) {
      return parse_block(*copy);
    }
    return std::nullopt;
  } catch (const std::exception& e) {
    throw FileError(source + ": bad quantization settings: " + e.what());
  }
}

std::string with_quantization(const std::string& config_json,
                              const std::optional<QuantizationConfig>& quantization) {
  Json config = Json::parse(config_json);
  config.erase("_name_or_path");
  config.erase("vision_config");
  config.erase("quantization");
  config.erase("quantization_config");
  if (quantization) {
    Json block = settings_json(quantization->defaults);
    for (const auto& [path, spec] : quantization->layers) {
      block[path] = spec ? settings_json(*spec) : Json(false);
    }
    config["quantization"] = block;
    config["quantization_config"] = block;
  }
  std::vector<std::string> keys;
  for (const auto& [key, value] : config.items()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  Json sorted = Json::object();
  for (const std::string& key : keys) sorted[key] = config[key];
  return sorted.dump(4, ' ', true);
}

}  // namespace qlinear
