// The vector operations the generic kernels use, for AVX-512 (16 floats per vector).
// Included only by avx512.cpp, which is compiled with the AVX-512 flags.
#pragma once

#include <immintrin.h>

#include <array>
#include <cstdint>

#include "formats/minifloat.h"
#include "kernels/byte_codes.h"
#include "kernels/generic/code_layout.h"
#include "kernels/x86/transpose16.h"
#include "qlinear/dtype.h"

namespace qlinear::kernels::avx512 {

struct Simd {
  static constexpr int kLanes = 16;
  // Rows of x the few-rows kernel keeps in registers at once.
  static constexpr int kGemvRows = 8;
  // Rows of x the field kernel takes in one pass over W (more: two passes, generic/gemv_fields.h).
  static constexpr int kFieldPassRows = 5;
  // Micro-kernel tile: kTileRows rows of x by two vectors of output columns.
  static constexpr int kTileRows = 12;
  // Rows of x the float modes' few-rows kernel takes at once (its lookups shared by all),
  // and from which they take the panel GEMM with W transposed; measured, docs/kernels.md
  // ("Few rows of x on AVX-512").
  static constexpr int kFpGemvRows = 8;
  // Rows of x from which that kernel scales its looked-up vectors (generic/fp_modes.h).
  static constexpr int kFpScaledRows = 4;
  static constexpr int kMxfp4PanelRows = 17, kNvfp4PanelRows = 17, kMxfp8PanelRows = 17;
  using F = __m512;
  using I = __m512i;

