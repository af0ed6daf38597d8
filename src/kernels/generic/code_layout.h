// Where each code of a run of `lanes` packed codes lies, for the byte-shuffle unpacking
// that serves every bit width: 32-bit lane j takes the (at most two) bytes that hold
// code j, shifts it down and masks it.
#pragma once

#include <array>
#include <cstdint>

namespace qlinear::kernels {

template <int bits, int lanes>
struct CodeLayout {
  static_assert(lanes * bits / 8 <= 16, "one run of codes must fit in 16 bytes");
  static constexpr std::uint8_t kZero = 0x80;  // a byte-shuffle index that yields 0

  std::array<std::uint8_t, 4 * lanes> byte_pick{};
  std::array<std::uint32_t, lanes> shift{};

  static constexpr CodeLayout make() {
    CodeLayout layout;
    for (int j = 0; j < lanes; ++j) {
      const int bit = j * bits;
      const int byte = bit / 8;
      layout.byte_pick[4 * j + 0] = static_cast<std::uint8_t>(byte);
      layout.byte_pick[4 * j + 1] =
          bit % 8 + bits > 8 ? static_cast<std::uint8_t>(byte + 1) : kZero;
      layout.byte_pick[4 * j + 2] = kZero;
      layout.byte_pick[4 * j + 3] = kZero;
      layout.shift[j] = static_cast<std::uint32_t>(bit % 8);
    }
    return layout;
  }
};

template <int bits, int lanes>
inline constexpr CodeLayout<bits, lanes> kCodeLayout = CodeLayout<bits, lanes>::make();

}  // namespace qlinear::kernels
