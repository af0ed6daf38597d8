// FP4 E2M1: 1 sign, 2 exponent and 1 mantissa bit; codes 0-7 are +{0, 0.5, 1, 1.5, 2, 3,
// 4, 6} and 8-15 their negatives. Two codes per byte, the low nibble first.
//
// MLX encodes a value as the code whose value is nearest (argmin of the distance over
// the 16 codes in order), so a tie goes to the lower code: to the smaller magnitude, and
// every value that rounds to zero, negative ones included, to +0 (code 0). Counting the
// midpoints below |v| gives the same codes.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace qlinear::formats {

struct Fp4E2M1 {
  static constexpr int kBits = 4;
  static constexpr float kMax = 6.0f;
  static constexpr std::uint8_t kSignBit = 0x8;
  static constexpr std::array<float, 16> kValues = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,
                                                    4.0f,  6.0f,  -0.0f, -0.5f, -1.0f, -1.5f,
                                                    -2.0f, -3.0f, -4.0f, -6.0f};
  // Midpoint i lies between magnitudes i and i + 1.
  static constexpr std::array<float, 7> kMidpoints = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};

  static constexpr float decode(std::uint8_t code) { return kValues[code & 0xFu]; }

  // Non-finite input gives code 0, as MLX's argmin does when every distance is NaN or inf.
  static std::uint8_t encode(float v) {
    if (!std::isfinite(v)) return 0;
    const float a = std::fabs(v);
    std::uint8_t magnitude = 0;
    for (float m : kMidpoints) magnitude += a > m ? 1 : 0;
    return magnitude != 0 && v < 0.0f ? magnitude | kSignBit : magnitude;
  }
};

constexpr bool midpoints_are_halfway() {
  for (std::size_t i = 0; i < Fp4E2M1::kMidpoints.size(); ++i) {
    if (Fp4E2M1::kMidpoints[i] != (Fp4E2M1::kValues[i] + Fp4E2M1::kValues[i + 1]) / 2) {
      return false;
    }
  }
  return true;
}
static_assert(midpoints_are_halfway());
static_assert(Fp4E2M1::decode(7) == Fp4E2M1::kMax && Fp4E2M1::decode(15) == -Fp4E2M1::kMax);

}  // namespace qlinear::formats
