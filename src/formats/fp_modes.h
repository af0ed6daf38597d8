// The arithmetic of MLX's quantize and dequantize in the float modes (mxfp.h, nvfp4.h),
// shared by every kernel. MLX evaluates each step as an array operation in the weights'
// dtype T (or the output dtype O), so every intermediate is rounded to that dtype; with
// a global scale (nvfp4) float32 takes over where MLX's type promotion makes it.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "formats/mxfp.h"
#include "formats/nvfp4.h"
#include "qlinear/dtype.h"

namespace qlinear::formats {

// Calls f(Mxfp4{}), f(Mxfp8{}) or f(Nvfp4{}).
template <class F>
decltype(auto) with_fp_mode(QuantMode mode, F&& f) {
  switch (mode) {
    case QuantMode::mxfp4:
      return f(Mxfp4{});
    case QuantMode::mxfp8:
      return f(Mxfp8{});
    case QuantMode::nvfp4:
      return f(Nvfp4{});
    case QuantMode::affine:
      break;
  }
  throw std::logic_error("with_fp_mode: not a float mode");
}

// quantize: the factor the scales are multiplied by before encoding and the scaled
// weights after dividing (nvfp4 with global scale g: 448 * 6 / g; otherwise 1).
template <class Mode>
float encode_factor(const float* global_scale) {
  if constexpr (Mode::kHasGlobalScale) {
    if (global_scale != nullptr) return Mode::kGlobalScaleUnit / *global_scale;
  }
  return 1.0f;
}

// dequantize: the factor the decoded scales are multiplied by (g / (448 * 6), or 1).
template <class Mode>
float decode_factor(const float* global_scale) {
  if constexpr (Mode::kHasGlobalScale) {
    if (global_scale != nullptr) return *global_scale / Mode::kGlobalScaleUnit;
  }
  return 1.0f;
}

struct GroupScale {
  std::uint8_t code;  // the stored scale byte
  float divisor;      // its value in T, which the weights are divided by
};

// The scale of a group whose largest magnitude is amax.
template <class Mode, class T>
GroupScale group_scale(float amax, float encode_factor) {
  const float s = round_to<T>(amax / Mode::Element::kMax);
  const std::uint8_t code = Mode::encode_scale(s * encode_factor);
  return {code, round_to<T>(Mode::decode_scale(code))};
}

// The code of weight w in a group with scale g.
template <class Mode, class T>
std::uint8_t element_code(float w, const GroupScale& g, float encode_factor) {
  // A zero scale (nvfp4, amax / 6 below E4M3's smallest step) makes w / 0 infinite or NaN,
  // which encodes as MLX encodes it; without the division, which would raise
  // FE_DIVBYZERO or FE_INVALID.
  if (g.divisor == 0.0f) return Mode::Element::encode(std::numeric_limits<float>::infinity());
  return Mode::Element::encode(round_to<T>(w / g.divisor) * encode_factor);
}

// The value of scale byte `code` as dequantize (O: the output dtype) and quantized_matmul
// (O: x's dtype) use it. Without a global scale the product element * scale is then
// rounded to O; with one, MLX computes it in float32.
template <class Mode, class O>
float scale_value(std::uint8_t code, float decode_factor) {
  return round_to<O>(Mode::decode_scale(code)) * decode_factor;
}

}  // namespace qlinear::formats
