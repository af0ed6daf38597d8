// A 16x16 transpose of 32-bit words in AVX-512 registers, for the kernels that turn rows
// into column panels (the AVX-512 Simd's transpose, int8_matmul.cpp, bf16_matmul.cpp; all
// compiled with AVX-512 flags; internal linkage keeps each translation unit's copy apart).
#pragma once

#include <immintrin.h>

namespace qlinear::kernels::x86 {
namespace {

// Four rows of 16 words -> out[e], whose 128-bit block l holds word 4l + e of rows 0..3.
inline void interleave_quad(const __m512i rows[4], __m512i out[4]) {
  const __m512i a0 = _mm512_unpacklo_epi32(rows[0], rows[1]);
  const __m512i a1 = _mm512_unpackhi_epi32(rows[0], rows[1]);
  const __m512i a2 = _mm512_unpacklo_epi32(rows[2], rows[3]);
  const __m512i a3 = _mm512_unpackhi_epi32(rows[2], rows[3]);
  out[0] = _mm512_unpacklo_epi64(a0, a2);
  out[1] = _mm512_unpackhi_epi64(a0, a2);
  out[2] = _mm512_unpacklo_epi64(a1, a3);
  out[3] = _mm512_unpackhi_epi64(a1, a3);
}

// rows[j] <- column j of the 16x16 matrix of words in rows (row i, lane j).
inline void transpose16(__m512i rows[16]) {
  __m512i b[16];
  for (int i = 0; i < 4; ++i) interleave_quad(rows + 4 * i, b + 4 * i);
  // b[4i + e], 128-bit block l: rows 4i..4i+3, word 4l + e.
  for (int e = 0; e < 4; ++e) {
    const __m512i c = _mm512_shuffle_i32x4(b[e], b[4 + e], 0x88);
    const __m512i c2 = _mm512_shuffle_i32x4(b[e], b[4 + e], 0xDD);
    const __m512i d = _mm512_shuffle_i32x4(b[8 + e], b[12 + e], 0x88);
    const __m512i d2 = _mm512_shuffle_i32x4(b[8 + e], b[12 + e], 0xDD);
    rows[e] = _mm512_shuffle_i32x4(c, d, 0x88);
    rows[8 + e] = _mm512_shuffle_i32x4(c, d, 0xDD);
    rows[4 + e] = _mm512_shuffle_i32x4(c2, d2, 0x88);
    rows[12 + e] = _mm512_shuffle_i32x4(c2, d2, 0xDD);
  }
}

}  // namespace
}  // namespace qlinear::kernels::x86
