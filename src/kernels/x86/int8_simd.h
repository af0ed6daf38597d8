// Register-level pieces of the int8-activation kernels: the dot-product instruction,
// word transposes and block sums, and loading scales or biases as floats. Included only
// by int8_matmul.cpp (compiled with AVX-512 BW/VNNI).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "qlinear/dtype.h"

namespace qlinear::kernels::avx512_bf16 {
namespace {

// acc + the dot products of 4 unsigned bytes of `codes` with 4 signed bytes of `x` per
// 32-bit lane. In assembly because GCC 12 copies every accumulator around the intrinsic
// (it keeps the old value alive as if the instruction did not overwrite it).
inline __m512i dot_accumulate(__m512i acc, __m512i codes, __m512i x) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(codes), "vm"(x));
  return acc;
}

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

// Block i of the result = the sum of the four 128-bit blocks of v[i] (lane by lane).
inline __m512i sum_blocks(const __m512i v[4]) {
  const __m512i t0 = _mm512_add_epi32(_mm512_shuffle_i32x4(v[0], v[1], 0x44),
                                      _mm512_shuffle_i32x4(v[0], v[1], 0xEE));
  const __m512i t1 = _mm512_add_epi32(_mm512_shuffle_i32x4(v[2], v[3], 0x44),
                                      _mm512_shuffle_i32x4(v[2], v[3], 0xEE));
  return _mm512_add_epi32(_mm512_shuffle_i32x4(t0, t1, 0x88), _mm512_shuffle_i32x4(t0, t1, 0xDD));
}

// `count` (<= 16) consecutive floats of a float32/float16/bfloat16 array, the rest zero.
inline __m512i load_params(const void* p, Dtype dtype, std::int64_t first, int count) {
  const auto mask = static_cast<__mmask16>((1u << count) - 1u);
  if (dtype == Dtype::float32) {
    return _mm512_maskz_loadu_epi32(mask, static_cast<const float*>(p) + first);
  }
  const __m256i h = _mm256_maskz_loadu_epi16(mask, static_cast<const std::uint16_t*>(p) + first);
  return dtype == Dtype::float16 ? _mm512_castps_si512(_mm512_cvtph_ps(h))
                                 : _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16);
}

}  // namespace
}  // namespace qlinear::kernels::avx512_bf16
