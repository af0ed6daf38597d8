// Element types of a Tensor and the conversions between the float formats.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace qlinear {

enum class Dtype : std::uint8_t {
  float32,
  float16,
  bfloat16,
  float64,
  int8,
  int16,
  int32,
  int64,
  uint8,
  uint16,
  uint32,
  uint64,
  bool_,
  // 8-bit float formats are carried as raw bytes (safetensors F8_*); no arithmetic.
  float8_e4m3,
  float8_e5m2,
  float8_e8m0,
};

std::size_t size_of(Dtype dtype);
// Lower-case name as MLX prints it ("float32", "bfloat16", "uint32", "bool").
std::string_view name_of(Dtype dtype);
// float32, float16, bfloat16, float64: the types arithmetic is defined on.
bool is_floating(Dtype dtype);
// The dtype of a binary operation's result (MLX's promotion table for the float types:
// f32 with anything -> f32, f16 with f16 -> f16, bf16 with f16 -> f32).
Dtype promote_types(Dtype a, Dtype b);

// 16-bit float storage types. They hold bits only; arithmetic goes through float.
struct float16_t {
  std::uint16_t bits;
};
struct bfloat16_t {
  std::uint16_t bits;
};

// Round to nearest even; NaN stays NaN (quietened), infinities stay infinite.
inline std::uint16_t float_to_bfloat16_bits(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);
  return static_cast<std::uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

inline float bfloat16_bits_to_float(std::uint16_t h) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

inline std::uint16_t float_to_float16_bits(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t abs = x & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7E00u | ((abs >> 13) & 0x3FFu));
  // 65520 is the midpoint between 65504 and 2^16; ties go to the even neighbour, infinity.
  if (abs >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00u);
  if (abs < 0x38800000u) {
    // Below 2^-14 the result is subnormal: adding 0.5f lines the value up so that the
    // float32 addition itself rounds to a multiple of 2^-24 (nearest even).
    const float aligned = std::bit_cast<float>(abs) + 0.5f;
    return static_cast<std::uint16_t>(sign | (std::bit_cast<std::uint32_t>(aligned) - 0x3F000000u));
  }
  // Rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits to nearest even.
  const std::uint32_t rounded = abs + 0xC8000FFFu + ((abs >> 13) & 1u);
  return static_cast<std::uint16_t>(sign | (rounded >> 13));
}

inline float float16_bits_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1Fu;
  const std::uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));
  if (exponent == 0) {
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;  // exact
    return std::bit_cast<float>(sign | std::bit_cast<std::uint32_t>(magnitude));
  }
  return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

inline float to_float(float v) {
  return v;
}
inline float to_float(float16_t v) {
  return float16_bits_to_float(v.bits);
}
inline float to_float(bfloat16_t v) {
  return bfloat16_bits_to_float(v.bits);
}

// from_float<T>(f): f rounded to T (nearest even).
template <class T>
T from_float(float f);
template <>
inline float from_float<float>(float f) {
  return f;
}
template <>
inline float16_t from_float<float16_t>(float f) {
  return {float_to_float16_bits(f)};
}
template <>
inline bfloat16_t from_float<bfloat16_t>(float f) {
  return {float_to_bfloat16_bits(f)};
}

// The value of f after a round trip through T: what storing f as T keeps.
template <class T>
float round_to(float f) {
  return to_float(from_float<T>(f));
}

}  // namespace qlinear
