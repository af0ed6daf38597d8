// export_gguf: an mlx-lm folder (llama, qwen2, qwen3) as a llama.cpp file. Affine 4/5-bit
// weights of group 32 or 64 become Q4_1 / Q5_1 blocks and symmetric 8-bit ones Q8_0 without
// dequantizing; the rest is written as float.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "formats/packing.h"
#include "io/gguf_types.h"
#include "model/gguf_names.h"
#include "model/text_file.h"
#include "qlinear/convert.h"
#include "qlinear/ops.h"

namespace qlinear {
namespace {

using GgufMetadata = std::vector<std::pair<std::string, GgufValue>>;

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& reason) {
  throw FileError("[convert] " + path.string() + ": " + reason);
}

template <typename T>
GgufValue number(GgufValueType type, Dtype dtype, T value) {
  GgufValue out;
  out.type = type;
  out.numbers = Tensor::copy_of({}, dtype, &value);
  return out;
}
GgufValue uint32_value(std::int64_t v) {
  return number(GgufValueType::uint32, Dtype::uint32, static_cast<std::uint32_t>(v));
}
GgufValue float32_value(double v) {
  return number(GgufValueType::float32, Dtype::float32, static_cast<float>(v));
}
GgufValue string_value(std::string text) {
  GgufValue out;
  out.type = GgufValueType::string;
  out.strings = {std::move(text)};
  return out;
}
GgufValue string_array(std::vector<std::string> texts) {
  GgufValue out;
  out.type = GgufValueType::array;
  out.element_type = GgufValueType::string;
  out.strings = std::move(texts);
  return out;
}
GgufValue int32_array(const std::vector<std::int32_t>& values) {
  GgufValue out;
  out.type = GgufValueType::array;
  out.element_type = GgufValueType::int32;
  out.numbers = Tensor::from_values<std::int32_t>({static_cast<std::int64_t>(values.size())},
                                                  Dtype::int32, values);
  return out;
}

// The architecture's hyperparameters under llama.cpp's keys.
void add_model_metadata(GgufMetadata& out, const nlohmann::json& config, const std::string& arch,
                        const std::string& name) {
  out.emplace_back("general.architecture", string_value(arch));
  out.emplace_back("general.name", string_value(name));
  const auto put_int = [&](const char* key, const char* config_key) {
    if (config.contains(config_key)) {
      out.emplace_back(arch + "." + key, uint32_value(config.at(config_key).get<std::int64_t>()));
    }
  };
  put_int("vocab_size", "vocab_size");
  put_int("context_length", "max_position_embeddings");
  put_int("embedding_length", "hidden_size");
  put_int("feed_forward_length", "intermediate_size");
  put_int("block_count", "num_hidden_layers");
  put_int("attention.head_count", "num_attention_heads");
  put_int("attention.head_count_kv", "num_key_value_heads");
  put_int("attention.key_length", "head_dim");
  put_int("attention.value_length", "head_dim");
  out.emplace_back(arch + ".rope.freq_base", float32_value(config.value("rope_theta", 10000.0)));
  out.emplace_back(arch + ".attention.layer_norm_rms_epsilon",
                   float32_value(config.at("rms_norm_eps").get<double>()));
}

std::optional<std::int64_t> first_id(const nlohmann::json& config, const char* key) {
  if (!config.contains(key) || config.at(key).is_null()) return std::nullopt;
  const nlohmann::json& id = config.at(key);
  return id.is_array() ? id.at(0).get<std::int64_t>() : id.get<std::int64_t>();
}

// A byte-level BPE tokenizer.json as llama.cpp's "gpt2" tokenizer: tokens by id, their
// types (1 normal, 3 control for special added tokens, 4 other added ones) and merges.
// false when the folder has no such tokenizer.
bool add_tokenizer_metadata(GgufMetadata& out, const std::filesystem::path& folder,
                            const nlohmann::json& config) {
  if (!std::filesystem::exists(folder / "tokenizer.json")) return false;
  const auto tokenizer = nlohmann::json::parse(model::read_text_file(folder / "tokenizer.json"));
  const nlohmann::json& model = tokenizer.at("model");
  if (model.value("type", "") != "BPE") return false;
  std::vector<std::string> tokens;
  std::vector<std::int32_t> types;
  const auto place = [&](std::int64_t id, const std::string& text, std::int32_t type) {
    if (id < 0) return;
    if (static_cast<std::size_t>(id) >= tokens.size()) {
      for (std::size_t i = tokens.size(); i <= static_cast<std::size_t>(id); ++i) {
        tokens.push_back("[PAD" + std::to_string(i) + "]");
        types.push_back(5);  // unused
      }
    }
    tokens[id] = text;
    types[id] = type;
  };
  for (const auto& [text, id] : model.at("vocab").items()) place(id.get<std::int64_t>(), text, 1);
  for (const nlohmann::json& added : tokenizer.value("added_tokens", nlohmann::json::array())) {
    place(added.at("id").get<std::int64_t>(), added.at("content").get<std::string>(),
          added.value("special", false) ? 3 : 4);
  }
  std::vector<std::string> merges;
  for (const nlohmann::json& merge : model.value("merges", nlohmann::json::array())) {
    merges.push_back(merge.is_array()
                         ? merge.at(0).get<std::string>() + " " + merge.at(1).get<std::string>()
                         : merge.get<std::string>());
  }
  out.emplace_back("tokenizer.ggml.model", string_value("gpt2"));
  out.emplace_back("tokenizer.ggml.tokens", string_array(std::move(tokens)));
  out.emplace_back("tokenizer.ggml.token_type", int32_array(types));
  out.emplace_back("tokenizer.ggml.merges", string_array(std::move(merges)));
  if (const auto bos = first_id(config, "bos_token_id")) {
    out.emplace_back("tokenizer.ggml.bos_token_id", uint32_value(*bos));
  }
  if (const auto eos = first_id(config, "eos_token_id")) {
    out.emplace_back("tokenizer.ggml.eos_token_id", uint32_value(*eos));
  }
  return true;
}

std::vector<std::uint64_t> gguf_dims(const Shape& shape) {
  return {shape.rbegin(), shape.rend()};
}

std::vector<std::byte> bytes_of(const Tensor& tensor) {
  const auto* p = static_cast<const std::byte*>(tensor.data());
  return {p, p + tensor.nbytes()};
}

// A float tensor as GGUF stores it: vectors (norms, biases) in F32 as llama.cpp wants them,
// matrices in their own float type.
GgufTensorData float_tensor(const std::string& name, const Tensor& tensor) {
  Tensor stored = tensor;
  std::uint32_t type = io::kGgmlF32;
  if (tensor.ndim() == 1 || tensor.dtype() == Dtype::float32) {
    stored = tensor.dtype() == Dtype::float32 ? tensor : tensor.astype(Dtype::float32);
  } else if (tensor.dtype() == Dtype::float16) {
    type = io::kGgmlF16;
  } else if (tensor.dtype() == Dtype::bfloat16) {
    type = io::kGgmlBF16;
  } else {
    throw std::invalid_argument("[convert] tensor '" + name + "' has dtype " +
                                std::string(name_of(tensor.dtype())) +
                                ", which GGUF export does not take");
  }
  return {name, type, gguf_dims(stored.shape()), bytes_of(stored)};
}

struct Affine {
  Tensor weight, scales, biases;  // float32 scales and biases
  int bits = 4, group_size = 64;
};

// Q4_1 / Q5_1 / Q8_0 blocks of 32 values; every block of a group takes the group's scale
// and bias as float16. exact: they are float16s (and Q8_0's bias is -128 scale).
GgufTensorData affine_blocks(const std::string& name, const Affine& a, std::uint32_t type,
                             GgufExportedTensor& report) {
  const io::GgmlType& traits = *io::ggml_type(type);
  const Shape& shape = a.weight.shape();
  const std::int64_t rows = a.weight.size() / shape.back();
  const std::int64_t columns = shape.back() * 32 / a.bits;
  const std::int64_t row_bytes = shape.back() * 4;
  Shape value_shape = shape;
  value_shape.back() = columns;
  std::vector<std::byte> out(static_cast<std::size_t>(rows * columns / 32 * traits.block_bytes));
  const auto* words = static_cast<const std::uint8_t*>(a.weight.data());
  const float* scales = a.scales.data<float>();
  const float* biases = a.biases.data<float>();
  auto* block = reinterpret_cast<std::uint8_t*>(out.data());
  report.exact = true;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t b = 0; b < columns / 32; ++b, block += traits.block_bytes) {
      const std::int64_t group = r * (columns / a.group_size) + b * 32 / a.group_size;
      const std::uint16_t d = float_to_float16_bits(scales[group]);
      const std::uint16_t m = float_to_float16_bits(biases[group]);
      const float d_value = float16_bits_to_float(d);
      const float m_value = type == io::kGgmlQ8_0 ? -128.0f * d_value : float16_bits_to_float(m);
      int codes[32];
      for (int k = 0; k < 32; ++k) {
        codes[k] = static_cast<int>(formats::read_code(words + r * row_bytes, b * 32 + k, a.bits));
        const float mlx = scales[group] * static_cast<float>(codes[k]) + biases[group];
        const float gguf = d_value * static_cast<float>(codes[k]) + m_value;
        if (gguf != mlx) {
          report.exact = false;
          report.max_error = std::max(report.max_error, std::fabs(double(gguf) - double(mlx)));
        }
      }
      std::memcpy(block, &d, 2);
      if (type == io::kGgmlQ8_0) {
        for (int k = 0; k < 32; ++k) block[2 + k] = static_cast<std::uint8_t>(codes[k] ^ 0x80);
        continue;
      }
      std::memcpy(block + 2, &m, 2);
      std::uint8_t* nibbles = block + 4;
      if (type == io::kGgmlQ5_1) {
        std::uint32_t high = 0;
        for (int k = 0; k < 32; ++k) high |= static_cast<std::uint32_t>(codes[k] >> 4) << k;
        std::memcpy(block + 4, &high, 4);
        nibbles += 4;
      }
      for (int k = 0; k < 16; ++k) {
        nibbles[k] = static_cast<std::uint8_t>((codes[k] & 0x0F) | ((codes[16 + k] & 0x0F) << 4));
      }
    }
  }
  return {name, type, gguf_dims(value_shape), std::move(out)};
}

