#include "models/config_reader.h"

#include <cmath>
#include <numbers>

#include "qlinear/io.h"

namespace qlinear::lm::detail {

void ConfigReader::fail(const std::string& message) const {
  throw FileError("[lm.load] " + source_ + " " + message + ".");
}

ModelArgs read_common(const ConfigReader& config) {
  ModelArgs args;
  args.model_type = config.model_type();
  args.hidden_size = config.required<std::int64_t>("hidden_size");
  args.num_hidden_layers = config.required<std::int64_t>("num_hidden_layers");
  args.intermediate_size = config.required<std::int64_t>("intermediate_size");
  args.num_attention_heads = config.required<std::int64_t>("num_attention_heads");
  args.rms_norm_eps = config.required<float>("rms_norm_eps");
  args.vocab_size = config.required<std::int64_t>("vocab_size");
  if (args.num_attention_heads <= 0 || args.hidden_size <= 0) {
    config.fail("has num_attention_heads " + std::to_string(args.num_attention_heads) +
                " and hidden_size " + std::to_string(args.hidden_size) + "; both must be positive");
  }
  return args;
}

void ConfigReader::read_rope(ModelArgs& args, const Json* scaling) const {
  args.rope_traditional = optional<bool>("rope_traditional", false);
  if (scaling == nullptr || scaling->is_null()) return;
  const std::string type = scaling->contains("type") && !scaling->at("type").is_null()
                               ? scaling->at("type").get<std::string>()
                               : scaling->value("rope_type", std::string("default"));
  if (type == "default") return;
  const auto number = [&](const char* key, double fallback) {
    return scaling->contains(key) ? scaling->at(key).get<double>() : fallback;
  };
  if (!scaling->contains("factor")) fail("has rope_scaling of type " + type + " without a factor");
  const double factor = scaling->at("factor").get<double>();
  if (type == "linear") {
    args.rope_scale = static_cast<float>(1.0 / factor);
    return;
  }
  if (type != "llama3") {
    fail("has rope_scaling type \"" + type + "\"; supported: default, linear, llama3");
  }
  // Llama 3.1's rule: long wavelengths slowed by `factor`, short ones kept, the band
  // between blended (rope_utils.Llama3RoPE).
  const double low = number("low_freq_factor", 1.0), high = number("high_freq_factor", 4.0);
  const double old_context = number("original_max_position_embeddings", 8192);
  const double low_wavelen = old_context / low, high_wavelen = old_context / high;
  const std::int64_t dims = args.head_dim;
  for (std::int64_t i = 0; i < dims; i += 2) {
    const float base_freq =
        std::pow(args.rope_theta, static_cast<float>(i) / static_cast<float>(dims));
    const double wavelen = 2 * std::numbers::pi * base_freq;
    double freq = wavelen > low_wavelen ? base_freq * factor : base_freq;
    if (wavelen > high_wavelen && wavelen < low_wavelen) {
      const double smooth = (old_context / wavelen - low) / (high - low);
      freq = freq / ((1 - smooth) / factor + smooth);
    }
    args.rope_freqs.push_back(static_cast<float>(freq));
  }
}

}  // namespace qlinear::lm::detail
