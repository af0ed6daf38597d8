// Mode nvfp4: groups of 16 FP4 E2M1 codes with one FP8 E4M3 scale byte each, and an
// optional float32 global scale g. With g, quantize stores the E4M3 scales multiplied by
// 448 * 6 / g (using the full E4M3 range) and dequantize multiplies them by g / (448 * 6).
#pragma once

#include <cstdint>

#include "formats/fp4_e2m1.h"
#include "formats/fp8_e4m3.h"
#include "qlinear/ops.h"

namespace qlinear::formats {

struct Nvfp4 {
  using Element = Fp4E2M1;
  using Scale = Fp8E4M3;
  static constexpr QuantMode kMode = QuantMode::nvfp4;
  static constexpr int kGroupSize = 16;
  static constexpr int kBits = Element::kBits;
  static constexpr bool kHasGlobalScale = true;
  // The global scale at which the stored scales are used as they are.
  static constexpr float kGlobalScaleUnit = Fp8E4M3::kMax * Fp4E2M1::kMax;

  static std::uint8_t encode_scale(float s) { return Scale::encode(s); }
  static float decode_scale(std::uint8_t code) { return Scale::decode(code); }
};

static_assert(Nvfp4::kGlobalScaleUnit == 2688.0f);

}  // namespace qlinear::formats
