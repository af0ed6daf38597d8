// load_gguf: the arrays and metadata mx.load of MLX 0.32.4 gives for a GGUF file.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "formats/packing.h"
#include "io/gguf_blocks.h"
#include "io/gguf_types.h"
#include "qlinear/gguf.h"

namespace qlinear {
namespace {

constexpr std::int64_t kBlock = io::AffineBlock::kGroup;  // values per affine group

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& reason) {
  throw FileError("[load_gguf] " + path.string() + ": " + reason);
}

std::uint16_t load_u16(const std::byte* p) {
  std::uint16_t value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

// MLX's shape is GGUF's dims reversed.
Shape mlx_shape(const GgufTensorInfo& info) {
  return {info.dims.rbegin(), info.dims.rend()};
}

// As gguflib's to_half: nearest even, every NaN the canonical quiet one.
std::uint16_t to_float16_bits(float value) {
  if (value != value) return std::bit_cast<std::uint32_t>(value) >> 31 ? 0xFE00u : 0x7E00u;
  return float_to_float16_bits(value);
}

Tensor bfloat16_as_float16(const GgufTensorInfo& info) {
  Tensor out = Tensor::zeros(mlx_shape(info), Dtype::float16);
  auto* bits = out.mutable_data<std::uint16_t>();
  for (std::int64_t i = 0; i < out.size(); ++i) {
    bits[i] = to_float16_bits(bfloat16_bits_to_float(load_u16(info.data + 2 * i)));
  }
  return out;
}

Tensor plain(const GgufTensorInfo& info, Dtype dtype,
             const std::shared_ptr<const std::byte>& mapping) {
  const bool aligned = reinterpret_cast<std::uintptr_t>(info.data) % size_of(dtype) == 0;
  return aligned ? Tensor::view(mlx_shape(info), dtype, info.data, mapping)
                 : Tensor::copy_of(mlx_shape(info), dtype, info.data);
}

bool is_float16(float value) {
  return float16_bits_to_float(float_to_float16_bits(value)) == value;  // false for NaN
}

Tensor float16_from(const Shape& shape, const std::vector<float>& values) {
  Tensor out = Tensor::zeros(shape, Dtype::float16);
  auto* bits = out.mutable_data<std::uint16_t>();
  for (std::size_t i = 0; i < values.size(); ++i) bits[i] = to_float16_bits(values[i]);
  return out;
}

Tensor float32_from(const Shape& shape, const std::vector<float>& values) {
  return Tensor::copy_of(shape, Dtype::float32, values.data());
}

struct AffineTriple {
  Tensor weight, scales, biases;
};

// Blocks of an affine type as MLX's affine group-32 layout. MLX's own mapping (Q4_0,
// Q4_1, Q8_0) keeps the stored float16 scale (and Q4_1's min) bit for bit and rounds
// -8 d and -128 d to float16; with exact, scales and biases are float16 when every one of
// the tensor's is a float16, else float32.
AffineTriple affine_from_blocks(const GgufTensorInfo& info, bool exact, GgufTensorImport& report) {
  const int bits = io::affine_bits(info.type);
  const std::int64_t block_bytes = io::ggml_type(info.type)->block_bytes;
  const std::int64_t groups_per_block = io::ggml_type(info.type)->block_size / kBlock;
  const Shape shape = mlx_shape(info);
  Shape weight_shape = shape;
  weight_shape.back() = shape.back() / kBlock * bits;  // no overflow: a multiple of 32
  Shape group_shape = shape;
  group_shape.back() = shape.back() / kBlock;
  AffineTriple out{Tensor::zeros(weight_shape, Dtype::uint32), {}, {}};
  const std::int64_t groups = Tensor::zeros(group_shape, Dtype::uint8).size();
  std::vector<float> scales(static_cast<std::size_t>(groups));
  std::vector<float> biases(scales.size());
  std::vector<std::uint16_t> stored_scales(exact ? 0 : scales.size());
  std::vector<std::uint16_t> stored_biases(stored_scales.size());
  auto* codes = static_cast<std::uint8_t*>(out.weight.mutable_data());
  io::AffineBlock decoded;
  for (std::int64_t b = 0; b < groups / groups_per_block; ++b) {
    const std::byte* block = info.data + b * block_bytes;
    io::decode_affine_block(info.type, block, decoded);
    for (std::int64_t g = 0; g < groups_per_block; ++g) {
      const auto group = static_cast<std::size_t>(b * groups_per_block + g);
      scales[group] = decoded.scale[g];
      biases[group] = decoded.bias[g];
      for (int i = 0; i < kBlock; ++i)
        formats::write_code(codes, i, bits, decoded.codes[g * kBlock + i]);
      codes += kBlock * bits / 8;
      if (exact) continue;
      stored_scales[group] = load_u16(block);
      stored_biases[group] =
          info.type == io::kGgmlQ4_1 ? load_u16(block + 2) : to_float16_bits(decoded.bias[g]);
    }
  }
  const auto all = [&](bool (*test)(float)) {
    return std::all_of(scales.begin(), scales.end(), test) &&
           std::all_of(biases.begin(), biases.end(), test);
  };
  const bool all_float16 = all(is_float16);
  // An infinite or NaN scale or bias makes scale * code + bias differ from ggml's values.
  const bool finite = all([](float value) { return std::isfinite(value); });
  report.method = GgufImportMethod::affine;
  report.bits = bits;
  report.exact = finite && (exact || all_float16);  // MLX rounds -128 d to float16
  if (!exact) {
    report.dtype = Dtype::float16;
    out.scales = Tensor::copy_of(group_shape, Dtype::float16, stored_scales.data());
    out.biases = Tensor::copy_of(group_shape, Dtype::float16, stored_biases.data());
    return out;
  }
  report.dtype = all_float16 ? Dtype::float16 : Dtype::float32;
  out.scales = all_float16 ? float16_from(group_shape, scales) : float32_from(group_shape, scales);
  out.biases = all_float16 ? float16_from(group_shape, biases) : float32_from(group_shape, biases);
  return out;
}

// The tensor's values as ggml computes them, or as_mlx as MLX 0.32.4 computes them.
std::vector<float> dequantized(const GgufTensorInfo& info, bool as_mlx) {
  const io::GgmlType& type = *io::ggml_type(info.type);
  std::vector<float> values(info.nbytes / type.block_bytes * type.block_size);
  for (std::size_t b = 0; b < values.size() / type.block_size; ++b) {
    const std::byte* block = info.data + b * type.block_bytes;
    float* out = values.data() + b * type.block_size;
    as_mlx ? io::dequantize_block_as_mlx(info.type, block, out)
           : io::dequantize_block(info.type, block, out);
  }
  return values;
}

void insert(TensorMap& tensors, const std::filesystem::path& path, std::string name,
            Tensor tensor) {
  if (tensors.count(name) != 0) {
    fail(path, "two tensors load as '" + name + "' (a quantized tensor's scales or biases?)");
  }
  tensors.emplace(std::move(name), std::move(tensor));
}

// Dtype of the types every reader keeps as stored; nullopt for the others.
std::optional<Dtype> stored_dtype(std::uint32_t type, bool exact) {
  switch (type) {
    case io::kGgmlF32:
      return Dtype::float32;
    case io::kGgmlF16:
      return Dtype::float16;
    case io::kGgmlI8:
      return Dtype::int8;
    case io::kGgmlI16:
      return Dtype::int16;
    case io::kGgmlI32:
      return Dtype::int32;
    case io::kGgmlBF16:
      return exact ? std::optional(Dtype::bfloat16) : std::nullopt;
    case io::kGgmlI64:
      return exact ? std::optional(Dtype::int64) : std::nullopt;
    case io::kGgmlF64:
      return exact ? std::optional(Dtype::float64) : std::nullopt;
    default:
      return std::nullopt;
  }
}

bool mlx_maps_affine(std::uint32_t type) {
  return type == io::kGgmlQ4_0 || type == io::kGgmlQ4_1 || type == io::kGgmlQ8_0;
}

bool mlx_dequantizes(std::uint32_t type) {
  return type == io::kGgmlQ2_K || type == io::kGgmlQ4_K || type == io::kGgmlQ6_K;
}

GgufTensorImport import_tensor(TensorMap& tensors, const GgufFile& file, const GgufTensorInfo& info,
                               const std::filesystem::path& path, bool exact) {
  GgufTensorImport report{info.name, ggml_type_name(info.type)};
  if (const std::optional<Dtype> dtype = stored_dtype(info.type, exact)) {
    report.dtype = *dtype;
    insert(tensors, path, info.name, plain(info, *dtype, file.mapping));
    return report;
  }
  if (info.type == io::kGgmlBF16) {
    Tensor converted = bfloat16_as_float16(info);
    report.method = GgufImportMethod::float16;
    report.dtype = Dtype::float16;
    for (std::int64_t i = 0; i < converted.size() && report.exact; ++i) {
      const float original = bfloat16_bits_to_float(load_u16(info.data + 2 * i));
      report.exact = float16_bits_to_float(converted.data<std::uint16_t>()[i]) == original;
    }
    insert(tensors, path, info.name, std::move(converted));
    return report;
  }
  const bool affine = exact ? io::affine_bits(info.type) > 0 : mlx_maps_affine(info.type);
  const bool dequantize = exact ? io::can_dequantize(info.type) : mlx_dequantizes(info.type);
  if (!affine && !dequantize) {
    fail(path,
         "tensor '" + info.name + "' has type " + ggml_type_name(info.type) +
             (exact ? ", which qlinear cannot load yet" : ", which MLX 0.32.4 cannot load either"));
  }
  if (info.dims.empty()) fail(path, "quantized tensor '" + info.name + "' has no dimensions");
  if (affine) {
    AffineTriple triple = affine_from_blocks(info, exact, report);
    // MLX drops the last 7 characters (".weight") whatever they are.
    const std::string prefix =
        info.name.size() >= 7 ? info.name.substr(0, info.name.size() - 7) : info.name;
    insert(tensors, path, info.name, std::move(triple.weight));
    insert(tensors, path, prefix + ".scales", std::move(triple.scales));
    insert(tensors, path, prefix + ".biases", std::move(triple.biases));
    return report;
  }
  const std::vector<float> values = dequantized(info, false);
  if (exact) {
    report.method = GgufImportMethod::dequantized;
    insert(tensors, path, info.name, float32_from(mlx_shape(info), values));
    return report;
  }
  Tensor converted = float16_from(mlx_shape(info), dequantized(info, true));
  report.method = GgufImportMethod::float16;
  report.dtype = Dtype::float16;
  for (std::size_t i = 0; i < values.size() && report.exact; ++i) {
    report.exact = float16_bits_to_float(converted.data<std::uint16_t>()[i]) == values[i];
  }
  insert(tensors, path, info.name, std::move(converted));
  return report;
}

GgufMetadataValue import_value(const GgufValue& value, const std::string& key,
                               const std::filesystem::path& path) {
  if (value.type == GgufValueType::string) return value.strings.front();
  if (value.type == GgufValueType::array && value.element_type == GgufValueType::string) {
    return value.strings;
  }
  if (value.type == GgufValueType::array && value.element_type == GgufValueType::array) {
    fail(path, "metadata '" + key + "': only 1 level of arrays is supported, as in MLX");
  }
  if (value.numbers.dtype() != Dtype::float64) return value.numbers;
  // MLX keeps float64 values as float32.
  Tensor narrowed = Tensor::zeros(value.numbers.shape(), Dtype::float32);
  for (std::int64_t i = 0; i < narrowed.size(); ++i) {
    narrowed.mutable_data<float>()[i] = static_cast<float>(value.numbers.data<double>()[i]);
  }
  return narrowed;
}

}  // namespace

std::string_view gguf_import_method_name(GgufImportMethod method) {
  constexpr std::string_view kNames[] = {"stored", "float16", "affine", "dequantized"};
  return kNames[static_cast<int>(method)];
}

GgufLoad load_gguf(const std::filesystem::path& path, const GgufLoadOptions& options) {
  const GgufFile file = read_gguf(path);
  GgufLoad result;
  for (const auto& [key, value] : file.metadata) {
    result.metadata.emplace(key, import_value(value, key, path));
  }
  for (const GgufTensorInfo& info : file.tensors) {
    result.report.push_back(import_tensor(result.tensors, file, info, path, options.exact));
  }
  return result;
}

}  // namespace qlinear
