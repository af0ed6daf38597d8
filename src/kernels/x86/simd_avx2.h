// The vector operations the generic kernels use, for AVX2 with FMA and F16C (8 floats
// per vector). Included only by avx2.cpp, which is compiled with those flags.
#pragma once

#include <immintrin.h>

#include <array>
#include <cstdint>
#include <cstring>

#include "formats/minifloat.h"
#include "kernels/byte_codes.h"
#include "kernels/generic/code_layout.h"
#include "qlinear/dtype.h"

namespace qlinear::kernels::avx2 {

struct Simd {
  static constexpr int kLanes = 8;
  // Rows of x the few-rows kernel keeps in registers at once.
  static constexpr int kGemvRows = 4;
  static constexpr int kFieldPassRows = kGemvRows;  // one pass (generic/gemv_fields.h)
  // Micro-kernel tile: kTileRows rows of x by two vectors of output columns.
  static constexpr int kTileRows = 6;
  // Rows of x the float modes' few-rows kernel takes at once, and from which they take the
  // panel GEMM with W transposed; measured on a 2-vCPU AMD EPYC host, docs/kernels.md.
  static constexpr int kFpGemvRows = 4;
  // Never (generic/fp_modes.h): scaled vectors measured 0.86x (mxfp8), 0.96x (mxfp4) and
  // 1.10x (nvfp4) with this table on the Emerald Rapids Xeon, M = 4 and 8.
  static constexpr int kFpScaledRows = kFpGemvRows + 1;
  static constexpr int kMxfp4PanelRows = 9, kNvfp4PanelRows = 9, kMxfp8PanelRows = 11;
  using F = __m256;
  using I = __m256i;

