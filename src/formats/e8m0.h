// E8M0: an unsigned power-of-two scale, byte e standing for 2^(e - 127), the group scale
// of the MX modes. As in MLX, 255 decodes to +infinity (not NaN) and 0 to 2^-127.
//
// Encoding follows the released MLX's quantize (0.32.4): the smallest power of two at or
// above s, e = ceil(log2(s)) + 127 with log2 taken exactly (s is the group's amax / maxq,
// already rounded to the weights' dtype), so the group's largest element is never clipped;
// s == 0 (an all-zero group) gives 127. Where MLX's exponent would fall below -127
// (s <= 2^-128) and wrap around modulo 256 into a huge scale, it is clamped to -127
// (code 0), the power of two closest to the one MLX means.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace qlinear::formats {

struct E8M0 {
  static constexpr int kBias = 127;

  static float decode(std::uint8_t e) { return std::ldexp(1.0f, static_cast<int>(e) - kBias); }

  static std::uint8_t encode(float s) {
    if (s == 0.0f) return kBias;
    int exponent = 0;  // s = m * 2^exponent, m in [0.5, 1)
    const float m = std::frexp(s, &exponent);
    const int ceil_log2 = m == 0.5f ? exponent - 1 : exponent;
    return static_cast<std::uint8_t>(std::clamp(ceil_log2, -kBias, kBias + 1) + kBias);
  }
};

}  // namespace qlinear::formats
