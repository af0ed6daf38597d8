// FP8 E5M2 (OCP): 1 sign, 5 exponent (bias 15) and 2 mantissa bits, subnormals,
// infinity (0x7C) and NaN (0x7D-0x7F): the upper byte of an IEEE float16. Encoding rounds
// to nearest, ties to even; magnitudes from 61440 (the midpoint above the largest finite
// value, 57344) on become infinity; NaN becomes 0x7E with the input's sign.
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "formats/minifloat.h"

namespace qlinear::formats {

struct Fp8E5M2 {
  using Grid = minifloat::Grid<5, 2>;
  static constexpr int kBits = 8;
  static constexpr float kMax = 57344.0f;
  static constexpr std::uint8_t kInfinityCode = 0x7C;
  static constexpr std::uint8_t kNanCode = 0x7E;
  static constexpr std::uint8_t kSignBit = 0x80;
  static constexpr std::array<float, 256> kValues = minifloat::byte_values<Grid, kInfinityCode>();

  static constexpr float decode(std::uint8_t code) { return kValues[code]; }

  static std::uint8_t encode(float v) {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(v);
    const auto sign = static_cast<std::uint8_t>((bits >> 24) & kSignBit);
    const float a = std::bit_cast<float>(bits & 0x7FFFFFFFu);
    if (std::isnan(a)) return sign | kNanCode;
    if (!(a < 0x1p16f)) return sign | kInfinityCode;
    // From the midpoint 61440 on, a rounds to the code after kMax: infinity.
    return sign | static_cast<std::uint8_t>(Grid::magnitude_code(a));
  }
};

static_assert(Fp8E5M2::decode(0x01) == 0x1p-16f && Fp8E5M2::decode(0x04) == 0x1p-14f);
static_assert(Fp8E5M2::decode(0x3C) == 1.0f && Fp8E5M2::decode(0x7B) == Fp8E5M2::kMax);
static_assert(Fp8E5M2::decode(0xFC) == -std::numeric_limits<float>::infinity());

}  // namespace qlinear::formats
