#include "quant_metadata.h"

#include <nlohmann/json.hpp>

namespace qlinear::cli {

std::vector<std::string> quant_mode_names() {
  std::vector<std::string> names;
  for (const ModeTraits& t : kQuantModes) names.emplace_back(t.name);
  return names;
}

std::string describe_mode_choices(bool bits) {
  std::string text;
  for (const ModeTraits& t : kQuantModes) {
    const auto values = bits ? t.bits : t.group_sizes;
    const int preferred = bits ? t.default_bits : t.default_group_size;
    text += (text.empty() ? "" : "; ") + std::string(t.name) + " ";
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i > 0) text += i + 1 == values.size() ? " or " : ", ";
      text += std::to_string(values[i]);
      if (values.size() > 1 && values[i] == preferred) text += " (default)";
    }
  }
  return text;
}

void write_quant_metadata(Metadata& metadata, const QuantSpec& spec) {
  const nlohmann::json block = {{"group_size", spec.group_size},
                                {"bits", spec.bits},
                                {"mode", std::string(mode_name(spec.mode))}};
  metadata[kQuantizationKey] = block.dump();
}

std::optional<QuantSpec> read_quant_metadata(const Metadata& metadata, const std::string& path) {
  const auto it = metadata.find(kQuantizationKey);
  if (it == metadata.end()) return std::nullopt;
  try {
    const auto block = nlohmann::json::parse(it->second);
    const QuantMode mode = parse_quant_mode(block.value("mode", "affine"), "quantization");
    return QuantSpec::resolve("quantization", mode, block.at("group_size").get<int>(),
                              block.at("bits").get<int>());
  } catch (const std::exception& e) {
    throw FileError(path + ": metadata \"quantization\" is not a valid settings block (" +
                    e.what() + ")");
  }
}

}  // namespace qlinear::cli
