// E8M0: an unsigned power-of-two scale, byte e standing for 2^(e - 127), the group scale
// of the MX modes. As in MLX, 255 decodes to +infinity (not NaN) and 0 to 2^-127.
//
// Encoding follows MLX's quantize, not OCP's floor rule: e = rint(log2(s)) + 127, with
// log2 evaluated in the weights' dtype T (rounded to T before rint, ties to even), and
// s == 0 (an all-zero group) giving 127. Where MLX's exponent would fall below -127
// (s below about 2^-127.5) and wrap around modulo 256, it is clamped to -127 (code 0).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "qlinear/dtype.h"

namespace qlinear::formats {

struct E8M0 {
  static constexpr int kBias = 127;

  static float decode(std::uint8_t e) { return std::ldexp(1.0f, static_cast<int>(e) - kBias); }

  template <class T>
  static std::uint8_t encode(float s) {
    if (s == 0.0f) return kBias;
    const float exponent = std::rint(round_to<T>(std::log2(s)));
    return static_cast<std::uint8_t>(std::clamp(exponent, -127.0f, 128.0f) + kBias);
  }
};

}  // namespace qlinear::formats
