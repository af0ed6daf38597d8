// The element and scale formats of the float modes, over every code: decoding to
// float32, exactness in bfloat16 and float16, and encoding checked against a brute-force
// search of the nearest code for every bfloat16 and float16 value and for float32 values
// at and beside every midpoint.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "formats/e8m0.h"
#include "formats/fp4_e2m1.h"
#include "formats/fp8_e4m3.h"
#include "formats/fp8_e5m2.h"
#include "qlinear/dtype.h"

namespace qlinear {
namespace {

using formats::E8M0;
using formats::Fp4E2M1;
using formats::Fp8E4M3;
using formats::Fp8E5M2;

// Every finite bfloat16 and float16 value, as float32.
std::vector<float> all_16_bit_values() {
  std::vector<float> values;
  for (std::uint32_t h = 0; h <= 0xFFFF; ++h) {
    for (float v : {bfloat16_bits_to_float(static_cast<std::uint16_t>(h)),
                    float16_bits_to_float(static_cast<std::uint16_t>(h))}) {
      if (std::isfinite(v)) values.push_back(v);
    }
  }
  return values;
}

// The float32 values at, just below and just above the midpoint of every pair of
// neighbouring (finite, non-negative) values of a format, with both signs.
std::vector<float> midpoint_neighbourhoods(const std::vector<float>& sorted_magnitudes) {
  std::vector<float> values;
  for (std::size_t i = 0; i + 1 < sorted_magnitudes.size(); ++i) {
    const float mid = (sorted_magnitudes[i] + sorted_magnitudes[i + 1]) / 2;  // exact
    for (float v : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f)}) {
      values.push_back(v);
      values.push_back(-v);
    }
  }
  return values;
}

// Code c's value is exactly representable in bfloat16 and float16 (where in range).
void expect_exact_in_16_bit(float v, int code) {
  ASSERT_EQ(round_to<bfloat16_t>(v), v) << "code " << code;
  if (std::fabs(v) <= 65504.0f && (v == 0 || std::fabs(v) >= 0x1p-24f)) {
    ASSERT_EQ(round_to<float16_t>(v), v) << "code " << code;
  }
}

// ---- FP4 E2M1 ---------------------------------------------------------------------------

