// What the int8-activation kernels read from W: unsigned bytes for vpdpbusd (a plane of
// packed bytes for int8_gemv_groups.h, a run of codes for int8_gemm.h's panels) and each
// group's scale s and bias b for the float chain of add_group,
//   y += s d idot + b d sum(xq).
// AffineCodes: MLX's affine codes, s and b as stored. Fp4Codes: mxfp4's and nvfp4's E2M1
// values v, each a multiple of 1/2 in [-6, 6], as the byte 2 v + 12 in [0, 24], with s / 2
// and b = -6 s (so that s / 2 (2 v + 12) - 6 s = s v). s is the scale byte's value as the
// exact path reads it (reference::fp_tables: rounded to x's dtype), so no format code is
// compiled here; an infinite scale (mxfp4's byte 255, as MLX decodes it) is taken as NaN,
// which the exact path's dot products are (its weights are infinite, NaN where v = 0). A
// scale of 2^126 or more (E8M0 bytes 253 and 254) makes -6 s infinite; the exact path's
// weights of |v| >= 4 are infinite there too. Included only by int8_matmul.cpp.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/kernels.h"
#include "kernels/reference/reference.h"
#include "kernels/x86/int8_codes.h"
#include "kernels/x86/int8_simd.h"
#include "kernels/x86/transpose16.h"

namespace qlinear::kernels::avx512_bf16 {
namespace {

// Plane p of packed codes, the code at bit bits * p of each byte as that byte: one GF(2)
// affine transform of each byte, whose matrix (row 7 - i for result bit i) moves those
// bits to the bottom and clears the others.
template <int bits, int p>
__m512i plane(__m512i v) {
  std::uint64_t matrix = 0;
  for (int i = 0; i < bits; ++i) matrix |= std::uint64_t{1} << (bits * p + i) << (8 * (7 - i));
  return _mm512_gf2p8affine_epi64_epi8(v, _mm512_set1_epi64(static_cast<long long>(matrix)), 0);
}

struct AffineCodes {
  const MatmulArgs& a;

  template <int bits, int p>
  __m512i plane_of(__m512i v) const {
    return plane<bits, p>(v);
  }
  template <int bits>
  __m512i unpack(const std::uint8_t* row, int codes) const {
    return unpack_codes<bits>(row, codes);
  }
  // s[j] / b[j] lane i: group g0 + j (j < count) of row first_row + i (i < live); the other
  // lanes and vectors are zero.
  void params(std::int64_t first_row, int live, std::int64_t groups, std::int64_t g0, int count,
              __m512i s[16], __m512i b[16]) const {
    params_by_group(a.scales, a.scale_dtype, first_row, live, groups, g0, count, s);
    params_by_group(a.biases, a.scale_dtype, first_row, live, groups, g0, count, b);
  }
};

struct Fp4Codes {
  static constexpr int kOffset = 12;  // 2 * 6, the largest |v| doubled

  __m512i doubled;  // vpermb's table: byte i -> 2 v(i & 15) + kOffset
  const std::uint8_t* scales;
  alignas(64) float half[256];  // scale byte -> half the scale

  explicit Fp4Codes(const MatmulArgs& a) : scales(static_cast<const std::uint8_t*>(a.scales)) {
    reference::FpTables t;
    reference::fp_tables(a.spec.mode, a.x_dtype, nullptr, t);
    alignas(64) std::uint8_t table[64];
    for (int i = 0; i < 64; ++i)
      table[i] = static_cast<std::uint8_t>(2.0f * t.values[i % 16] + kOffset);
    doubled = _mm512_load_si512(table);
    for (int i = 0; i < 256; ++i) {  // halving is exact
      half[i] =
          std::isinf(t.scales[i]) ? std::numeric_limits<float>::quiet_NaN() : 0.5f * t.scales[i];
    }
  }

  // vpermb reads an index's low 6 bits, and the table repeats every 16.
  template <int bits, int p>
  __m512i plane_of(__m512i v) const {
    static_assert(bits == 4);
    return _mm512_permutexvar_epi8(p == 0 ? v : _mm512_srli_epi16(v, 4), doubled);
  }
  template <int bits>
  __m512i unpack(const std::uint8_t* row, int codes) const {
    static_assert(bits == 4);
    return _mm512_permutexvar_epi8(unpack_codes<4>(row, codes), doubled);
  }
  // The half scales of `count` (<= 16) groups from scale byte p on, zero past them.
  __m512 half_scales(const std::uint8_t* p, int count) const {
    const auto mask = static_cast<__mmask16>((1u << count) - 1u);
    const __m512i index = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, p));
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, index, half, 4);
  }
  void params(std::int64_t first_row, int live, std::int64_t groups, std::int64_t g0, int count,
              __m512i s[16], __m512i b[16]) const {
    for (int i = 0; i < 16; ++i) {
      s[i] = i < live
                 ? _mm512_castps_si512(half_scales(scales + (first_row + i) * groups + g0, count))
                 : _mm512_setzero_si512();
    }
    x86::transpose16(s);
    const __m512 minus_offset = _mm512_set1_ps(-static_cast<float>(kOffset));
    for (int j = 0; j < 16; ++j) {
      b[j] = _mm512_castps_si512(_mm512_mul_ps(_mm512_castsi512_ps(s[j]), minus_offset));
    }
  }
};

}  // namespace
}  // namespace qlinear::kernels::avx512_bf16
