// Tensor storage: zero-filled and aligned whether it comes from the heap (small) or
// straight from mmap (large), including memory that was used and freed before; and the
// element count of a shape.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "qlinear/tensor.h"

namespace qlinear {
namespace {

bool all_zero(const Tensor& t) {
  const auto* bytes = static_cast<const std::uint8_t*>(t.data());
  return std::all_of(bytes, bytes + t.nbytes(), [](std::uint8_t b) { return b == 0; });
}

TEST(TensorStorage, ZerosAreZeroAndAlignedAtEverySize) {
  for (std::int64_t n : {1, 100, 262143, 262144, 262145, 3 << 20}) {
    for (int round = 0; round < 2; ++round) {
      Tensor t = Tensor::zeros({n}, Dtype::float32);
      ASSERT_EQ(reinterpret_cast<std::uintptr_t>(t.data()) % Tensor::kAlignment, 0u) << n;
      ASSERT_TRUE(all_zero(t)) << n << " elements, round " << round;
      std::memset(t.mutable_data(), 0xAB, t.nbytes());  // dirty it before it is freed
    }
  }
}

TEST(TensorStorage, LargeStorageIsUsableToItsLastByte) {
  Tensor t = Tensor::zeros({(std::int64_t{2} << 20) + 3}, Dtype::uint8);
  auto* bytes = static_cast<std::uint8_t*>(t.mutable_data());
  bytes[0] = 1;
  bytes[t.nbytes() - 1] = 2;
  EXPECT_EQ(bytes[t.nbytes() - 1], 2);
  const Tensor copy = t.copy();
  EXPECT_EQ(std::memcmp(copy.data(), t.data(), t.nbytes()), 0);
}

TEST(TensorShape, ElementCountRefusesAnOverflowingProductWhereverItsZeroIs) {
  constexpr std::int64_t big = std::int64_t{1} << 62;
  EXPECT_EQ(element_count({3, 0, 5}), 0);
  EXPECT_EQ(element_count({big, 0}), 0);
  // The same dimensions in every order: refused, not accepted when the zero comes first.
  for (const Shape& shape : {Shape{0, big, 8}, Shape{big, 8, 0}, Shape{big, 0, 8}}) {
    try {
      element_count(shape);
      ADD_FAILURE() << shape_string(shape) << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()),
                "[Tensor] Element count of shape " + shape_string(shape) + " overflows");
    }
  }
}

}  // namespace
}  // namespace qlinear
