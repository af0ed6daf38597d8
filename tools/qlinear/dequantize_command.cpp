// qlinear dequantize IN OUT: expand every quantized NAME.weight back to a float matrix.
#include <cstdio>
#include <optional>
#include <set>
#include <string>

#include "commands.h"
#include "qlinear/io.h"
#include "qlinear/ops.h"
#include "quant_metadata.h"
#include "report.h"

namespace qlinear::cli {
namespace {

struct DequantizeOptions {
  std::string input, output;
  std::optional<int> bits, group_size;
  std::optional<std::string> mode;
};

// The settings: the command line overrides what the file's metadata says.
QuantSpec settings_for(const DequantizeOptions& o, const Metadata& metadata) {
  const std::optional<QuantSpec> stored = read_quant_metadata(metadata, o.input);
  const std::string mode =
      o.mode.value_or(stored ? std::string(mode_name(stored->mode)) : "affine");
  const QuantMode parsed = parse_quant_mode(mode, "dequantize");
  const bool same_mode = stored && stored->mode == parsed;
  return QuantSpec::resolve("dequantize", parsed,
                            o.group_size ? o.group_size
                            : same_mode  ? std::optional(stored->group_size)
                                         : std::nullopt,
                            o.bits      ? o.bits
                            : same_mode ? std::optional(stored->bits)
                                        : std::nullopt);
}

// Names NAME of the quantized layers: a uint32 NAME.weight with a NAME.scales beside it.
std::set<std::string> quantized_layers(const TensorMap& tensors) {
  std::set<std::string> layers;
  for (const auto& [name, tensor] : tensors) {
    if (!name.ends_with(".weight") || tensor.dtype() != Dtype::uint32) continue;
    const std::string base = name.substr(0, name.size() - std::string_view(".weight").size());
    if (tensors.count(base + ".scales") != 0) layers.insert(base);
  }
  return layers;
}

std::optional<Tensor> find(const TensorMap& tensors, const std::string& name) {
  const auto it = tensors.find(name);
  return it == tensors.end() ? std::nullopt : std::optional<Tensor>(it->second);
}

void run(const DequantizeOptions& o) {
  const SafetensorsFile in = load_safetensors(o.input);
  const QuantSpec spec = settings_for(o, in.metadata);
  const std::set<std::string> layers = quantized_layers(in.tensors);
  TensorMap out;
  for (const auto& [name, tensor] : in.tensors) {
    const auto dot = name.rfind('.');
    const std::string suffix = dot == std::string::npos ? "" : name.substr(dot);
    const bool packed_part = suffix == ".weight" || suffix == ".scales" || suffix == ".biases";
    if (!packed_part || layers.count(name.substr(0, dot)) == 0) out.emplace(name, tensor);
  }
  std::printf("%-40s %-16s %12s %12s\n", "tensor", "shape", "before", "after");
  for (const std::string& base : layers) {
    const Tensor& wq = in.tensors.at(base + ".weight");
    const Tensor& scales = in.tensors.at(base + ".scales");
    const std::optional<Tensor> biases = find(in.tensors, base + ".biases");
    Tensor w = dequantize(wq, scales, biases, spec.group_size, spec.bits, mode_name(spec.mode));
    const std::uint64_t before = wq.nbytes() + scales.nbytes() + (biases ? biases->nbytes() : 0);
    std::printf("%-40s %-16s %12s %12s\n", (base + ".weight").c_str(),
                shape_string(w.shape()).c_str(), format_bytes(before).c_str(),
                format_bytes(w.nbytes()).c_str());
    out.emplace(base + ".weight", std::move(w));
  }
  Metadata metadata = in.metadata;
  metadata.erase(kQuantizationKey);
  save_safetensors(o.output, out, metadata);
}

}  // namespace

void add_dequantize_command(CLI::App& app) {
  auto options = std::make_shared<DequantizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "dequantize", "Expand every quantized NAME.weight (with NAME.scales/.biases) to floats");
  cmd->add_option("input", options->input, "input .safetensors file")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("output", options->output, "output .safetensors file")->required();
  cmd->add_option("--bits,-b", options->bits, "override the file's bits");
  cmd->add_option("--group-size,-g", options->group_size, "override the file's group size");
  cmd->add_option("--mode", options->mode, "override the file's mode");
  cmd->callback([options] { run(*options); });
}

}  // namespace qlinear::cli
