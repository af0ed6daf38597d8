// qlinear quantize IN OUT: quantize every eligible ".weight" tensor of a safetensors file.
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "commands.h"
#include "qlinear/io.h"
#include "qlinear/ops.h"
#include "quant_metadata.h"
#include "report.h"

namespace qlinear::cli {
namespace {

struct QuantizeOptions {
  std::string input, output;
  std::optional<int> bits, group_size;  // default: the mode's
  std::string mode = "affine";
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A float32/float16/bfloat16 matrix stored under NAME.weight.
bool is_weight_matrix(const std::string& name, const Tensor& t) {
  const Dtype d = t.dtype();
  return ends_with(name, ".weight") &&
         (d == Dtype::float32 || d == Dtype::float16 || d == Dtype::bfloat16) && t.ndim() >= 2;
}

void run(const QuantizeOptions& o) {
  const QuantSpec spec =
      QuantSpec::resolve("quantize", parse_quant_mode(o.mode, "quantize"), o.group_size, o.bits);
  const SafetensorsFile in = load_safetensors(o.input);
  TensorMap out;
  auto add = [&](const std::string& name, Tensor t) {
    if (!out.emplace(name, std::move(t)).second) {
      throw std::invalid_argument("[quantize] " + o.input + ": output tensor " + name +
                                  " would be written twice (the input already has it)");
    }
  };
  std::printf("%-40s %-16s %4s %12s %12s %10s\n", "tensor", "shape", "bits", "before", "after",
              "rel. RMS");
  std::uint64_t before_total = 0, after_total = 0, quantized_weights = 0, quantized_bytes = 0;
  for (const auto& [name, tensor] : in.tensors) {
    before_total += tensor.nbytes();
    const bool weight_matrix = is_weight_matrix(name, tensor);
    if (!weight_matrix || tensor.dim(-1) % spec.group_size != 0) {
      if (weight_matrix) {
        std::printf("%-40s %-16s kept as %s: last dim not divisible by group size %d\n",
                    name.c_str(), shape_string(tensor.shape()).c_str(),
                    std::string(name_of(tensor.dtype())).c_str(), spec.group_size);
      }
      after_total += tensor.nbytes();
      add(name, tensor);
      continue;
    }
    const std::string base = name.substr(0, name.size() - std::string(".weight").size());
    Quantized q = quantize(tensor, spec.group_size, spec.bits, o.mode);
    const Tensor w_hat =
        dequantize(q.wq, q.scales, q.biases, spec.group_size, spec.bits, o.mode, tensor.dtype());
    std::uint64_t after = q.wq.nbytes() + q.scales.nbytes() + (q.biases ? q.biases->nbytes() : 0);
    std::printf("%-40s %-16s %4d %12s %12s %10.3e\n", name.c_str(),
                shape_string(tensor.shape()).c_str(), spec.bits,
                format_bytes(tensor.nbytes()).c_str(), format_bytes(after).c_str(),
                relative_rms_error(tensor, w_hat));
    after_total += after;
    quantized_bytes += after;
    quantized_weights += static_cast<std::uint64_t>(tensor.size());
    add(base + ".weight", std::move(q.wq));
    add(base + ".scales", std::move(q.scales));
    if (q.biases) add(base + ".biases", std::move(*q.biases));
  }
  Metadata metadata = in.metadata;
  metadata["format"] = "mlx";
  write_quant_metadata(metadata, spec);
  save_safetensors(o.output, out, metadata);
  std::printf("total: %s -> %s", format_bytes(before_total).c_str(),
              format_bytes(after_total).c_str());
  if (quantized_weights > 0) {
    std::printf(", %.3f bits per quantized weight", 8.0 * static_cast<double>(quantized_bytes) /
                                                        static_cast<double>(quantized_weights));
  }
  std::printf("\n");
}

}  // namespace

void add_quantize_command(CLI::App& app) {
  auto options = std::make_shared<QuantizeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "quantize", "Quantize every float NAME.weight matrix of a safetensors file (MLX layout)");
  cmd->add_option("input", options->input, "input .safetensors file")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("output", options->output, "output .safetensors file")->required();
  cmd->add_option("--bits,-b", options->bits, "bits per weight: " + describe_mode_choices(true));
  cmd->add_option("--group-size,-g", options->group_size,
                  "weights per scale: " + describe_mode_choices(false));
  cmd->add_option("--mode", options->mode, "quantization mode")
      ->check(CLI::IsMember(quant_mode_names()))
      ->capture_default_str();
  cmd->callback([options] { run(*options); });
}

}  // namespace qlinear::cli