// Other widths, group sizes and modes: MLX's dequantized values rounded to float16.
GgufTensorData dequantized_float16(const std::string& name, const Affine& a, QuantMode mode,
                                   const Tensor& raw_scales,
                                   const std::optional<Tensor>& raw_biases,
                                   GgufExportedTensor& report) {
  const Tensor values = mode == QuantMode::affine
                            ? dequantize(a.weight, a.scales, a.biases, a.group_size, a.bits)
                            : dequantize(a.weight, raw_scales, raw_biases, a.group_size, a.bits,
                                         mode_name(mode), Dtype::float32);
  const Tensor rounded = values.astype(Dtype::float16);
  const std::vector<float> exact = values.to_floats(), near = rounded.to_floats();
  report.exact = true;
  for (std::size_t i = 0; i < exact.size(); ++i) {
    if (near[i] != exact[i]) {
      report.exact = false;
      report.max_error = std::max(report.max_error, std::fabs(double(near[i]) - exact[i]));
    }
  }
  return {name, io::kGgmlF16, gguf_dims(rounded.shape()), bytes_of(rounded)};
}

}  // namespace

std::vector<GgufExportedTensor> export_gguf(const std::filesystem::path& folder,
                                            const std::filesystem::path& output) {
  const std::string config_text = model::read_text_file(folder / "config.json");
  const auto config = nlohmann::json::parse(config_text);
  const std::string arch = config.value("model_type", "");
  if (arch != "llama" && arch != "qwen2" && arch != "qwen3") {
    fail(folder, "model_type '" + arch + "' is not one of llama, qwen2, qwen3");
  }
  if (config.contains("rope_scaling") && !config.at("rope_scaling").is_null()) {
    fail(folder, "rope_scaling is not exported yet");
  }
  const std::optional<QuantizationConfig> quantization = parse_quantization(config_text);
  const TensorMap weights = load_folder_weights(folder);
  const std::int64_t heads = config.at("num_attention_heads").get<std::int64_t>();
  const std::int64_t kv_heads = config.value("num_key_value_heads", heads);

  GgufMetadata metadata;
  add_model_metadata(metadata, config, arch, folder.filename().string());
  add_tokenizer_metadata(metadata, folder, config);

  std::vector<GgufTensorData> tensors;
  std::vector<GgufExportedTensor> report;
  for (const auto& [name, tensor] : weights) {
    const std::size_t dot = name.rfind('.');
    const std::string layer = name.substr(0, dot), suffix = name.substr(dot);
    if (suffix == ".scales" || suffix == ".biases") continue;  // with their weight
    const std::optional<std::string> gguf_layer = model::gguf_layer_name(layer);
    if (!gguf_layer) fail(folder, "tensor '" + name + "' has no llama.cpp counterpart");
    const std::string gguf_name = *gguf_layer + suffix;
    const bool q = layer.ends_with(".q_proj"), k = layer.ends_with(".k_proj");
    const std::string& mlx_name = name;  // lambdas cannot capture a structured binding in clang 14
    const auto llama_order = [&](const Tensor& t) {
      return arch == "llama" && (q || k)
                 ? model::reorder_llama_rows(t, q ? heads : kv_heads, true, mlx_name)
                 : t;
    };
    GgufExportedTensor row;
    row.mlx_name = name;
    row.gguf_name = gguf_name;
    if (suffix != ".weight" || !weights.count(layer + ".scales")) {
      tensors.push_back(float_tensor(gguf_name, llama_order(tensor)));
      row.exact = true;
    } else {
      const std::optional<QuantSpec>* entry = quantization ? quantization->find(layer) : nullptr;
      if (!quantization || (entry && !*entry)) {
        fail(folder, "'" + layer + "' has scales but config.json does not quantize it");
      }
      const QuantSpec spec = entry ? **entry : quantization->defaults;
      const auto biases = weights.find(layer + ".biases");
      const Tensor& raw_scales = weights.at(layer + ".scales");
      Affine a{llama_order(tensor), Tensor(), Tensor(), spec.bits, spec.group_size};
      if (spec.mode == QuantMode::affine) {
        a.scales = llama_order(raw_scales).astype(Dtype::float32);
        a.biases = llama_order(biases->second).astype(Dtype::float32);
      }
      const bool symmetric_8bit = spec.mode == QuantMode::affine && spec.bits == 8 && [&] {
        for (std::int64_t g = 0; g < a.scales.size(); ++g) {
          if (a.biases.data<float>()[g] != -128.0f * a.scales.data<float>()[g]) return false;
        }
        return true;
      }();
      const bool blocks = spec.mode == QuantMode::affine &&
                          (spec.group_size == 32 || spec.group_size == 64) &&
                          (spec.bits == 4 || spec.bits == 5 || symmetric_8bit);
      if (blocks) {
        const std::uint32_t type = spec.bits == 4   ? io::kGgmlQ4_1
                                   : spec.bits == 5 ? io::kGgmlQ5_1
                                                    : io::kGgmlQ8_0;
        tensors.push_back(affine_blocks(gguf_name, a, type, row));
      } else {
        std::optional<Tensor> mx_biases;
        if (biases != weights.end()) mx_biases = llama_order(biases->second);
        tensors.push_back(
            dequantized_float16(gguf_name, a, spec.mode, llama_order(raw_scales), mx_biases, row));
      }
    }
    row.type = ggml_type_name(tensors.back().type);
    report.push_back(std::move(row));
  }
  write_gguf(output, metadata, tensors);
  return report;
}

}  // namespace qlinear
