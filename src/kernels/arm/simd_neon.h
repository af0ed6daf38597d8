// The vector operations the generic kernels use, for Advanced SIMD (NEON) on AArch64: 4
// floats per vector, 32 vector registers. Every instruction used is part of base ARMv8-A
// (float16 <-> float32 conversion, FRINTN, FDIV and TBL included), so neon.cpp needs no
// extra flags. Included only by neon.cpp.
#pragma once

#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "formats/minifloat.h"
#include "kernels/byte_codes.h"
#include "qlinear/dtype.h"

namespace qlinear::kernels::neon {

struct Simd {
  static constexpr int kLanes = 4;
  // Rows of x the few-rows kernel keeps in registers at once (32 registers, as AVX-512).
  static constexpr int kGemvRows = 8;
  static constexpr int kFieldPassRows = kGemvRows;  // one pass (generic/gemv_fields.h)
  // Micro-kernel tile: kTileRows rows of x by two vectors of output columns, i.e. 16
  // accumulators, 2 panel vectors and a broadcast out of 32 registers.
  static constexpr int kTileRows = 8;
  // Rows of x the float modes' few-rows kernel takes at once, and from which they take the
  // panel GEMM with W transposed; unmeasured: AVX2's.
  static constexpr int kFpGemvRows = 4;
  static constexpr int kFpScaledRows = kFpGemvRows + 1;  // never (AVX2's, unmeasured)
  static constexpr int kMxfp4PanelRows = 9, kNvfp4PanelRows = 9, kMxfp8PanelRows = 11;
  using F = float32x4_t;
  using I = uint32x4_t;

