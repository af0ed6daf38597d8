// plan_conversion: every decision of a conversion, made from config.json and the weight
// headers before any tensor data is read.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "model/text_file.h"
#include "qlinear/convert.h"

namespace qlinear {
namespace {

constexpr std::string_view kOp = "convert";

[[noreturn]] void fail(const std::string& message) {
  throw std::invalid_argument("[" + std::string(kOp) + "] " + message);
}

std::uint64_t bytes_of(const Shape& shape, Dtype dtype) {
  return static_cast<std::uint64_t>(element_count(shape)) * size_of(dtype);
}

// --dtype, else config.json's torch_dtype (or text_config.dtype), as mlx-lm picks it.
std::optional<Dtype> conversion_dtype(const std::string& config_text,
                                      std::optional<Dtype> requested) {
  if (requested) return requested;
  const auto config = nlohmann::json::parse(config_text);
  std::string name;
  if (config.contains("torch_dtype") && config["torch_dtype"].is_string()) {
    name = config["torch_dtype"];
  } else if (config.contains("text_config") && config["text_config"].contains("dtype") &&
             config["text_config"]["dtype"].is_string()) {
    name = config["text_config"]["dtype"];
  }
  for (Dtype dtype : {Dtype::float16, Dtype::bfloat16, Dtype::float32}) {
    if (name == name_of(dtype)) return dtype;
  }
  return std::nullopt;
}

std::string layer_of(const std::string& name, std::string_view suffix) {
  return name.ends_with(suffix) ? name.substr(0, name.size() - suffix.size()) : std::string();
}

bool is_weight_file(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  return name == "model.safetensors.index.json" ||
         (name.starts_with("model") && path.extension() == ".safetensors");
}

// The outputs of quantizing a (..., N, K) weight of dtype `dtype` with `spec`.
std::vector<TensorInfo> quantized_outputs(const std::string& path, const Shape& shape, Dtype dtype,
                                          const QuantSpec& spec) {
  const std::int64_t K = shape.back();
  const auto with_last = [&](std::int64_t last) {
    Shape out(shape.begin(), shape.end() - 1);
    out.push_back(last);
    return out;
  };
  const Dtype scale_dtype = spec.traits().scale_dtype(dtype);
  std::vector<TensorInfo> out{{path + ".weight", Dtype::uint32, with_last(spec.packed_words(K))},
                              {path + ".scales", scale_dtype, with_last(spec.groups(K))}};
  if (spec.traits().has_biases())
    out.push_back({path + ".biases", scale_dtype, with_last(spec.groups(K))});
  return out;
}

// What dequantize gives by default: the scales' dtype (affine) or bfloat16 (float modes,
// whose scales are uint8), as in MLX.
Dtype dequantized_dtype(const Tensor& scales) {
  return is_floating(scales.dtype()) ? scales.dtype() : Dtype::bfloat16;
}

std::size_t alignment_of(const ConvertStep& step) {
  std::size_t widest = 1;
  for (const TensorInfo& info : step.outputs) widest = std::max(widest, size_of(info.dtype));
  return widest;
}

}  // namespace

double ConversionPlan::bits_per_weight() const {
  return parameters ? static_cast<double>(output_bytes) * 8.0 / static_cast<double>(parameters)
                    : 0.0;
}

ConversionPlan plan_conversion(const std::filesystem::path& input, const ConvertOptions& options) {
  if (options.quantize && options.dequantize)
    fail("Choose either quantize or dequantize, not both.");
  if (options.recipe && !options.quantize) fail("--quant-predicate needs -q/--quantize.");
  if (options.recipe && options.mode != QuantMode::affine) {
    fail("Quant predicates only support 'affine' quantization.");
  }
  ConversionPlan plan;
  plan.input = input;
  plan.options = options;
  const auto config_path = input / "config.json";
  const std::string config_text = model::read_text_file(config_path);
  const auto input_quantization = parse_quantization(config_text, config_path.string());
  if (options.quantize && input_quantization) {
    fail(input.string() + " is already quantized; dequantize it first (-d).");
  }
  plan.dtype = conversion_dtype(config_text, options.dtype);
  const TensorMap weights = load_folder_weights(input);

  // Layers: float 2-D weights and 3-D expert stacks, and quantized ones with their scales.
  std::map<std::string, std::size_t> layer_index;
  for (const auto& [name, tensor] : weights) {
    const std::string path = layer_of(name, ".weight");
    if (path.empty() || !(tensor.ndim() == 2 || (tensor.ndim() == 3 && is_expert_layer(path)))) {
      continue;
    }
    LayerPlan layer;
    layer.path = path;
    layer.shape = tensor.shape();
    layer.float_dtype = tensor.dtype();
    if (weights.contains(path + ".scales")) {
      const std::optional<QuantSpec>* entry =
          input_quantization ? input_quantization->find(path) : nullptr;
      if (!input_quantization || (entry && !*entry)) {
        throw FileError(config_path.string() + " does not say how " + path + " is quantized");
      }
      layer.input_spec = entry ? **entry : input_quantization->defaults;
      layer.float_dtype = dequantized_dtype(weights.at(path + ".scales"));
      layer.shape.back() = layer.input_spec->codes_in(tensor.dim(-1));
      if (!options.dequantize) layer.output_spec = layer.input_spec;
    } else if (!is_floating(tensor.dtype())) {
      continue;
    }
    layer_index.emplace(path, plan.layers.size());
    plan.layers.push_back(std::move(layer));
  }

  if (options.quantize) {
    const QuantSpec call = QuantSpec::resolve(kOp, options.mode, options.group_size, options.bits);
    QuantizationConfig config{call, {}};
    Recipe recipe;
    if (options.recipe) {
      std::vector<std::string> paths;
      for (const LayerPlan& layer : plan.layers) paths.push_back(layer.path);
      recipe = mixed_recipe(*options.recipe, paths, call.group_size);
    }
    // Without a recipe, mlx-lm applies the model's own quant_predicate (routers at 8 bits).
    const ModelQuantRule model_rule = recipe ? ModelQuantRule{} : model_quant_rule(config_text);
    for (LayerPlan& layer : plan.layers) {
      const std::int64_t K = layer.shape.back();
      const std::optional<QuantSpec> special = model_rule ? model_rule(layer.path) : std::nullopt;
      const QuantSpec spec = recipe ? recipe(layer.path) : special.value_or(call);
      const int group_size = K % call.group_size != 0 ? call.group_size : spec.group_size;
      if (K % group_size != 0) {
        layer.skipped = "input dims " + std::to_string(K) + " not divisible by group size " +
                        std::to_string(group_size);
        continue;
      }
      layer.output_spec = spec;
      if (recipe || special) config.layers.emplace_back(layer.path, layer.output_spec);
    }
    plan.quantization = std::move(config);
  } else if (!options.dequantize) {
    plan.quantization = input_quantization;
  }
  plan.config = with_quantization(config_text, plan.quantization);

  // Steps, one per input tensor that produces output, in name order.
  std::vector<ConvertStep> steps;
  for (const auto& [name, tensor] : weights) {
    plan.input_bytes += tensor.nbytes();
    ConvertStep step;
    step.source = name;
    step.input_bytes = tensor.nbytes();
    // (name captured explicitly: clang before 16 cannot capture a structured binding)
    const auto layer_at = [&, &name = name](std::string_view suffix) -> LayerPlan* {
      const auto found = layer_index.find(layer_of(name, suffix));
      return found == layer_index.end() ? nullptr : &plan.layers[found->second];
    };
    LayerPlan* layer = layer_at(".weight");
    if (const LayerPlan* owner = layer_at(".scales") ? layer_at(".scales") : layer_at(".biases");
        owner && owner->input_spec && !owner->output_spec) {
      continue;  // consumed by its layer's dequantize step
    }
    const Dtype dtype = plan.dtype && is_floating(tensor.dtype()) ? *plan.dtype : tensor.dtype();
    if (layer && !layer->input_spec && layer->output_spec) {
      step.kind = ConvertStep::Kind::quantize;
      step.outputs = quantized_outputs(layer->path, layer->shape, dtype, *layer->output_spec);
    } else if (layer && layer->input_spec && !layer->output_spec) {
      step.kind = ConvertStep::Kind::dequantize;
      const Tensor& scales = weights.at(layer->path + ".scales");
      const Dtype out = plan.dtype.value_or(dequantized_dtype(scales));
      step.outputs = {{name, out, layer->shape}};
      step.input_bytes += scales.nbytes();
      if (weights.contains(layer->path + ".biases")) {
        step.input_bytes += weights.at(layer->path + ".biases").nbytes();
      }
    } else {
      step.kind = dtype == tensor.dtype() ? ConvertStep::Kind::copy : ConvertStep::Kind::cast;
      step.outputs = {{name, dtype, tensor.shape()}};
    }
    if (layer) step.layer = static_cast<std::size_t>(layer - plan.layers.data());
    steps.push_back(std::move(step));
  }

  // Bytes and parameters (a quantized weight counts its float elements; scales and
  // biases none, as mlx-lm counts them).
  for (const ConvertStep& step : steps) {
    for (const TensorInfo& info : step.outputs) {
      const std::uint64_t bytes = bytes_of(info.shape, info.dtype);
      plan.output_bytes += bytes;
      const std::string path = info.name.substr(0, info.name.rfind('.'));
      const auto found = layer_index.find(path);
      LayerPlan* layer = found == layer_index.end() ? nullptr : &plan.layers[found->second];
      if (layer) layer->output_bytes += bytes;
      if (!layer || !layer->output_spec) {
        plan.parameters += static_cast<std::uint64_t>(element_count(info.shape));
      } else if (info.name.ends_with(".weight")) {
        plan.parameters += static_cast<std::uint64_t>(element_count(layer->shape));
      } else if (info.name.ends_with(".bias")) {
        plan.parameters += static_cast<std::uint64_t>(element_count(info.shape));
      }
    }
    if (step.kind == ConvertStep::Kind::quantize || step.kind == ConvertStep::Kind::dequantize) {
      plan.layers[step.layer].input_bytes += step.input_bytes;
    } else if (const auto found = layer_index.find(step.source.substr(0, step.source.rfind('.')));
               found != layer_index.end()) {
      plan.layers[found->second].input_bytes += step.input_bytes;
    }
  }

  // Shards as mlx-lm cuts them; inside each, the widest elements first so that every
  // tensor stays aligned (a quantized layer's weight, scales and biases together always
  // fill a multiple of 4 bytes).
  std::uint64_t shard_bytes = 0;
  plan.shards.emplace_back();
  for (ConvertStep& step : steps) {
    std::uint64_t bytes = 0;
    for (const TensorInfo& info : step.outputs) bytes += bytes_of(info.shape, info.dtype);
    if (!plan.shards.back().empty() && shard_bytes + bytes > options.max_shard_bytes) {
      plan.shards.emplace_back();
      shard_bytes = 0;
    }
    plan.shards.back().push_back(std::move(step));
    shard_bytes += bytes;
  }
  for (auto& shard : plan.shards) {
    std::stable_sort(shard.begin(), shard.end(), [](const ConvertStep& a, const ConvertStep& b) {
      return alignment_of(a) > alignment_of(b);
    });
  }

  for (const auto& entry : std::filesystem::directory_iterator(input)) {
    if (entry.is_regular_file() && entry.path().filename() != "config.json" &&
        !is_weight_file(entry.path())) {
      plan.other_files.push_back(entry.path());
    }
  }
  std::sort(plan.other_files.begin(), plan.other_files.end());
  return plan;
}

}  // namespace qlinear