  static F zero() { return _mm512_setzero_ps(); }
  static F set1(float v) { return _mm512_set1_ps(v); }
  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static F load(const float16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static F load(const bfloat16_t* p) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static void store(float16_t* p, F v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p),
                        _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
  static void store(bfloat16_t* p, F v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(bfloat16_bits(v)));
  }
  // Scalar conversions, through intrinsics so that no shared inline code is instantiated.
  static float to_float(float v) { return v; }
  static float to_float(float16_t h) { return _cvtsh_ss(h.bits); }
  static float to_float(bfloat16_t h) {
    return _mm_cvtss_f32(_mm_castsi128_ps(_mm_cvtsi32_si128(static_cast<int>(h.bits) << 16)));
  }
  static void store_one(float* p, float v) { *p = v; }
  static void store_one(float16_t* p, float v) {
    p->bits = _cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT);
  }
  static void store_one(bfloat16_t* p, float v) {
    const auto x = static_cast<std::uint32_t>(_mm_cvtsi128_si32(_mm_castps_si128(_mm_set_ss(v))));
    p->bits = static_cast<std::uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
  }
  // v rounded to T's precision (nearest even) and widened back.
  static F round_to(F v, float) { return v; }
  static F round_to(F v, float16_t) {
    return _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
  static F round_to(F v, bfloat16_t) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(bfloat16_bits(v), 16));
  }
  static F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F add(F a, F b) { return _mm512_add_ps(a, b); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F div(F a, F b) { return _mm512_div_ps(a, b); }
  static F min(F a, F b) { return _mm512_min_ps(a, b); }
  static F max(F a, F b) { return _mm512_max_ps(a, b); }
  // x * 2^n for integral n, without overflow in between (exp's last step).
  static F scale_by_pow2(F x, F n) { return _mm512_scalef_ps(x, n); }
  static F round_even(F v) {
    return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  // Lane masks and selects: quantize computes kLanes groups' parameters with them.
  using Mask = __mmask16;
  static F abs(F v) { return _mm512_abs_ps(v); }
  static Mask greater(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static Mask equal(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  static F select(Mask m, F a, F b) { return _mm512_mask_blend_ps(m, b, a); }
  // Lane i = the kLanes lanes of v[i] reduced by op: a transposing tree of 15 ops. It
  // leaves lane j with input kOrder[j], so it reads the inputs through that involution.
  template <class Op>
  static F reduce_each(const F* v, Op op) {
    static constexpr int kOrder[kLanes] = {0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15};
    F a[8], b[4], c[2];
    for (int i = 0; i < 8; ++i) {
      const F x = v[kOrder[i]], y = v[kOrder[i + 8]];
      a[i] = op(_mm512_shuffle_f32x4(x, y, 0x44), _mm512_shuffle_f32x4(x, y, 0xEE));
    }
    for (int i = 0; i < 4; ++i) {
      b[i] = op(_mm512_shuffle_f32x4(a[i], a[i + 4], 0x88),
                _mm512_shuffle_f32x4(a[i], a[i + 4], 0xDD));
    }
    for (int i = 0; i < 2; ++i) {
      c[i] = op(_mm512_shuffle_ps(b[i], b[i + 2], 0x44), _mm512_shuffle_ps(b[i], b[i + 2], 0xEE));
    }
    return op(_mm512_shuffle_ps(c[0], c[1], 0x88), _mm512_shuffle_ps(c[0], c[1], 0xDD));
  }
  // v[j] <- lane j of every v[i]: the kLanes x kLanes block transposed.
  static void transpose(F v[kLanes]) {
    I words[kLanes];
    for (int i = 0; i < kLanes; ++i) words[i] = _mm512_castps_si512(v[i]);
    transpose(words);
    for (int i = 0; i < kLanes; ++i) v[i] = _mm512_castsi512_ps(words[i]);
  }
  static void transpose(I v[kLanes]) { x86::transpose16(v); }
  static float reduce_add(F v) { return _mm512_reduce_add_ps(v); }
  static float reduce_min(F v) { return _mm512_reduce_min_ps(v); }
  static float reduce_max(F v) { return _mm512_reduce_max_ps(v); }
  // Codes as exact small integers in float lanes -> one byte each.
  static void store_code_bytes(std::uint8_t* p, F codes) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                     _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(codes)));
  }
  // kLanes codes below 16 as exact floats -> kLanes / 2 bytes, two codes to a byte (the
  // first in the low nibble): each 64-bit lane's second code is shifted next to its first.
  static void store_code_nibbles(std::uint8_t* p, F codes) {
    const __m512i words = _mm512_cvttps_epi32(codes);
    const __m512i pairs = _mm512_or_si512(words, _mm512_srli_epi64(words, 28));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm512_cvtepi64_epi8(pairs));
  }
  // 8 codes, one per byte, packed into 8 * bits bits: one bit extract (BMI2, fast on
  // every CPU with AVX-512).
  template <int bits>
  static std::uint64_t pack_byte_codes(std::uint64_t x) {
    return _pext_u64(x, kByteCodeMask<bits>);
  }

  // Packed 32-bit words, for the field kernel (generic/gemv_fields.h).
  static I load_words(const std::uint8_t* p) { return _mm512_loadu_si512(p); }
  // 48 bytes, three per lane (the top byte zero): four dwords to each 128-bit lane, then
  // a byte shuffle within it. Reads exactly 48 bytes.
  static I load_triples(const std::uint8_t* p) {
    const I bytes = _mm512_maskz_loadu_epi8(0xFFFFFFFFFFFFull, p);
    const I quads = _mm512_permutexvar_epi32(
        _mm512_setr_epi32(0, 1, 2, 0, 3, 4, 5, 0, 6, 7, 8, 0, 9, 10, 11, 0), bytes);
    return _mm512_shuffle_epi8(quads, _mm512_broadcast_i32x4(_mm_setr_epi8(
                                          0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1)));
  }
  // 40 bytes, five per pair of lanes: bits 0-23 of each five to the even lane, bits 16-39
  // shifted down by 4 to the odd one (20 bits of codes each). The bytes of 128-bit lane i
  // start at byte 10i: dword 0, 2, 5 or 7, plus an offset of 0 or 2 bytes.
  static I load_quintets(const std::uint8_t* p) {
    const I bytes = _mm512_maskz_loadu_epi8(0xFFFFFFFFFFull, p);
    const I quads = _mm512_permutexvar_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 2, 3, 4, 5, 5, 6, 7, 8, 7, 8, 9, 10), bytes);
    const __m128i even = _mm_setr_epi8(0, 1, 2, -1, 2, 3, 4, -1, 5, 6, 7, -1, 7, 8, 9, -1);
    const __m128i odd = _mm_setr_epi8(2, 3, 4, -1, 4, 5, 6, -1, 7, 8, 9, -1, 9, 10, 11, -1);
    const I pick = _mm512_broadcast_i64x4(_mm256_setr_m128i(even, odd));
    return _mm512_srlv_epi32(_mm512_shuffle_epi8(quads, pick),
                             _mm512_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4));
  }
  template <int n>
  static I shift_right(I v) {
    return _mm512_srli_epi32(v, n);
  }
  // Bit fields of float lanes, for the float formats' encoders (generic/fp_encode.h).
  static I as_bits(F v) { return _mm512_castps_si512(v); }
  static I set1_bits(std::uint32_t v) { return _mm512_set1_epi32(static_cast<int>(v)); }
  static I add_bits(I a, I b) { return _mm512_add_epi32(a, b); }
  static I and_bits(I a, I b) { return _mm512_and_si512(a, b); }
  // Lanes below 2^24 as exact floats.
  static F int_to_float(I v) { return _mm512_cvtepi32_ps(v); }
  // code * 2^(bits * pos) for the code in bits [bits*pos, bits*(pos+1)) of each word.
  template <int bits>
  static F exact_field(I words, int pos) {
    const I mask = _mm512_set1_epi32(((1 << bits) - 1) << (bits * pos));
    return _mm512_cvtepi32_ps(_mm512_and_si512(words, mask));
  }
  // acc + x in the lanes whose word has bit `pos` set (1-bit codes: code * x without
  // turning the code into a float; one test per field, one masked add per row of x).
  static F add_where_bit(I words, int pos, F x, F acc) {
    return _mm512_mask_add_ps(acc, _mm512_test_epi32_mask(words, _mm512_set1_epi32(1 << pos)), acc,
                              x);
  }
  // Lane l = element first + (l >> group_shift) of a float array (2^group_shift lanes
  // per group).
  static F lane_groups(const void* p, Dtype dtype, std::int64_t first, int group_shift) {
    if ((kLanes >> group_shift) <= 1) return _mm512_set1_ps(one(p, dtype, first));
    const F v = load_first(p, dtype, first, kLanes >> group_shift);
    const I lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    return _mm512_permutexvar_ps(_mm512_srl_epi32(lane, _mm_cvtsi32_si128(group_shift)), v);
  }
  // Elements [first, first + count) of a float array in the first count lanes, zeros after
  // them (count <= kLanes; nothing past them is read).
  static F load_first(const void* p, Dtype dtype, std::int64_t first, int count) {
    const auto mask = static_cast<__mmask16>((1u << count) - 1u);
    if (dtype == Dtype::float32)
      return _mm512_maskz_loadu_ps(mask, static_cast<const float*>(p) + first);
    const __m256i h = _mm256_maskz_loadu_epi16(mask, static_cast<const std::uint16_t*>(p) + first);
    return dtype == Dtype::float16
               ? _mm512_cvtph_ps(h)
               : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  // Lane l = table[index_l mod 16]: vpermps reads only the low 4 bits of each index, so
  // a field shifted down needs no mask (the tables over x of generic/gemv_tables.h).
  static F lookup_low_nibble(I index, const float* table) {
    return _mm512_permutexvar_ps(index, _mm512_loadu_ps(table));
  }

  // kLanes consecutive codes starting at the byte `p` (a multiple of kLanes codes into a
  // row), as floats in natural order. Reads exactly kLanes * bits / 8 bytes.
  template <int bits>
  static F codes(const std::uint8_t* p) {
    if constexpr (bits == 8) {
      return _mm512_cvtepi32_ps(
          _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
    } else {
      constexpr const auto& layout = kCodeLayout<bits, kLanes>;
      const __m128i raw = _mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << (2 * bits)) - 1u), p);
      __m512i v = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(raw), load_bytes(layout.byte_pick));
      v = _mm512_srlv_epi32(v, load_words(layout.shift));
      return _mm512_cvtepi32_ps(_mm512_and_si512(v, _mm512_set1_epi32((1 << bits) - 1)));
    }
  }

  // kLanes 4-bit codes starting at byte p (the low nibble first), mapped through the
  // 16 floats at `values` by one in-register permute.
  static F lookup16(const std::uint8_t* p, const float* values) {
    const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
    const __m512i pairs = _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(bytes, bytes));
    const __m512i shifts = _mm512_set_epi32(4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0);
    const __m512i idx = _mm512_and_si512(_mm512_srlv_epi32(pairs, shifts), _mm512_set1_epi32(15));
    return _mm512_permutexvar_ps(idx, _mm512_loadu_ps(values));
  }

  // The first `count` (<= kLanes) E8M0 scale bytes at p as float32 2^(e - 127), as
  // formats::E8M0 decodes them (the lanes after them as byte 0; nothing past them is
  // read): the byte moved into the exponent field (255 gives +inf); byte 0, 2^-127, is
  // the subnormal 0x00400000, which the maximum with it supplies.
  static F e8m0(const std::uint8_t* p, int count) {
    const __m512i e = _mm512_cvtepu8_epi32(first_bytes(p, count));
    return _mm512_castsi512_ps(
        _mm512_max_epu32(_mm512_slli_epi32(e, 23), _mm512_set1_epi32(0x00400000)));
  }

  // kLanes bytes at p, each a sign bit over a small float with E exponent (bias
  // 2^(E-1) - 1) and M mantissa bits, subnormals and no special values, as float32 (see
  // simd_avx2.h).
  template <int E, int M>
  static F minifloat8(const std::uint8_t* p) {
    return minifloat8<E, M>(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  // The first `count` (<= kLanes) of them, the lanes after as zero bytes (nothing past
  // them is read).
  template <int E, int M>
  static F minifloat8(const std::uint8_t* p, int count) {
    return minifloat8<E, M>(first_bytes(p, count));
  }
  // The first `bytes` (<= 64) bytes at p, zeros after them (nothing past them is read).
  static I load_words_first(const std::uint8_t* p, int bytes) {
    return _mm512_maskz_loadu_epi8(bytes >= 64 ? ~0ull : (1ull << bytes) - 1ull, p);
  }

 private:
  static __m128i first_bytes(const std::uint8_t* p, int count) {
    return _mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << count) - 1u), p);
  }
  template <int E, int M>
  static F minifloat8(__m128i bytes) {
    constexpr float kRebias = formats::minifloat::Grid<E, M>::kRebias;
    // The byte sign-extended and shifted: its E + M field bits land in float32's low
    // exponent and high mantissa bits, copies of the sign above them; one mask keeps bit 31.
    const __m512i c = _mm512_cvtepi8_epi32(bytes);
    const __m512i bits =
        _mm512_and_si512(_mm512_slli_epi32(c, 23 - M),
                         _mm512_set1_epi32(static_cast<int>(0x80000000u | (0x7Fu << (23 - M)))));
    return _mm512_mul_ps(_mm512_castsi512_ps(bits), _mm512_set1_ps(kRebias));
  }
  static float one(const void* p, Dtype dtype, std::int64_t i) {
    switch (dtype) {
      case Dtype::float16:
        return to_float(static_cast<const float16_t*>(p)[i]);
      case Dtype::bfloat16:
        return to_float(static_cast<const bfloat16_t*>(p)[i]);
      default:
        return static_cast<const float*>(p)[i];
    }
  }
  // Round to nearest even, as float_to_bfloat16_bits does for finite values.
  static __m512i bfloat16_bits(F v) {
    const __m512i x = _mm512_castps_si512(v);
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
    return _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(x, _mm512_set1_epi32(0x7FFF)), odd),
                             16);
  }
  static __m512i load_bytes(const std::array<std::uint8_t, 4 * kLanes>& a) {
    return _mm512_loadu_si512(a.data());
  }
  static __m512i load_words(const std::array<std::uint32_t, kLanes>& a) {
    return _mm512_loadu_si512(a.data());
  }
};

}  // namespace qlinear::kernels::avx512
