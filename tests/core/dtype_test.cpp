#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "qlinear/dtype.h"

namespace qlinear {
namespace {

// Every float16 bit pattern survives a round trip through float32 (NaN payloads quietened).
TEST(Float16, EveryCodeRoundTrips) {
  for (std::uint32_t h = 0; h <= 0xFFFF; ++h) {
    const float f = float16_bits_to_float(static_cast<std::uint16_t>(h));
    const std::uint16_t back = float_to_float16_bits(f);
    if (std::isnan(f)) {
      EXPECT_EQ(back & 0x7C00u, 0x7C00u);
      EXPECT_NE(back & 0x3FFu, 0u);
      EXPECT_EQ(back & 0x8000u, h & 0x8000u);
    } else {
      ASSERT_EQ(back, h) << "code " << h;
    }
  }
}

// Rounding of float32 to float16 is to nearest, ties to even, checked against double
// arithmetic on the neighbouring float16 values for every midpoint and its neighbours.
TEST(Float16, RoundsToNearestEven) {
  for (std::uint32_t h = 0; h < 0x7BFF; ++h) {
    const double lo = float16_bits_to_float(static_cast<std::uint16_t>(h));
    const double hi = float16_bits_to_float(static_cast<std::uint16_t>(h + 1));
    const float mid = static_cast<float>((lo + hi) / 2);  // exact in float32
    const std::uint16_t even =
        (h & 1u) == 0 ? static_cast<std::uint16_t>(h) : static_cast<std::uint16_t>(h + 1);
    ASSERT_EQ(float_to_float16_bits(mid), even) << "midpoint above code " << h;
    ASSERT_EQ(float_to_float16_bits(std::nextafter(mid, 0.0f)), h);
    ASSERT_EQ(float_to_float16_bits(std::nextafter(mid, 1e9f)), h + 1);
  }
}

TEST(Float16, OverflowAndSpecials) {
  EXPECT_EQ(float_to_float16_bits(65504.0f), 0x7BFFu);
  EXPECT_EQ(float_to_float16_bits(65519.99f), 0x7BFFu);
  EXPECT_EQ(float_to_float16_bits(65520.0f), 0x7C00u);
  EXPECT_EQ(float_to_float16_bits(-1e9f), 0xFC00u);
  EXPECT_EQ(float_to_float16_bits(std::numeric_limits<float>::infinity()), 0x7C00u);
  EXPECT_EQ(float_to_float16_bits(-0.0f), 0x8000u);
  EXPECT_EQ(float_to_float16_bits(0x1p-25f), 0x0000u);         // tie to even: 0
  EXPECT_EQ(float_to_float16_bits(0x1.8p-25f), 0x0001u);       // above the tie
  EXPECT_EQ(float_to_float16_bits(0x1p-24f * 1.5f), 0x0002u);  // tie 1.5 -> 2
  EXPECT_TRUE(std::isnan(float16_bits_to_float(float_to_float16_bits(std::nanf("")))));
}

TEST(BFloat16, EveryCodeRoundTripsAndTiesGoToEven) {
  for (std::uint32_t h = 0; h <= 0xFFFF; ++h) {
    const float f = bfloat16_bits_to_float(static_cast<std::uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bfloat16_bits_to_float(float_to_bfloat16_bits(f))));
      continue;
    }
    ASSERT_EQ(float_to_bfloat16_bits(f), h);
    if ((h & 0x7F80u) == 0x7F80u || (h & 0x7FFFu) == 0x7F7Fu) continue;  // inf/NaN/max neighbour
    const std::uint32_t bits = h << 16;
    const float mid = std::bit_cast<float>(bits | 0x8000u);
    const std::uint16_t even =
        (h & 1u) == 0 ? static_cast<std::uint16_t>(h) : static_cast<std::uint16_t>(h + 1);
    ASSERT_EQ(float_to_bfloat16_bits(mid), even) << "midpoint above code " << h;
  }
  EXPECT_EQ(float_to_bfloat16_bits(std::numeric_limits<float>::max()),
            0x7F80u);  // rounds up to inf
  EXPECT_EQ(float_to_bfloat16_bits(-std::numeric_limits<float>::infinity()), 0xFF80u);
}

TEST(Dtype, PromotionFollowsMlx) {
  EXPECT_EQ(promote_types(Dtype::float32, Dtype::bfloat16), Dtype::float32);
  EXPECT_EQ(promote_types(Dtype::float16, Dtype::float16), Dtype::float16);
  EXPECT_EQ(promote_types(Dtype::bfloat16, Dtype::float16), Dtype::float32);
  EXPECT_EQ(promote_types(Dtype::bfloat16, Dtype::bfloat16), Dtype::bfloat16);
  EXPECT_THROW(promote_types(Dtype::uint32, Dtype::float32), std::invalid_argument);
}

}  // namespace
}  // namespace qlinear
