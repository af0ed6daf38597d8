// Register-level pieces of the int8-activation kernels: the dot-product instruction,
// block sums, and loading scales or biases as floats. Included only by int8_matmul.cpp
// (compiled with AVX-512 BW/VNNI).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/x86/transpose16.h"
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

// params[(first_row + i) * groups + g0 + j] (float32/float16/bfloat16) for rows i < live
// and groups j < count as m[j] lane i, floats; the other lanes and vectors are zero.
inline void params_by_group(const void* params, Dtype dtype, std::int64_t first_row, int live,
                            std::int64_t groups, std::int64_t g0, int count, __m512i m[16]) {
  for (int i = 0; i < 16; ++i) {
    m[i] = i < live ? load_params(params, dtype, (first_row + i) * groups + g0, count)
                    : _mm512_setzero_si512();
  }
  x86::transpose16(m);
}

// One step of the float chain at 16 columns of one row: c = fma(float(idot), s * d, c),
// then c = fma(b, sum, c). Every kernel adds its groups through this, so a row's result
// is the same bits whichever kernel computed it.
inline __m512 add_group(__m512 c, __m512i idot, __m512 s, __m512 b, float d, float sum) {
  const __m512 sd = _mm512_mul_ps(s, _mm512_set1_ps(d));
  const __m512 y = _mm512_fmadd_ps(_mm512_cvtepi32_ps(idot), sd, c);
  return _mm512_fmadd_ps(b, _mm512_set1_ps(sum), y);
}

}  // namespace
}  // namespace qlinear::kernels::avx512_bf16