  static F zero() { return _mm256_setzero_ps(); }
  static F set1(float v) { return _mm256_set1_ps(v); }
  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static F load(const float16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static F load(const bfloat16_t* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static void store(float16_t* p, F v) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
  static void store(bfloat16_t* p, F v) {
    const __m256i h = bfloat16_bits(v);
    const __m128i packed =
        _mm_packus_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), packed);
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
    return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
  static F round_to(F v, bfloat16_t) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(bfloat16_bits(v), 16));
  }
  static F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F add(F a, F b) { return _mm256_add_ps(a, b); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F div(F a, F b) { return _mm256_div_ps(a, b); }
  static F min(F a, F b) { return _mm256_min_ps(a, b); }
  static F max(F a, F b) { return _mm256_max_ps(a, b); }
  // x * 2^n for integral n in [-252, 254]: two powers of two built in the exponent
  // field, each normal, so only the last product rounds (exp's last step).
  static F scale_by_pow2(F x, F n) {
    const __m256i all = _mm256_cvtps_epi32(n), half = _mm256_srai_epi32(all, 1);
    auto pow2 = [](__m256i e) {
      return _mm256_castsi256_ps(
          _mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23));
    };
    return _mm256_mul_ps(_mm256_mul_ps(x, pow2(half)), pow2(_mm256_sub_epi32(all, half)));
  }
  static F round_even(F v) {
    return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  // Lane masks and selects: quantize computes kLanes groups' parameters with them.
  using Mask = __m256;
  static F abs(F v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }
  static Mask greater(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static Mask equal(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
  static F select(Mask m, F a, F b) { return _mm256_blendv_ps(b, a, m); }
  // Lane i = the kLanes lanes of v[i] reduced by op: a transposing tree of 7 ops. It
  // leaves lane j with input kOrder[j], so it reads the inputs through that involution.
  template <class Op>
  static F reduce_each(const F* v, Op op) {
    static constexpr int kOrder[kLanes] = {0, 2, 1, 3, 4, 6, 5, 7};
    F a[4], b[2];
    for (int i = 0; i < 4; ++i) {
      const F x = v[kOrder[i]], y = v[kOrder[i + 4]];
      a[i] = op(_mm256_permute2f128_ps(x, y, 0x20), _mm256_permute2f128_ps(x, y, 0x31));
    }
    for (int i = 0; i < 2; ++i) {
      b[i] = op(_mm256_shuffle_ps(a[i], a[i + 2], 0x44), _mm256_shuffle_ps(a[i], a[i + 2], 0xEE));
    }
    return op(_mm256_shuffle_ps(b[0], b[1], 0x88), _mm256_shuffle_ps(b[0], b[1], 0xDD));
  }
  // v[j] <- lane j of every v[i]: the kLanes x kLanes block transposed (pairs, then
  // quads inside each 128-bit half, then the halves).
  static void transpose(F v[kLanes]) {
    F t[8], q[8];
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);
      t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
      q[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
      q[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
      q[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
      q[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_permute2f128_ps(q[i], q[i + 4], 0x20);
      v[i + 4] = _mm256_permute2f128_ps(q[i], q[i + 4], 0x31);
    }
  }
  static float reduce_add(F v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
  }
  static float reduce_min(F v) {
    __m128 s = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_min_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_min_ss(s, _mm_movehdup_ps(s)));
  }
  static float reduce_max(F v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
  }
  // Codes as exact small integers in float lanes -> one byte each.
  static void store_code_bytes(std::uint8_t* p, F codes) {
    const __m256i words = _mm256_cvttps_epi32(codes);
    const __m128i halves =
        _mm_packus_epi32(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_packus_epi16(halves, halves));
  }
  // kLanes codes below 16 as exact floats -> kLanes / 2 bytes, two codes to a byte (the
  // first in the low nibble): each 64-bit lane's second code is shifted next to its first.
  static void store_code_nibbles(std::uint8_t* p, F codes) {
    const __m256i words = _mm256_cvttps_epi32(codes);
    const __m256i pairs = _mm256_or_si256(words, _mm256_srli_epi64(words, 28));
    const __m128i first =
        _mm_setr_epi8(0, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m128i bytes =
        _mm_unpacklo_epi16(_mm_shuffle_epi8(_mm256_castsi256_si128(pairs), first),
                           _mm_shuffle_epi8(_mm256_extracti128_si256(pairs, 1), first));
    const int four = _mm_cvtsi128_si32(bytes);
    std::memcpy(p, &four, sizeof(four));
  }
  // 8 codes, one per byte, packed into 8 * bits bits (shifts and masks: pext is slow on
  // the AMD CPUs that stop at AVX2).
  template <int bits>
  static std::uint64_t pack_byte_codes(std::uint64_t x) {
    return kernels::pack_byte_codes<bits>(x);
  }

  // Round to nearest even, as float_to_bfloat16_bits does for finite values.
  static __m256i bfloat16_bits(F v) {
    const __m256i x = _mm256_castps_si256(v);
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
    return _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7FFF)), odd),
                             16);
  }

  // Packed 32-bit words, for the field kernel (generic/gemv_fields.h).
  static I load_words(const std::uint8_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const I*>(p));
  }
  // 24 bytes, three per lane (the top byte zero): four dwords to each 128-bit lane, then
  // a byte shuffle within it. Reads exactly 24 bytes.
  static I load_triples(const std::uint8_t* p) {
    const I bytes = _mm256_maskload_epi32(reinterpret_cast<const int*>(p),
                                          _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0));
    const I quads = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 1, 2, 0, 3, 4, 5, 0));
    return _mm256_shuffle_epi8(quads, _mm256_broadcastsi128_si256(_mm_setr_epi8(
                                          0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1)));
  }
  // 20 bytes, five per pair of lanes: bits 0-23 of each five to the even lane, bits 16-39
  // shifted down by 4 to the odd one. 128-bit lane 1 starts at byte 10: dword 2, offset 2.
  static I load_quintets(const std::uint8_t* p) {
    const I bytes = _mm256_maskload_epi32(reinterpret_cast<const int*>(p),
                                          _mm256_setr_epi32(-1, -1, -1, -1, -1, 0, 0, 0));
    const I quads = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 1, 2, 3, 2, 3, 4, 5));
    const I pick =
        _mm256_setr_m128i(_mm_setr_epi8(0, 1, 2, -1, 2, 3, 4, -1, 5, 6, 7, -1, 7, 8, 9, -1),
                          _mm_setr_epi8(2, 3, 4, -1, 4, 5, 6, -1, 7, 8, 9, -1, 9, 10, 11, -1));
    return _mm256_srlv_epi32(_mm256_shuffle_epi8(quads, pick),
                             _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4));
  }
  template <int n>
  static I shift_right(I v) {
    return _mm256_srli_epi32(v, n);
  }
  // Bit fields of float lanes, for the float formats' encoders (generic/fp_encode.h).
  static I as_bits(F v) { return _mm256_castps_si256(v); }
  static I set1_bits(std::uint32_t v) { return _mm256_set1_epi32(static_cast<int>(v)); }
  static I add_bits(I a, I b) { return _mm256_add_epi32(a, b); }
  static I and_bits(I a, I b) { return _mm256_and_si256(a, b); }
  // Lanes below 2^24 as exact floats.
  static F int_to_float(I v) { return _mm256_cvtepi32_ps(v); }
  // code * 2^(bits * pos) for the code in bits [bits*pos, bits*(pos+1)) of each word.
  template <int bits>
  static F exact_field(I words, int pos) {
    const I mask = _mm256_set1_epi32(((1 << bits) - 1) << (bits * pos));
    return _mm256_cvtepi32_ps(_mm256_and_si256(words, mask));
  }
  // Lane l = element first + (l >> group_shift) of a float array (2^group_shift lanes
  // per group).
  static F lane_groups(const void* p, Dtype dtype, std::int64_t first, int group_shift) {
    const int count = kLanes >> group_shift;
    if (count <= 1) return _mm256_set1_ps(one(p, dtype, first));
    alignas(32) float values[kLanes] = {};
    for (int i = 0; i < count; ++i) values[i] = one(p, dtype, first + i);
    const I lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_permutevar8x32_ps(_mm256_load_ps(values),
                                    _mm256_srl_epi32(lane, _mm_cvtsi32_si128(group_shift)));
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

  // kLanes consecutive codes starting at the byte `p` (a multiple of kLanes codes into a
  // row), as floats in natural order. Reads exactly kLanes * bits / 8 bytes.
  template <int bits>
  static F codes(const std::uint8_t* p) {
    if constexpr (bits == 8) {
      return _mm256_cvtepi32_ps(
          _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
    } else {
      constexpr const auto& layout = kCodeLayout<bits, kLanes>;
      std::uint64_t raw = 0;
      std::memcpy(&raw, p, bits);
      __m256i v = _mm256_shuffle_epi8(
          _mm256_set1_epi64x(static_cast<long long>(raw)),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(layout.byte_pick.data())));
      v = _mm256_srlv_epi32(
          v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(layout.shift.data())));
      return _mm256_cvtepi32_ps(_mm256_and_si256(v, _mm256_set1_epi32((1 << bits) - 1)));
    }
  }

  // kLanes 4-bit codes starting at byte p (the low nibble first), mapped through the
  // 16 floats at `values` by two in-register permutes.
  static F lookup16(const std::uint8_t* p, const float* values) {
    std::uint32_t raw;
    std::memcpy(&raw, p, 4);
    const __m256i idx =
        _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(raw)),
                                           _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                         _mm256_set1_epi32(15));
    const F low = _mm256_permutevar8x32_ps(_mm256_loadu_ps(values), idx);
    const F high = _mm256_permutevar8x32_ps(_mm256_loadu_ps(values + 8), idx);
    return _mm256_blendv_ps(low, high, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
  }

  // FP4 by byte lookups (generic/fp4_bytes.h): the 16 values' bfloat16 low and high
  // bytes, in both 128-bit halves.
  struct Fp4Tables {
    __m256i low, high;
  };
  static Fp4Tables fp4_tables(const std::uint8_t* low, const std::uint8_t* high) {
    return {_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(low))),
            _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(high)))};
  }
  // Lane l of fp4_block's out[v] holds code kFp4BlockOrder[8 v + l] of its 64: the low
  // (v < 4) or high nibble of byte 2 (l % 4) + (v % 2), 8 bytes on for v % 4 >= 2 and 16
  // for l >= 4 (the 128-bit halves of the interleaves).
  static constexpr auto kFp4BlockOrder = [] {
    std::array<int, 64> order{};
    for (int v = 0; v < 8; ++v) {
      for (int l = 0; l < 8; ++l) {
        const int byte = 2 * (l % 4) + v % 2 + (v % 4 >= 2 ? 8 : 0) + (l >= 4 ? 16 : 0);
        order[8 * v + l] = 2 * byte + v / 4;
      }
    }
    return order;
  }();
  // The 64 codes of the 32 bytes at p (the low nibble first) as floats: each nibble looked
  // up as its bfloat16's two bytes, the two interleaved into words and each word moved
  // into a float32's top half.
  static void fp4_block(const std::uint8_t* p, const Fp4Tables& t, F (&out)[8]) {
    const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i nibble = _mm256_set1_epi8(15);
    const __m256i codes[2] = {_mm256_and_si256(bytes, nibble),
                              _mm256_and_si256(_mm256_srli_epi16(bytes, 4), nibble)};
    const __m256i top = _mm256_set1_epi32(static_cast<int>(0xFFFF0000u));
    for (int h = 0; h < 2; ++h) {
      const __m256i low = _mm256_shuffle_epi8(t.low, codes[h]);
      const __m256i high = _mm256_shuffle_epi8(t.high, codes[h]);
      const __m256i words[2] = {_mm256_unpacklo_epi8(low, high), _mm256_unpackhi_epi8(low, high)};
      for (int i = 0; i < 2; ++i) {
        out[4 * h + 2 * i] = _mm256_castsi256_ps(_mm256_slli_epi32(words[i], 16));
        out[4 * h + 2 * i + 1] = _mm256_castsi256_ps(_mm256_and_si256(words[i], top));
      }
    }
  }
  // Lanes 0-3 `lower`, 4-7 `upper`.
  static F set_halves(float lower, float upper) {
    return _mm256_setr_m128(_mm_set1_ps(lower), _mm_set1_ps(upper));
  }

  // kLanes bytes at p, each a sign bit over a small float with E exponent (bias
  // 2^(E-1) - 1) and M mantissa bits, subnormals and no special values, as float32: the
  // fields move into float32's places and one exact multiply by 2^(127 - bias) rebiases
  // them (subnormal codes become float32 subnormals first).
  template <int E, int M>
  static F minifloat8(const std::uint8_t* p) {
    constexpr float kRebias = formats::minifloat::Grid<E, M>::kRebias;
    // The byte sign-extended and shifted: its E + M field bits land in float32's low
    // exponent and high mantissa bits, copies of the sign above them; one mask keeps bit 31.
    const __m256i c = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    const __m256i bits =
        _mm256_and_si256(_mm256_slli_epi32(c, 23 - M),
                         _mm256_set1_epi32(static_cast<int>(0x80000000u | (0x7Fu << (23 - M)))));
    return _mm256_mul_ps(_mm256_castsi256_ps(bits), _mm256_set1_ps(kRebias));
  }
};

}  // namespace qlinear::kernels::avx2
