// Tensor storage: zero-filled and aligned whether it comes from the heap (small) or
// straight from mmap (large), including memory that was used and freed before.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

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

}  // namespace
}  // namespace qlinear
