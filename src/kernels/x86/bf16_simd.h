// The AVX-512 vector operations plus the AVX512-BF16 ones the bfloat16 matmul needs.
// Included only by bf16_matmul.cpp, which is compiled with the BF16 flags.
#pragma once

#include <immintrin.h>

#include "kernels/x86/simd_avx512.h"

namespace qlinear::kernels::avx512_bf16 {

// A type of its own, so that the generic templates instantiated here (compiled with
// -mavx512bf16) are never merged with the plain AVX-512 instantiations.
struct Simd : avx512::Simd {
  // 32-bit lanes each holding two bfloat16 values: the operand layout of vdpbf16ps.
  using Pairs = __m512i;

  // Lane i = values 2i and 2i+1 of the 32 values lo[0..15], hi[0..15], rounded to
  // bfloat16 (nearest even; denormals flush to zero).
  static Pairs round_pairs(F lo, F hi) { return (Pairs)_mm512_cvtne2ps_pbh(hi, lo); }

  // Lane i = (lo[i], hi[i]) rounded to bfloat16: pairs two rows lane by lane.
  static Pairs interleave_pairs(F lo, F hi) {
    const __m512i order =
        _mm512_setr_epi32(0x00100000, 0x00110001, 0x00120002, 0x00130003, 0x00140004, 0x00150005,
                          0x00160006, 0x00170007, 0x00180008, 0x00190009, 0x001A000A, 0x001B000B,
                          0x001C000C, 0x001D000D, 0x001E000E, 0x001F000F);
    return _mm512_permutexvar_epi16(order, round_pairs(lo, hi));
  }

  // acc[i] += x[2i] * w[2i] + x[2i+1] * w[2i+1], products exact, sums in float32 (inputs
  // and results that are denormal flush to zero).
  static F dot_pairs(F acc, Pairs x, Pairs w) {
    return _mm512_dpbf16_ps(acc, (__m512bh)x, (__m512bh)w);
  }
};

}  // namespace qlinear::kernels::avx512_bf16