// MLX's definition: argmin over the 16 codes in order of |v - value|, first minimum wins.
std::uint8_t fp4_argmin(float v) {
  std::uint8_t best = 0;
  double best_distance = std::numeric_limits<double>::infinity();
  for (std::uint8_t c = 0; c < 16; ++c) {
    const double d = std::fabs(static_cast<double>(v) - Fp4E2M1::decode(c));
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

TEST(Fp4E2M1, DecodesEveryCode) {
  const float expected[16] = {0,     0.5f,  1,  1.5f,  2,  3,  4,  6,
                              -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};
  for (int c = 0; c < 16; ++c) {
    const float v = Fp4E2M1::decode(static_cast<std::uint8_t>(c));
    EXPECT_EQ(std::bit_cast<std::uint32_t>(v), std::bit_cast<std::uint32_t>(expected[c]));
    expect_exact_in_16_bit(v, c);
    // Every code but -0 encodes back to itself; -0 goes to +0 like every value near zero.
    EXPECT_EQ(Fp4E2M1::encode(v), c == 8 ? 0 : c);
    // The upper nibble is ignored.
    EXPECT_EQ(std::bit_cast<std::uint32_t>(Fp4E2M1::decode(static_cast<std::uint8_t>(c | 0xA0))),
              std::bit_cast<std::uint32_t>(v));
  }
}

TEST(Fp4E2M1, EncodesToTheNearestCodeTiesToTheLowerCode) {
  std::vector<float> values = all_16_bit_values();
  const std::vector<float> mids =
      midpoint_neighbourhoods({0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f});
  values.insert(values.end(), mids.begin(), mids.end());
  for (float v : values) {
    // Past 6 every value saturates; the double distances below 2^53 are exact.
    const std::uint8_t expected = std::fabs(v) > 6 ? (v < 0 ? 15 : 7) : fp4_argmin(v);
    ASSERT_EQ(Fp4E2M1::encode(v), expected) << "v = " << v;
  }
}

TEST(Fp4E2M1, TiesAndSaturation) {
  EXPECT_EQ(Fp4E2M1::encode(0.25f), 0);    // 0 vs 0.5: the lower code
  EXPECT_EQ(Fp4E2M1::encode(0.75f), 1);    // 0.5 vs 1
  EXPECT_EQ(Fp4E2M1::encode(2.5f), 4);     // 2 vs 3
  EXPECT_EQ(Fp4E2M1::encode(5.0f), 6);     // 4 vs 6
  EXPECT_EQ(Fp4E2M1::encode(-5.0f), 14);   // -4 vs -6
  EXPECT_EQ(Fp4E2M1::encode(-0.25f), 0);   // rounds to zero: +0
  EXPECT_EQ(Fp4E2M1::encode(-0.26f), 9);   // -0.5
  EXPECT_EQ(Fp4E2M1::encode(1e30f), 7);    // saturates at 6
  EXPECT_EQ(Fp4E2M1::encode(-1e30f), 15);  // and -6
  EXPECT_EQ(Fp4E2M1::encode(std::numeric_limits<float>::quiet_NaN()), 0);
  EXPECT_EQ(Fp4E2M1::encode(std::numeric_limits<float>::infinity()), 0);
}

// ---- FP8 (E4M3 as MLX, E5M2) ------------------------------------------------------------

// The nearest code to v among the magnitude codes [0, last] of a format with v's sign,
// ties to the even code.
template <class Format>
std::uint8_t nearest_even_code(float v, std::uint8_t last) {
  const std::uint8_t sign = std::signbit(v) ? 0x80 : 0;
  std::uint8_t best = 0;
  double best_distance = std::numeric_limits<double>::infinity();
  for (std::uint8_t m = 0; m <= last; ++m) {
    const double d = std::fabs(std::fabs(static_cast<double>(v)) - Format::decode(m));
    if (d < best_distance || (d == best_distance && m % 2 == 0)) {
      best_distance = d;
      best = m;
    }
  }
  return sign | best;
}

template <class Format>
std::vector<float> sorted_magnitudes(std::uint8_t last) {
  std::vector<float> values;
  for (std::uint8_t m = 0; m <= last; ++m) values.push_back(Format::decode(m));
  return values;
}

TEST(Fp8E4M3, DecodesEveryCode) {
  for (int c = 0; c < 256; ++c) {
    const int exponent = (c >> 3) & 0xF;
    const int mantissa = c & 7;
    const double magnitude =
        exponent == 0 ? std::ldexp(mantissa, -9) : std::ldexp(8 + mantissa, exponent - 10);
    const float v = Fp8E4M3::decode(static_cast<std::uint8_t>(c));
    ASSERT_EQ(v, (c & 0x80) ? -magnitude : magnitude) << "code " << c;
    ASSERT_EQ(std::signbit(v), (c & 0x80) != 0);
    expect_exact_in_16_bit(v, c);
    // Every code encodes back to itself except 0x7F/0xFF (480), which saturate to 448.
    const bool saturating = (c & 0x7F) == 0x7F;
    ASSERT_EQ(Fp8E4M3::encode(v), saturating ? (c & 0x80) | 0x7E : c) << "code " << c;
  }
}

TEST(Fp8E4M3, EncodesToTheNearestCodeTiesToEven) {
  std::vector<float> values = all_16_bit_values();
  const std::vector<float> mids = midpoint_neighbourhoods(sorted_magnitudes<Fp8E4M3>(0x7E));
  values.insert(values.end(), mids.begin(), mids.end());
  for (float v : values) {
    if (std::fabs(v) >= Fp8E4M3::kMax) {
      ASSERT_EQ(Fp8E4M3::encode(v), std::signbit(v) ? 0xFE : 0x7E) << "v = " << v;
      continue;
    }
    ASSERT_EQ(Fp8E4M3::encode(v), nearest_even_code<Fp8E4M3>(v, 0x7E)) << "v = " << v;
  }
}

TEST(Fp8E4M3, SaturatesLikeMlx) {
  // 0x7F (480) is never written: from 448 on everything is 448 (MLX's golden mxfp8 files
  // hold 97 and 52 saturated values between 464 and 480).
  EXPECT_EQ(Fp8E4M3::encode(448.0f), 0x7E);
  EXPECT_EQ(Fp8E4M3::encode(std::nextafter(464.0f, 1e9f)), 0x7E);
  EXPECT_EQ(Fp8E4M3::encode(479.9f), 0x7E);
  EXPECT_EQ(Fp8E4M3::encode(-476.0f), 0xFE);
  EXPECT_EQ(Fp8E4M3::encode(432.0f), 0x7E);  // tie 416/448: the even code
  EXPECT_EQ(Fp8E4M3::encode(400.0f), 0x7C);  // tie 384/416: the even code
  EXPECT_EQ(Fp8E4M3::encode(-1e30f), 0xFE);
  EXPECT_EQ(Fp8E4M3::encode(std::numeric_limits<float>::infinity()), 0x7E);
  EXPECT_EQ(Fp8E4M3::encode(0x1p-10f), 0x00);   // half the smallest subnormal: to even, 0
  EXPECT_EQ(Fp8E4M3::encode(0x1.8p-9f), 0x02);  // 1.5 steps: to even, 2
  EXPECT_EQ(Fp8E4M3::encode(-0.0f), 0x80);
}

TEST(Fp8E5M2, DecodesEveryCodeAsTheUpperByteOfAFloat16) {
  for (int c = 0; c < 256; ++c) {
    const float v = Fp8E5M2::decode(static_cast<std::uint8_t>(c));
    const float expected = float16_bits_to_float(static_cast<std::uint16_t>(c << 8));
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(v)) << "code " << c;
      continue;
    }
    ASSERT_EQ(v, expected) << "code " << c;
    if (std::isfinite(v)) {
      expect_exact_in_16_bit(v, c);
      ASSERT_EQ(Fp8E5M2::encode(v), c);
    }
  }
}

