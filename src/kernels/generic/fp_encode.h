// The encoders of the float formats (formats/fp4_e2m1.h, fp8_e4m3.h, e8m0.h) for kLanes
// values at once: each lane gets the code the scalar encode gives, as an exact float
// (Simd::store_code_bytes turns them into bytes). Branches become selects; no lane raises
// a floating-point exception the scalar code does not.
#pragma once

#include <limits>
#include <type_traits>

#include "formats/e8m0.h"
#include "formats/fp4_e2m1.h"
#include "formats/fp8_e4m3.h"

namespace qlinear::kernels::generic {

// FP4 E2M1: |v| rounded to the nearest value, ties to the smaller one (what counting the
// midpoints below |v| gives), plus the sign bit where that is not 0 and v < 0, i.e. where
// v < -(the first midpoint); non-finite v encodes as 0. From 1 on (E2M1's smallest
// normal) the float32 bits are rounded to one mantissa bit as minifloat::Grid rounds
// them, without its ties-to-even step, and capped at the largest code; below 1 the first
// two midpoints decide.
template <class Simd>
typename Simd::F e2m1_codes(typename Simd::F v) {
  using F = typename Simd::F;
  using Format = formats::Fp4E2M1;
  using Grid = formats::minifloat::Grid<2, 1>;
  constexpr int kDropped = 23 - Grid::kMantissaBits;
  constexpr auto& kMidpoints = Format::kMidpoints;
  static_assert(Grid::kMinNormal == Format::decode(2));
  const F zero = Simd::zero();
  const F one = Simd::set1(1.0f);
  const F a = Simd::abs(v);
  const auto rounded =
      Simd::add_bits(Simd::as_bits(a), Simd::set1_bits((1u << (kDropped - 1)) - 1u));
  const F normal = Simd::min(
      Simd::sub(Simd::int_to_float(Simd::template shift_right<kDropped>(rounded)),
                Simd::set1(static_cast<float>((127 - Grid::kBias) << Grid::kMantissaBits))),
      Simd::set1(static_cast<float>(kMidpoints.size())));
  const F small = Simd::add(Simd::select(Simd::greater(a, Simd::set1(kMidpoints[0])), one, zero),
                            Simd::select(Simd::greater(a, Simd::set1(kMidpoints[1])), one, zero));
  const F magnitude = Simd::select(Simd::greater(Simd::set1(Grid::kMinNormal), a), small, normal);
  const auto negative = Simd::greater(Simd::set1(-kMidpoints[0]), v);
  const F code = Simd::add(
      magnitude, Simd::select(negative, Simd::set1(static_cast<float>(Format::kSignBit)), zero));
  const auto finite = Simd::greater(Simd::set1(std::numeric_limits<float>::infinity()), a);
  return Simd::select(finite, code, zero);  // NaN is not below infinity either
}

// FP8 E4M3: the sign bit over the magnitude code, rounded to nearest even as
// minifloat::Grid::magnitude_code does it (below the smallest normal by rint, above by
// rounding the float32 bits), or the largest code from kMax on (NaN included).
template <class Simd>
typename Simd::F e4m3_codes(typename Simd::F v) {
  using F = typename Simd::F;
  using Format = formats::Fp8E4M3;
  using Grid = Format::Grid;
  constexpr int kDropped = 23 - Grid::kMantissaBits;
  const F a = Simd::abs(v);
  const auto a_bits = Simd::as_bits(a);
  const auto odd = Simd::and_bits(Simd::template shift_right<kDropped>(a_bits), Simd::set1_bits(1));
  const auto rounded =
      Simd::add_bits(Simd::add_bits(a_bits, Simd::set1_bits((1u << (kDropped - 1)) - 1u)), odd);
  const F normal =
      Simd::sub(Simd::int_to_float(Simd::template shift_right<kDropped>(rounded)),
                Simd::set1(static_cast<float>((127 - Grid::kBias) << Grid::kMantissaBits)));
  // a * 2^(bias - 1 + m) is exact below the smallest normal; above it a is capped so that
  // the product (discarded there) cannot overflow.
  const F subnormal = Simd::round_even(
      Simd::mul(Simd::min(a, Simd::set1(Grid::kMinNormal)), Simd::set1(Grid::kSubnormalSteps)));
  F magnitude = Simd::select(Simd::greater(Simd::set1(Grid::kMinNormal), a), subnormal, normal);
  magnitude = Simd::select(Simd::greater(Simd::set1(Format::kMax), a), magnitude,
                           Simd::set1(static_cast<float>(Format::kMaxCode)));
  const auto sign = Simd::and_bits(Simd::as_bits(v), Simd::set1_bits(0x80000000u));
  return Simd::add(magnitude, Simd::int_to_float(Simd::template shift_right<24>(sign)));
}

// E8M0 for scales s >= 0 (never NaN): the biased exponent of the smallest power of two at
// or above s. Adding the mantissa mask to a normal s's bits carries into the exponent
// unless s is a power of two. Below 2^-127 the exponent is clamped to code 0; s == 0 is
// code 127, and so is infinity, whose exponent glibc's frexp reads as 0.
template <class Simd>
typename Simd::F e8m0_codes(typename Simd::F s) {
  using F = typename Simd::F;
  const F up = Simd::int_to_float(Simd::template shift_right<23>(
      Simd::add_bits(Simd::as_bits(s), Simd::set1_bits(0x007FFFFFu))));
  const F bias = Simd::set1(static_cast<float>(formats::E8M0::kBias));
  F code = Simd::select(Simd::greater(s, Simd::set1(0x1p-127f)), up, Simd::zero());
  code = Simd::select(Simd::equal(s, Simd::zero()), bias, code);
  const F inf = Simd::set1(std::numeric_limits<float>::infinity());
  return Simd::select(Simd::equal(s, inf), bias, code);
}

// The codes of kLanes values in Format.
template <class Format, class Simd>
typename Simd::F codes_of(typename Simd::F v) {
  if constexpr (std::is_same_v<Format, formats::Fp4E2M1>) {
    return e2m1_codes<Simd>(v);
  } else if constexpr (std::is_same_v<Format, formats::Fp8E4M3>) {
    return e4m3_codes<Simd>(v);
  } else {
    static_assert(std::is_same_v<Format, formats::E8M0>);
    return e8m0_codes<Simd>(v);
  }
}

}  // namespace qlinear::kernels::generic
