// Packing 8 codes held one per byte into 8 * bits bits, as the affine format stores them
// (code j at bit j * bits). Each instruction set's Simd traits expose it as
// pack_byte_codes; this is the portable version.
#pragma once

#include <cstdint>

namespace qlinear::kernels {

// The low `bits` bits of every byte of x: a mask for bit-extract instructions.
template <int bits>
inline constexpr std::uint64_t kByteCodeMask = 0x0101010101010101ull * ((1u << bits) - 1u);

// Three steps that each join neighbouring fields in every lane.
template <int bits>
constexpr std::uint64_t pack_byte_codes(std::uint64_t x) {
  if constexpr (bits < 8) {
    x = (x & 0x00FF00FF00FF00FFull) | ((x & 0xFF00FF00FF00FF00ull) >> (8 - bits));
    x = (x & 0x0000FFFF0000FFFFull) | ((x & 0xFFFF0000FFFF0000ull) >> (16 - 2 * bits));
    x = (x & 0x00000000FFFFFFFFull) | ((x & 0xFFFFFFFF00000000ull) >> (32 - 4 * bits));
  }
  return x;
}

}  // namespace qlinear::kernels
