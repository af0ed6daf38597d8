#include "io/dtype_names.h"

#include <array>
#include <stdexcept>
#include <utility>

namespace qlinear::io {
namespace {

constexpr std::array<std::pair<Dtype, std::string_view>, 16> kNames = {{
    {Dtype::float64, "F64"},
    {Dtype::float32, "F32"},
    {Dtype::float16, "F16"},
    {Dtype::bfloat16, "BF16"},
    {Dtype::int64, "I64"},
    {Dtype::int32, "I32"},
    {Dtype::int16, "I16"},
    {Dtype::int8, "I8"},
    {Dtype::uint64, "U64"},
    {Dtype::uint32, "U32"},
    {Dtype::uint16, "U16"},
    {Dtype::uint8, "U8"},
    {Dtype::bool_, "BOOL"},
    {Dtype::float8_e4m3, "F8_E4M3"},
    {Dtype::float8_e5m2, "F8_E5M2"},
    {Dtype::float8_e8m0, "F8_E8M0"},
}};

}  // namespace

std::string_view safetensors_name(Dtype dtype) {
  for (const auto& [d, name] : kNames) {
    if (d == dtype) return name;
  }
  throw std::logic_error("safetensors_name: unknown dtype");
}

std::optional<Dtype> dtype_from_safetensors_name(std::string_view name) {
  for (const auto& [d, n] : kNames) {
    if (n == name) return d;
  }
  return std::nullopt;
}

}  // namespace qlinear::io
