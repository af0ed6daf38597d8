// FP8 E4M3 as MLX reads and writes it (to_fp8 / from_fp8): 1 sign, 4 exponent (bias 7)
// and 3 mantissa bits, subnormals, no infinity and no NaN. Encoding rounds to nearest,
// ties to even, and saturates magnitudes from 448 on (NaN and infinity included) to 448
// (0x7E); decoding reads OCP's NaN pattern, magnitude 0x7F, as 480.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

#include "formats/minifloat.h"

namespace qlinear::formats {

struct Fp8E4M3 {
  using Grid = minifloat::Grid<4, 3>;
  static constexpr int kBits = 8;
  static constexpr float kMax = 448.0f;
  static constexpr std::uint8_t kMaxCode = 0x7E;
  static constexpr std::uint8_t kSignBit = 0x80;
  static constexpr std::array<float, 256> kValues = minifloat::byte_values<Grid>();

  static constexpr float decode(std::uint8_t code) { return kValues[code]; }

  static std::uint8_t encode(float v) {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(v);
    const auto sign = static_cast<std::uint8_t>((bits >> 24) & kSignBit);
    const float a = std::bit_cast<float>(bits & 0x7FFFFFFFu);
    if (!(a < kMax)) return sign | kMaxCode;
    return sign | static_cast<std::uint8_t>(Grid::magnitude_code(a));
  }
};

static_assert(Fp8E4M3::decode(0x01) == 0x1p-9f && Fp8E4M3::decode(0x08) == 0x1p-6f);
static_assert(Fp8E4M3::decode(0x38) == 1.0f && Fp8E4M3::decode(0x7E) == Fp8E4M3::kMax);
static_assert(Fp8E4M3::decode(0x7F) == 480.0f && Fp8E4M3::decode(0xFE) == -448.0f);
static_assert(std::bit_cast<std::uint32_t>(Fp8E4M3::decode(0x80)) == 0x80000000u);

}  // namespace qlinear::formats
