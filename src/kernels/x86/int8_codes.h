// Unpacking MLX's packed affine codes into unsigned bytes for vpdpbusd, and the order
// they come out in. 1-, 2- and 4-bit codes are split by and/shift into bit planes, which
// leaves them permuted within each block of 32 codes; the int8 activations are permuted
// the same way once per call (int8_activations.h), so the products pair up. 3, 5 and 6
// bits come out in order, by VBMI's byte permute and multishift.
// Included only by int8_matmul.cpp (compiled with AVX-512 BW/VNNI/VBMI).
#pragma once

#include <immintrin.h>

#include <array>
#include <cstdint>
#include <utility>

namespace qlinear::kernels::avx512_bf16 {
namespace {

// Codes per block within which the unpacking permutes; every group size is a multiple.
constexpr int kOrderBlock = 32;

// Which code of its 32-code block lands at byte `position` of the unpacked block.
// 4 bits: the low nibbles of the block's 16 bytes, then the high nibbles.
// 2 bits: 4 planes (bits 0-1, 2-3, 4-5, 6-7) of its 8 bytes. 1 bit: 8 planes (bit 0, 1,
// ..., 7) of its 4 bytes. Others: natural order.
template <int bits>
constexpr int code_at(int position) {
  if constexpr (bits == 4) return 2 * (position % 16) + position / 16;
  if constexpr (bits == 2) return 4 * (position % 8) + position / 8;
  if constexpr (bits == 1) return 8 * (position % 4) + position / 4;
  return position;
}

// Whether code_at permutes (the activations must then be permuted the same way).
template <int bits>
inline constexpr bool kPlaneOrder = bits == 1 || bits == 2 || bits == 4;

// vpermb's byte picks (lane q: the bytes from bits * q on) and vpmultishiftqb's bit
// offsets (byte i of a lane: bit bits * i) that unpack 64 codes of 3, 5 or 6 bits.
template <int bits>
constexpr auto multishift_tables() {
  std::pair<std::array<std::uint8_t, 64>, std::array<std::uint8_t, 64>> t{};
  for (int q = 0; q < 8; ++q) {
    for (int i = 0; i < 8; ++i) {
      t.first[8 * q + i] = static_cast<std::uint8_t>(bits * q + i);
      t.second[8 * q + i] = static_cast<std::uint8_t>(bits * i);
    }
  }
  return t;
}
template <int bits>
inline constexpr auto kMultishift = multishift_tables<bits>();

// 64 codes (`codes` = 64, or 32 at the end of a row: the upper half is then zero) of a
// packed row starting at `row` (a multiple of 32 codes in), as bytes in code_at order
// per 32-code block.
template <int bits>
__m512i unpack_codes(const std::uint8_t* row, int codes) {
  const auto mask = [&](int bytes) {
    return bytes >= 64 ? ~__mmask64{0} : (__mmask64{1} << bytes) - 1;
  };
  if constexpr (bits == 8) {
    return _mm512_maskz_loadu_epi8(mask(codes), row);
  } else if constexpr (bits == 4) {
    // Qwords [0 1 0 1 2 3 2 3] of the 32 bytes, the repeats shifted by a nibble.
    const __m512i bytes = _mm512_castsi256_si512(
        _mm256_maskz_loadu_epi8(static_cast<__mmask32>(mask(codes / 2)), row));
    const __m512i spread =
        _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3), bytes);
    const __m512i shifted = _mm512_srlv_epi64(spread, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
    return _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F));
  } else if constexpr (bits == 2) {
    // Qwords [0 0 0 0 1 1 1 1] of the 16 bytes, shifted by 0, 2, 4, 6 bits.
    const __m512i bytes =
        _mm512_castsi128_si512(_mm_maskz_loadu_epi8(static_cast<__mmask16>(mask(codes / 4)), row));
    const __m512i spread =
        _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 0, 0, 0, 1, 1, 1, 1), bytes);
    const __m512i shifted = _mm512_srlv_epi64(spread, _mm512_setr_epi64(0, 2, 4, 6, 0, 2, 4, 6));
    return _mm512_and_si512(shifted, _mm512_set1_epi8(0x03));
  } else if constexpr (bits == 1) {
    // Dwords [0 x8 1 x8] of the 8 bytes (one per 32-code block), shifted by 0, 1, ..., 7.
    const __m512i bytes =
        _mm512_castsi128_si512(_mm_maskz_loadu_epi8(static_cast<__mmask16>(mask(codes / 8)), row));
    const __m512i spread = _mm512_permutexvar_epi32(
        _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1), bytes);
    const __m512i shifted = _mm512_srlv_epi32(
        spread, _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7));
    return _mm512_and_si512(shifted, _mm512_set1_epi8(0x01));
  } else {
    // 3, 5, 6 bits straddle bytes: the `bits` bytes of each 8 codes into one 64-bit lane
    // (vpermb), code i of the lane's 8 taken from bit bits * i (vpmultishiftqb), masked.
    const auto [pick, offsets] = kMultishift<bits>;
    const __m512i bytes = _mm512_maskz_loadu_epi8(mask(codes * bits / 8), row);
    const __m512i lanes = _mm512_permutexvar_epi8(_mm512_loadu_si512(pick.data()), bytes);
    const __m512i shifted = _mm512_multishift_epi64_epi8(_mm512_loadu_si512(offsets.data()), lanes);
    return _mm512_and_si512(shifted, _mm512_set1_epi8((1 << bits) - 1));
  }
}

}  // namespace
}  // namespace qlinear::kernels::avx512_bf16