TEST(Fp8E5M2, EncodesToTheNearestCodeTiesToEven) {
  std::vector<float> values = all_16_bit_values();
  const std::vector<float> mids = midpoint_neighbourhoods(sorted_magnitudes<Fp8E5M2>(0x7B));
  values.insert(values.end(), mids.begin(), mids.end());
  for (float v : values) {
    if (std::fabs(v) >= 61440.0f) {
      ASSERT_EQ(Fp8E5M2::encode(v) & 0x7F, Fp8E5M2::kInfinityCode) << "v = " << v;
      continue;
    }
    ASSERT_EQ(Fp8E5M2::encode(v), nearest_even_code<Fp8E5M2>(v, 0x7B)) << "v = " << v;
  }
  EXPECT_EQ(Fp8E5M2::encode(std::nextafter(61440.0f, 0.0f)), 0x7B);
  EXPECT_EQ(Fp8E5M2::encode(-std::numeric_limits<float>::infinity()), 0xFC);
  EXPECT_TRUE(std::isnan(Fp8E5M2::decode(Fp8E5M2::encode(std::nanf("")))));
}

// ---- E8M0 -------------------------------------------------------------------------------

TEST(E8M0, DecodesEveryCodeToAPowerOfTwo) {
  for (int e = 0; e < 255; ++e) {
    const float v = E8M0::decode(static_cast<std::uint8_t>(e));
    ASSERT_EQ(v, std::ldexp(1.0, e - 127)) << "code " << e;
    ASSERT_EQ(round_to<bfloat16_t>(v), v);  // bfloat16 holds 2^-127 .. 2^127
    ASSERT_EQ(E8M0::encode(v), e);          // a power of two is its own scale
    if (e >= 127 - 24 && e <= 127 + 15) {
      ASSERT_EQ(round_to<float16_t>(v), v);
    }
  }
  EXPECT_EQ(E8M0::decode(255), std::numeric_limits<float>::infinity());  // as MLX
}

// MLX 0.32.4: the smallest power of two at or above s, so amax / scale <= maxq.
TEST(E8M0, EncodesTheCeilingOfLog2) {
  EXPECT_EQ(E8M0::encode(0.0f), 127);  // an all-zero group
  for (int e = -126; e <= 127; ++e) {
    const float p = std::ldexp(1.0f, e);
    ASSERT_EQ(E8M0::encode(std::nextafter(p, 0.0f)), 127 + e) << "just below 2^" << e;
    ASSERT_EQ(E8M0::encode(std::nextafter(p, 2 * p)), 128 + e) << "just above 2^" << e;
    ASSERT_EQ(E8M0::encode(p * 1.5f), 128 + e) << "1.5 * 2^" << e;
  }
  // mxfp4, amax 1.0: s = 1/6 -> 2^-2 (1.0 is then code 4.0, exact), not rint's 2^-3.
  EXPECT_EQ(E8M0::encode(1.0f / 6.0f), 127 - 2);
  // Subnormal s: 2^-127 exactly, and just above it.
  EXPECT_EQ(E8M0::encode(0x1p-127f), 0);
  EXPECT_EQ(E8M0::encode(std::nextafter(0x1p-127f, 1.0f)), 1);
  // At or below 2^-128 MLX's exponent wraps around modulo 256; we clamp to 2^-127.
  EXPECT_EQ(E8M0::encode(0x1p-128f), 0);
  EXPECT_EQ(E8M0::encode(0x1p-140f), 0);
  EXPECT_EQ(E8M0::encode(std::numeric_limits<float>::denorm_min()), 0);
  EXPECT_EQ(E8M0::encode(std::numeric_limits<float>::max()), 255);  // 2^128: infinity
}

}  // namespace
}  // namespace qlinear
