// load_gguf: the arrays and metadata mx.load of MLX 0.32.4 gives for a GGUF file.
#include <cstring>
#include <string>

#include "io/gguf_types.h"
#include "qlinear/gguf.h"

namespace qlinear {
namespace {

constexpr std::int64_t kBlock = 32;  // values per Q4_0 / Q4_1 / Q8_0 block

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

struct AffineTriple {
  Tensor weight, scales, biases;
};

// Q4_0 / Q4_1 / Q8_0 blocks as MLX's affine group-32 layout. A 4-bit block stores value
// k < 16 in the low nibble of byte k and value 16 + k in its high nibble; MLX packs value
// i into nibble i % 2 of byte i / 2.
AffineTriple affine_from_blocks(const GgufTensorInfo& info, std::uint32_t type) {
  const int bits = type == io::kGgmlQ8_0 ? 8 : 4;
  const std::size_t block_bytes = io::ggml_type(type)->block_bytes;
  const std::size_t header = type == io::kGgmlQ4_1 ? 4 : 2;
  Shape shape = mlx_shape(info);
  Shape weight_shape = shape;
  weight_shape.back() = shape.back() / 32 * bits;  // no overflow: a multiple of 32
  Shape group_shape = shape;
  group_shape.back() = shape.back() / kBlock;
  AffineTriple out{Tensor::zeros(weight_shape, Dtype::uint32),
                   Tensor::zeros(group_shape, Dtype::float16),
                   Tensor::zeros(group_shape, Dtype::float16)};
  auto* codes = static_cast<std::uint8_t*>(out.weight.mutable_data());
  auto* scales = out.scales.mutable_data<std::uint16_t>();
  auto* biases = out.biases.mutable_data<std::uint16_t>();
  for (std::int64_t b = 0; b < out.scales.size(); ++b) {
    const std::byte* block = info.data + b * block_bytes;
    const auto* q = reinterpret_cast<const std::uint8_t*>(block + header);
    const std::uint16_t scale = load_u16(block);
    const float scale_value = float16_bits_to_float(scale);
    scales[b] = scale;
    if (type == io::kGgmlQ8_0) {
      biases[b] = to_float16_bits(-128.0f * scale_value);
      for (int k = 0; k < kBlock; ++k) codes[k] = q[k] ^ 0x80u;  // int8 + 128
      codes += kBlock;
      continue;
    }
    biases[b] = type == io::kGgmlQ4_1 ? load_u16(block + 2) : to_float16_bits(-8.0f * scale_value);
    for (int k = 0; k < 8; ++k) {
      codes[k] = (q[2 * k] & 0x0Fu) | static_cast<std::uint8_t>((q[2 * k + 1] & 0x0Fu) << 4);
      codes[8 + k] = (q[2 * k] >> 4) | static_cast<std::uint8_t>(q[2 * k + 1] & 0xF0u);
    }
    codes += kBlock / 2;
  }
  return out;
}

void insert(TensorMap& tensors, const std::filesystem::path& path, std::string name,
            Tensor tensor) {
  if (tensors.count(name) != 0) {
    fail(path, "two tensors load as '" + name + "' (a quantized tensor's scales or biases?)");
  }
  tensors.emplace(std::move(name), std::move(tensor));
}

void import_tensor(TensorMap& tensors, const GgufFile& file, const GgufTensorInfo& info,
                   const std::filesystem::path& path) {
  switch (info.type) {
    case io::kGgmlF32:
      return insert(tensors, path, info.name, plain(info, Dtype::float32, file.mapping));
    case io::kGgmlF16:
      return insert(tensors, path, info.name, plain(info, Dtype::float16, file.mapping));
    case io::kGgmlI8:
      return insert(tensors, path, info.name, plain(info, Dtype::int8, file.mapping));
    case io::kGgmlI16:
      return insert(tensors, path, info.name, plain(info, Dtype::int16, file.mapping));
    case io::kGgmlI32:
      return insert(tensors, path, info.name, plain(info, Dtype::int32, file.mapping));
    case io::kGgmlBF16:
      return insert(tensors, path, info.name, bfloat16_as_float16(info));
    case io::kGgmlQ4_0:
    case io::kGgmlQ4_1:
    case io::kGgmlQ8_0: {
      if (info.dims.empty()) fail(path, "quantized tensor '" + info.name + "' has no dimensions");
      AffineTriple triple = affine_from_blocks(info, info.type);
      // MLX drops the last 7 characters (".weight") whatever they are.
      const std::string prefix =
          info.name.size() >= 7 ? info.name.substr(0, info.name.size() - 7) : info.name;
      insert(tensors, path, info.name, std::move(triple.weight));
      insert(tensors, path, prefix + ".scales", std::move(triple.scales));
      return insert(tensors, path, prefix + ".biases", std::move(triple.biases));
    }
    case io::kGgmlQ2_K:
    case io::kGgmlQ4_K:
    case io::kGgmlQ6_K:
      fail(path, "tensor '" + info.name + "' has type " + ggml_type_name(info.type) +
                     ", which MLX dequantizes to float16; qlinear does not load it yet");
    default:
      fail(path, "tensor '" + info.name + "' has type " + ggml_type_name(info.type) +
                     ", which MLX 0.32.4 cannot load either");
  }
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

GgufLoad load_gguf(const std::filesystem::path& path) {
  const GgufFile file = read_gguf(path);
  GgufLoad result;
  for (const auto& [key, value] : file.metadata) {
    result.metadata.emplace(key, import_value(value, key, path));
  }
  for (const GgufTensorInfo& info : file.tensors) import_tensor(result.tensors, file, info, path);
  return result;
}

}  // namespace qlinear
