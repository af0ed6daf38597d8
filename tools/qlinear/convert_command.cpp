// qlinear convert IN_DIR OUT_DIR: mlx_lm.convert for model folders, tensor by tensor.
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>

#include "commands.h"
#include "progress_bar.h"
#include "python_module.h"
#include "qlinear/convert.h"
#include "quant_metadata.h"
#include "report.h"

namespace qlinear::cli {
namespace {

struct ConvertArgs {
  std::string input, output;
  ConvertOptions options;
  std::string mode = "affine";
  std::string recipe;
  std::string dtype;
};

std::string settings_text(const std::optional<QuantSpec>& spec, Dtype float_dtype) {
  if (!spec) return std::string(name_of(float_dtype));
  return std::string(mode_name(spec->mode)) + " " + std::to_string(spec->bits) + "-bit g" +
         std::to_string(spec->group_size);
}

void print_plan(const ConversionPlan& plan) {
  std::printf("%-44s %-14s %-18s %-18s %11s %11s\n", "layer", "shape", "from", "to", "bytes in",
              "bytes out");
  for (const LayerPlan& layer : plan.layers) {
    const std::string to =
        !layer.skipped.empty()
            ? "kept (see below)"
            : settings_text(layer.output_spec, plan.dtype.value_or(layer.float_dtype));
    std::printf("%-44s %-14s %-18s %-18s %11s %11s\n", layer.path.c_str(),
                shape_string(layer.shape).c_str(),
                settings_text(layer.input_spec, layer.float_dtype).c_str(), to.c_str(),
                format_bytes(layer.input_bytes).c_str(), format_bytes(layer.output_bytes).c_str());
  }
  for (const LayerPlan& layer : plan.layers) {
    if (!layer.skipped.empty()) {
      std::printf("[INFO] Not quantizing %s: %s.\n", layer.path.c_str(), layer.skipped.c_str());
    }
  }
}

void print_errors(const ConversionPlan& plan) {
  std::printf("%-44s %5s %12s\n", "layer", "bits", "rel. error");
  for (const LayerPlan& layer : plan.layers) {
    if (layer.relative_error) {
      std::printf("%-44s %5d %12.4e\n", layer.path.c_str(), layer.output_spec->bits,
                  *layer.relative_error);
    }
  }
}

void print_summary(const ConversionPlan& plan, const std::string& output) {
  std::map<int, int> layers_by_bits;
  for (const LayerPlan& layer : plan.layers) {
    if (layer.output_spec) ++layers_by_bits[layer.output_spec->bits];
  }
  std::string mix;
  for (const auto& [bits, count] : layers_by_bits) {
    mix +=
        (mix.empty() ? "" : ", ") + std::to_string(count) + " at " + std::to_string(bits) + " bits";
  }
  std::printf("[INFO] Wrote %s: %zu file(s), %s -> %s (%.3f bits per weight)%s%s\n", output.c_str(),
              plan.shards.size(), format_bytes(plan.input_bytes).c_str(),
              format_bytes(plan.output_bytes).c_str(), plan.bits_per_weight(),
              mix.empty() ? "" : "; quantized layers: ", mix.c_str());
}

void print_gguf_report(const std::vector<GgufConvertedTensor>& tensors) {
  std::printf("%-48s %-26s %-6s %-12s %-32s %s\n", "tensor", "from", "type", "method", "as",
              "exact");
  for (const GgufConvertedTensor& tensor : tensors) {
    const GgufTensorImport& import = tensor.import;
    std::string as = std::string(name_of(import.dtype));
    if (import.method == GgufImportMethod::affine) {
      as = "affine " + std::to_string(import.bits) + "-bit g32, " + as + " scales";
    }
    std::printf("%-48s %-26s %-6s %-12s %-32s %s\n", tensor.mlx_name.c_str(), import.name.c_str(),
                import.type.c_str(), std::string(gguf_import_method_name(import.method)).c_str(),
                as.c_str(), import.exact ? "yes" : "no");
  }
}

// The tokenizer, as Hugging Face transformers reads it from the GGUF file, when the
// Python side can: the folder is complete without it.
void write_gguf_tokenizer(const std::string& input, const std::filesystem::path& folder) {
  const ModuleOutput run = run_python_module(python_interpreter(), "qlinear.lm.gguf_tokenizer",
                                             {input, folder.string()});
  if (run.status != 0) {
    std::printf(
        "[WARN] No tokenizer written: %s could not read the GGUF tokenizer with "
        "transformers (its error is above).\n",
        python_interpreter());
  }
}

void run_gguf(const ConvertArgs& args) {
  std::printf("[INFO] Loading %s\n", args.input.c_str());
  std::fflush(stdout);
  const auto tensors = convert_gguf(
      args.input, args.output,
      [&](const std::filesystem::path& folder) { write_gguf_tokenizer(args.input, folder); });
  print_gguf_report(tensors);
  const auto exact = std::count_if(tensors.begin(), tensors.end(),
                                   [](const GgufConvertedTensor& t) { return t.import.exact; });
  std::printf("[INFO] Wrote %s: %zu tensors, %td exact\n", args.output.c_str(), tensors.size(),
              exact);
}

void export_to_gguf(const ConvertArgs& args) {
  std::printf("[INFO] Loading %s\n", args.input.c_str());
  const std::vector<GgufExportedTensor> tensors = export_gguf(args.input, args.output);
  std::printf("%-48s %-26s %-6s %-6s %s\n", "tensor", "as", "type", "exact", "max error");
  std::size_t exact = 0;
  for (const GgufExportedTensor& tensor : tensors) {
    exact += tensor.exact;
    std::printf("%-48s %-26s %-6s %-6s %.3g\n", tensor.mlx_name.c_str(), tensor.gguf_name.c_str(),
                tensor.type.c_str(), tensor.exact ? "yes" : "no", tensor.max_error);
  }
  std::printf("[INFO] Wrote %s: %zu tensors, %zu exact\n", args.output.c_str(), tensors.size(),
              exact);
}

void run(ConvertArgs& args) {
  if (std::filesystem::path(args.input).extension() == ".gguf") return run_gguf(args);
  if (std::filesystem::path(args.output).extension() == ".gguf") return export_to_gguf(args);
  ConvertOptions& options = args.options;
  options.mode = parse_quant_mode(args.mode, "convert");
  if (!args.recipe.empty()) options.recipe = args.recipe;
  for (Dtype dtype : {Dtype::float16, Dtype::bfloat16, Dtype::float32}) {
    if (args.dtype == name_of(dtype)) options.dtype = dtype;
  }
  std::printf("[INFO] Loading %s\n", args.input.c_str());
  const ConversionPlan plan = plan_conversion(args.input, options);
  if (plan.dtype)
    std::printf("[INFO] Using dtype: %s\n", std::string(name_of(*plan.dtype)).c_str());
  print_plan(plan);
  std::fflush(stdout);
  ConversionPlan done;
  {
    ProgressBar bar;
    done = run_conversion(plan, args.output,
                          [&](const ConvertProgress& progress) { bar.update(progress); });
  }
  if (options.measure_error) print_errors(done);
  print_summary(done, args.output);
}

}  // namespace

void add_convert_command(CLI::App& app) {
  auto args = std::make_shared<ConvertArgs>();
  CLI::App* command = app.add_subcommand(
      "convert",
      "Convert a model folder (config.json + safetensors) as mlx_lm.convert does: quantize, "
      "dequantize or cast, tensor by tensor, into a new folder; or a llama.cpp MODEL.gguf "
      "(llama, qwen2, qwen3) into an mlx-lm folder without loss, or such a folder into OUT.gguf "
      "(Q4_1/Q5_1/Q8_0 blocks without loss where they can hold it); the other options do not "
      "apply to GGUF");
  command->add_option("IN_DIR", args->input, "Model folder (or .gguf file) to read")
      ->required()
      ->check(CLI::ExistingPath);
  command->add_option("OUT_DIR", args->output, "Folder to create (must not exist), or OUT.gguf")
      ->required();
  command->add_flag("-q,--quantize", args->options.quantize, "Generate a quantized model");
  command->add_option("--q-bits", args->options.bits, "Bits per weight (default: the mode's)");
  command->add_option("--q-group-size", args->options.group_size,
                      "Group size (default: the mode's; 64 for affine)");
  command->add_option("--q-mode", args->mode, "Quantization mode")
      ->check(CLI::IsMember(quant_mode_names()));
  command->add_option("--quant-predicate", args->recipe, "Mixed-bit quantization recipe")
      ->check(CLI::IsMember(recipe_names()));
  command
      ->add_option("--dtype", args->dtype,
                   "Type for the float weights (default: config.json's torch_dtype)")
      ->check(CLI::IsMember({"float16", "bfloat16", "float32"}));
  command->add_flag("-d,--dequantize", args->options.dequantize, "Dequantize a quantized model");
  command->add_flag("--report", args->options.measure_error,
                    "Measure each quantized layer's relative error");
  command->callback([args] { run(*args); });
}

}  // namespace qlinear::cli
