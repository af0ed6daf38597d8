// Rounding of a float32 magnitude onto the grid of a small binary float format with
// `exponent_bits` and `mantissa_bits` (IEEE layout, bias 2^(exponent_bits-1) - 1,
// subnormals), to nearest with ties to even. The formats built on it (fp8_e4m3.h,
// fp8_e5m2.h) add their own sign handling and overflow rule.
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace qlinear::formats::minifloat {

template <int exponent_bits, int mantissa_bits>
struct Grid {
  static constexpr int kMantissaBits = mantissa_bits;
  static constexpr int kBias = (1 << (exponent_bits - 1)) - 1;
  // 2^(1 - bias): the smallest normal magnitude; below it the step is 2^(1 - bias - m).
  static constexpr float kMinNormal = 1.0f / static_cast<float>(1u << (kBias - 1));
  static constexpr float kSubnormalSteps = static_cast<float>(1u << (kBias - 1 + mantissa_bits));
  // 2^(127 - bias): a code's exponent and mantissa fields moved into float32's places,
  // read as a float32 and multiplied by this, give the code's magnitude exactly (subnormal
  // codes included), which is how the SIMD kernels decode.
  static constexpr float kRebias =
      std::bit_cast<float>(static_cast<std::uint32_t>(254 - kBias) << 23);

  // The magnitude code (exponent and mantissa fields, no sign) nearest to a >= 0, ties to
  // even. Codes past the largest finite one come out as the next codes in order.
  static std::uint32_t magnitude_code(float a) {
    if (a < kMinNormal) {
      // a * 2^(bias - 1 + m) is exact; rint rounds it to the nearest step, ties to even.
      return static_cast<std::uint32_t>(std::rint(a * kSubnormalSteps));
    }
    constexpr int dropped = 23 - mantissa_bits;
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(a);
    const std::uint32_t rounded = bits + ((1u << (dropped - 1)) - 1u) + ((bits >> dropped) & 1u);
    return (rounded >> dropped) - (static_cast<std::uint32_t>(127 - kBias) << mantissa_bits);
  }

  // The value of a magnitude code (no special values).
  static constexpr float magnitude_value(std::uint32_t code) {
    const std::uint32_t exponent = code >> mantissa_bits;
    const std::uint32_t mantissa = code & ((1u << mantissa_bits) - 1u);
    const float step = kMinNormal / static_cast<float>(1u << mantissa_bits);
    if (exponent == 0) return static_cast<float>(mantissa) * step;
    float v = static_cast<float>((1u << mantissa_bits) + mantissa) * step;
    for (std::uint32_t e = 1; e < exponent; ++e) v *= 2.0f;
    return v;
  }
};

// The values of all 256 codes of an 8-bit format on `Grid` whose top bit is the sign.
// Magnitude code `special` (if below 0x80) is infinity, those above it NaN.
template <class Grid, std::uint32_t special = 0x80>
constexpr std::array<float, 256> byte_values() {
  std::array<float, 256> values{};
  for (std::uint32_t c = 0; c < 256; ++c) {
    const std::uint32_t m = c & 0x7Fu;
    const float magnitude = m < special    ? Grid::magnitude_value(m)
                            : m == special ? std::numeric_limits<float>::infinity()
                                           : std::numeric_limits<float>::quiet_NaN();
    values[c] = (c & 0x80u) != 0 ? -magnitude : magnitude;
  }
  return values;
}

}  // namespace qlinear::formats::minifloat
