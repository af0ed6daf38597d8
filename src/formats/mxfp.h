// The MX modes (OCP microscaling, the released MLX's scale rule): groups of 32 elements with one
// E8M0 scale byte each. mxfp4 stores FP4 E2M1 codes (two per byte), mxfp8 FP8 E4M3 bytes.
#pragma once

#include <cstdint>

#include "formats/e8m0.h"
#include "formats/fp4_e2m1.h"
#include "formats/fp8_e4m3.h"
#include "qlinear/ops.h"

namespace qlinear::formats {

template <class ElementFormat, QuantMode mode>
struct Mx {
  using Element = ElementFormat;
  using Scale = E8M0;
  static constexpr QuantMode kMode = mode;
  static constexpr int kGroupSize = 32;
  static constexpr int kBits = Element::kBits;
  static constexpr bool kHasGlobalScale = false;

  static std::uint8_t encode_scale(float s) { return Scale::encode(s); }
  static float decode_scale(std::uint8_t code) { return Scale::decode(code); }
};

using Mxfp4 = Mx<Fp4E2M1, QuantMode::mxfp4>;
using Mxfp8 = Mx<Fp8E4M3, QuantMode::mxfp8>;

}  // namespace qlinear::formats
