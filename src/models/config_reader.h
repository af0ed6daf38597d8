// Reading config.json values the way mlx-lm's ModelArgs dataclasses do: required fields,
// defaults, and the rope_scaling rules of rope_utils.initialize_rope.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "qlinear/lm.h"

namespace qlinear::lm::detail {

using Json = nlohmann::json;

class ConfigReader {
 public:
  ConfigReader(const Json& config, std::string source)
      : config_(config), source_(std::move(source)) {}

  // The value of a field the architecture requires; FileError naming it if absent or mistyped.
  template <class T>
  T required(std::string_view key) const {
    if (!config_.contains(key) || config_.at(key).is_null()) {
      fail("has no \"" + std::string(key) + "\", which model_type " + model_type() + " requires");
    }
    return get<T>(key);
  }
  // The value, or `fallback` when the field is absent or null (a dataclass default).
  template <class T>
  T optional(std::string_view key, T fallback) const {
    if (!config_.contains(key) || config_.at(key).is_null()) return fallback;
    return get<T>(key);
  }
  bool has(std::string_view key) const {
    return config_.contains(key) && !config_.at(key).is_null();
  }
  const Json& json() const { return config_; }
  std::string model_type() const { return config_.value("model_type", std::string("?")); }
  [[noreturn]] void fail(const std::string& message) const;

  // rope_theta, rope_traditional and the rope_scaling block (or `scaling`) into args:
  // "default", "linear" (scale 1 / factor) and "llama3" (frequencies by wavelength).
  void read_rope(ModelArgs& args, const Json* scaling) const;

 private:
  template <class T>
  T get(std::string_view key) const {
    try {
      return config_.at(key).get<T>();
    } catch (const nlohmann::json::exception&) {
      fail("has \"" + std::string(key) + "\": " + config_.at(key).dump() + " of the wrong type");
    }
  }

  const Json& config_;
  std::string source_;
};

// The fields llama, qwen2 and qwen3 share (sizes, norm epsilon, vocabulary).
ModelArgs read_common(const ConfigReader& config);

// One function per architecture (llama.cpp, qwen2.cpp, qwen3.cpp, qwen3_moe.cpp).
ModelArgs llama_args(const ConfigReader& config);
ModelArgs qwen2_args(const ConfigReader& config);
ModelArgs qwen3_args(const ConfigReader& config);
ModelArgs qwen3_moe_args(const ConfigReader& config);

}  // namespace qlinear::lm::detail