  static F zero() { return vdupq_n_f32(0.0f); }
  static F set1(float v) { return vdupq_n_f32(v); }
  static F load(const float* p) { return vld1q_f32(p); }
  static F load(const float16_t* p) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(reinterpret_cast<const std::uint16_t*>(p))));
  }
  static F load(const bfloat16_t* p) {
    return vreinterpretq_f32_u32(
        vshll_n_u16(vld1_u16(reinterpret_cast<const std::uint16_t*>(p)), 16));
  }
  static void store(float* p, F v) { vst1q_f32(p, v); }
  // FPCR's default rounding mode, to nearest even, as F16C's _MM_FROUND_TO_NEAREST_INT.
  static void store(float16_t* p, F v) {
    vst1_u16(reinterpret_cast<std::uint16_t*>(p), vreinterpret_u16_f16(vcvt_f16_f32(v)));
  }
  static void store(bfloat16_t* p, F v) {
    vst1_u16(reinterpret_cast<std::uint16_t*>(p), vmovn_u32(bfloat16_bits(v)));
  }
  // Scalar conversions, through intrinsics so that no shared inline code is instantiated.
  static float to_float(float v) { return v; }
  static float to_float(float16_t h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h.bits))), 0);
  }
  static float to_float(bfloat16_t h) {
    return vget_lane_f32(vreinterpret_f32_u32(vdup_n_u32(static_cast<std::uint32_t>(h.bits) << 16)),
                         0);
  }
  static void store_one(float* p, float v) { *p = v; }
  static void store_one(float16_t* p, float v) {
    p->bits = vget_lane_u16(vreinterpret_u16_f16(vcvt_f16_f32(vdupq_n_f32(v))), 0);
  }
  static void store_one(bfloat16_t* p, float v) {
    const std::uint32_t x = vgetq_lane_u32(vreinterpretq_u32_f32(vdupq_n_f32(v)), 0);
    p->bits = static_cast<std::uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
  }
  // v rounded to T's precision (nearest even) and widened back.
  static F round_to(F v, float) { return v; }
  static F round_to(F v, float16_t) { return vcvt_f32_f16(vcvt_f16_f32(v)); }
  static F round_to(F v, bfloat16_t) {
    return vreinterpretq_f32_u32(vshlq_n_u32(bfloat16_bits(v), 16));
  }
  static F fmadd(F a, F b, F c) { return vfmaq_f32(c, a, b); }
  static F add(F a, F b) { return vaddq_f32(a, b); }
  static F sub(F a, F b) { return vsubq_f32(a, b); }
  static F mul(F a, F b) { return vmulq_f32(a, b); }
  static F div(F a, F b) { return vdivq_f32(a, b); }
  // (FMIN/FMAX order -0 below +0 where x86 returns the second operand; the kernels'
  // inputs have no NaN and the sign of a zero minimum never reaches a group's parameters.)
  static F min(F a, F b) { return vminq_f32(a, b); }
  static F max(F a, F b) { return vmaxq_f32(a, b); }
  // x * 2^n for integral n in [-252, 254]: two powers of two built in the exponent
  // field, each normal, so only the last product rounds (exp's last step).
  static F scale_by_pow2(F x, F n) {
    const int32x4_t all = vcvtnq_s32_f32(n), half = vshrq_n_s32(all, 1);
    auto pow2 = [](int32x4_t e) {
      return vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(e, vdupq_n_s32(127)), 23));
    };
    return vmulq_f32(vmulq_f32(x, pow2(half)), pow2(vsubq_s32(all, half)));
  }
  static F round_even(F v) { return vrndnq_f32(v); }
  // Lane masks and selects: quantize computes kLanes groups' parameters with them.
  using Mask = uint32x4_t;
  static F abs(F v) { return vabsq_f32(v); }
  static Mask greater(F a, F b) { return vcgtq_f32(a, b); }
  static Mask equal(F a, F b) { return vceqq_f32(a, b); }
  static F select(Mask m, F a, F b) { return vbslq_f32(m, a, b); }
  // Lane i = the kLanes lanes of v[i] reduced by op: a transposing tree of 3 ops.
  template <class Op>
  static F reduce_each(const F* v, Op op) {
    const F a = op(vuzp1q_f32(v[0], v[1]), vuzp2q_f32(v[0], v[1]));
    const F b = op(vuzp1q_f32(v[2], v[3]), vuzp2q_f32(v[2], v[3]));
    return op(vuzp1q_f32(a, b), vuzp2q_f32(a, b));
  }
  // v[j] <- lane j of every v[i]: the kLanes x kLanes block transposed.
  static void transpose(F v[kLanes]) {
    const float32x4x2_t a = vtrnq_f32(v[0], v[1]), b = vtrnq_f32(v[2], v[3]);
    v[0] = vcombine_f32(vget_low_f32(a.val[0]), vget_low_f32(b.val[0]));
    v[1] = vcombine_f32(vget_low_f32(a.val[1]), vget_low_f32(b.val[1]));
    v[2] = vcombine_f32(vget_high_f32(a.val[0]), vget_high_f32(b.val[0]));
    v[3] = vcombine_f32(vget_high_f32(a.val[1]), vget_high_f32(b.val[1]));
  }
  static float reduce_add(F v) { return vaddvq_f32(v); }
  static float reduce_min(F v) { return vminvq_f32(v); }
  static float reduce_max(F v) { return vmaxvq_f32(v); }
  // Codes as exact small integers in float lanes -> one byte each.
  static void store_code_bytes(std::uint8_t* p, F codes) {
    const uint16x4_t halves = vmovn_u32(vcvtq_u32_f32(codes));
    const uint8x8_t bytes = vmovn_u16(vcombine_u16(halves, halves));
    const std::uint32_t four = vget_lane_u32(vreinterpret_u32_u8(bytes), 0);
    std::memcpy(p, &four, sizeof(four));
  }
  // kLanes codes below 16 as exact floats -> kLanes / 2 bytes, two codes to a byte (the
  // first in the low nibble): each 64-bit lane's second code is shifted next to its first.
  static void store_code_nibbles(std::uint8_t* p, F codes) {
    const uint64x2_t words = vreinterpretq_u64_u32(vcvtq_u32_f32(codes));
    const uint64x2_t pairs = vsraq_n_u64(words, words, 28);  // words + (words >> 28)
    const uint8x8_t bytes = vreinterpret_u8_u32(vmovn_u64(pairs));
    p[0] = vget_lane_u8(bytes, 0);
    p[1] = vget_lane_u8(bytes, 4);
  }
  // 8 codes, one per byte, packed into 8 * bits bits.
  template <int bits>
  static std::uint64_t pack_byte_codes(std::uint64_t x) {
    return kernels::pack_byte_codes<bits>(x);
  }

  // Packed 32-bit words, for the field kernel (generic/gemv_fields.h).
  static I load_words(const std::uint8_t* p) { return vreinterpretq_u32_u8(vld1q_u8(p)); }
  // 12 bytes, three per lane (the top byte zero).
  static I load_triples(const std::uint8_t* p) {
    static constexpr std::uint8_t kSpread[16] = {0, 1, 2, 255, 3, 4,  5,  255,
                                                 6, 7, 8, 255, 9, 10, 11, 255};
    return vreinterpretq_u32_u8(vqtbl1q_u8(load_first<12>(p), vld1q_u8(kSpread)));
  }
  // 10 bytes, five per pair of lanes: bits 0-23 of each five to the even lane, bits 16-39
  // shifted down by 4 to the odd one.
  static I load_quintets(const std::uint8_t* p) {
    static constexpr std::uint8_t kSpread[16] = {0, 1, 2, 255, 2, 3, 4, 255,
                                                 5, 6, 7, 255, 7, 8, 9, 255};
    static constexpr std::int32_t kShift[4] = {0, -4, 0, -4};
    const uint8x16_t spread = vqtbl1q_u8(load_first<10>(p), vld1q_u8(kSpread));
    return vshlq_u32(vreinterpretq_u32_u8(spread), vld1q_s32(kShift));
  }
  // The n bytes at p (8 < n < 16) in the low bytes of a vector: reads exactly n bytes,
  // so a block at the end of a buffer is never read past.
  template <int n>
  static uint8x16_t load_first(const std::uint8_t* p) {
    std::uint8_t bytes[16] = {};
    std::memcpy(bytes, p, n);
    return vld1q_u8(bytes);
  }
  template <int n>
  static I shift_right(I v) {
    return vshrq_n_u32(v, n);
  }
  // Bit fields of float lanes, for the float formats' encoders (generic/fp_encode.h).
  static I as_bits(F v) { return vreinterpretq_u32_f32(v); }
  static I set1_bits(std::uint32_t v) { return vdupq_n_u32(v); }
  static I add_bits(I a, I b) { return vaddq_u32(a, b); }
  static I and_bits(I a, I b) { return vandq_u32(a, b); }
  // Lanes below 2^24 as exact floats.
  static F int_to_float(I v) { return vcvtq_f32_u32(v); }
  // code * 2^(bits * pos) for the code in bits [bits*pos, bits*(pos+1)) of each word.
  template <int bits>
  static F exact_field(I words, int pos) {
    const I mask = vdupq_n_u32(((1u << bits) - 1u) << (bits * pos));
    return vcvtq_f32_u32(vandq_u32(words, mask));
  }
  // Lane l = element first + (l >> group_shift) of a float array (2^group_shift lanes
  // per group).
  static F lane_groups(const void* p, Dtype dtype, std::int64_t first, int group_shift) {
    if ((kLanes >> group_shift) <= 1) return vdupq_n_f32(one(p, dtype, first));
    if (group_shift == 1) {
      const float a = one(p, dtype, first);
      const float b = one(p, dtype, first + 1);
      return vcombine_f32(vdup_n_f32(a), vdup_n_f32(b));
    }
    alignas(16) float values[kLanes];
    for (int i = 0; i < kLanes; ++i) values[i] = one(p, dtype, first + i);
    return vld1q_f32(values);
  }

  // kLanes consecutive codes from bit `offset` (0, or 4 when kLanes codes are not whole
  // bytes: 3 and 5 bits) of the byte `p` on, as floats in natural order. Four codes fit in
  // one 32-bit word: each lane shifts its own code down and masks it. Reads exactly the
  // ceil(kLanes * bits / 8) bytes that hold them.
  template <int bits>
  static F codes(const std::uint8_t* p, int offset = 0) {
    constexpr int kBytes = (kLanes * bits + 7) / 8;
    std::uint32_t raw = 0;
    std::memcpy(&raw, p, kBytes);
    static constexpr std::int32_t kShifts[kLanes] = {0, -bits, -2 * bits, -3 * bits};
    const int32x4_t shifts = vsubq_s32(vld1q_s32(kShifts), vdupq_n_s32(offset));
    const I v = vshlq_u32(vdupq_n_u32(raw), shifts);
    return vcvtq_f32_u32(vandq_u32(v, vdupq_n_u32((1u << bits) - 1u)));
  }

  // kLanes 4-bit codes starting at byte p (the low nibble first), mapped through the
  // 16 floats at `values` by one table lookup over their 64 bytes: lane j picks bytes
  // 4*code_j .. 4*code_j + 3.
  static F lookup16(const std::uint8_t* p, const float* values) {
    std::uint16_t raw;
    std::memcpy(&raw, p, 2);
    static constexpr std::int32_t kShifts[kLanes] = {0, -4, -8, -12};
    const I idx = vandq_u32(vshlq_u32(vdupq_n_u32(raw), vld1q_s32(kShifts)), vdupq_n_u32(15));
    const I bytes = vmlaq_n_u32(vdupq_n_u32(0x03020100u), idx, 0x04040404u);
    uint8x16x4_t table;
    table.val[0] = vreinterpretq_u8_f32(vld1q_f32(values));
    table.val[1] = vreinterpretq_u8_f32(vld1q_f32(values + 4));
    table.val[2] = vreinterpretq_u8_f32(vld1q_f32(values + 8));
    table.val[3] = vreinterpretq_u8_f32(vld1q_f32(values + 12));
    return vreinterpretq_f32_u8(vqtbl4q_u8(table, vreinterpretq_u8_u32(bytes)));
  }

  // kLanes bytes at p (2 kLanes 4-bit codes) mapped through the 16 floats at `values`:
  // `even` gets the low nibbles (codes 2l), `odd` the high ones (one TBL each, as lookup16).
  static void lookup16_pairs(const std::uint8_t* p, const float* values, F& even, F& odd) {
    std::uint32_t raw;
    std::memcpy(&raw, p, 4);
    static constexpr std::int32_t kShifts[kLanes] = {0, -8, -16, -24};
    const I bytes = vandq_u32(vshlq_u32(vdupq_n_u32(raw), vld1q_s32(kShifts)), vdupq_n_u32(255));
    uint8x16x4_t table;
    table.val[0] = vreinterpretq_u8_f32(vld1q_f32(values));
    table.val[1] = vreinterpretq_u8_f32(vld1q_f32(values + 4));
    table.val[2] = vreinterpretq_u8_f32(vld1q_f32(values + 8));
    table.val[3] = vreinterpretq_u8_f32(vld1q_f32(values + 12));
    auto pick = [&](I idx) {
      const I picks = vmlaq_n_u32(vdupq_n_u32(0x03020100u), idx, 0x04040404u);
      return vreinterpretq_f32_u8(vqtbl4q_u8(table, vreinterpretq_u8_u32(picks)));
    };
    even = pick(vandq_u32(bytes, vdupq_n_u32(15)));
    odd = pick(vshrq_n_u32(bytes, 4));
  }

  // kLanes bytes at p, each a sign bit over a small float with E exponent (bias
  // 2^(E-1) - 1) and M mantissa bits, subnormals and no special values, as float32 (see
  // simd_avx2.h). Needs FPCR.FZ clear (the AArch64 Linux default) for subnormal codes.
  template <int E, int M>
  static F minifloat8(const std::uint8_t* p) {
    constexpr float kRebias = formats::minifloat::Grid<E, M>::kRebias;
    std::uint32_t raw;
    std::memcpy(&raw, p, 4);
    const I c = vmovl_u16(vget_low_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(raw)))));
    const I fields = vshlq_n_u32(vandq_u32(c, vdupq_n_u32(0x7F)), 23 - M);
    const I sign = vshlq_n_u32(vandq_u32(c, vdupq_n_u32(0x80)), 24);
    const F magnitude = vmulq_f32(vreinterpretq_f32_u32(fields), vdupq_n_f32(kRebias));
    return vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(magnitude), sign));
  }

 private:
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
  static I bfloat16_bits(F v) {
    const I x = vreinterpretq_u32_f32(v);
    const I odd = vandq_u32(vshrq_n_u32(x, 16), vdupq_n_u32(1));
    return vshrq_n_u32(vaddq_u32(vaddq_u32(x, vdupq_n_u32(0x7FFF)), odd), 16);
  }
};

}  // namespace qlinear::kernels::neon
