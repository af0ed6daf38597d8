#include "io/gguf_blocks.h"

#include <cstring>

#include "io/gguf_types.h"
#include "qlinear/dtype.h"

namespace qlinear::io {
namespace {

constexpr int kGroup = AffineBlock::kGroup;

float half_at(const std::uint8_t* p) {
  std::uint16_t bits;
  std::memcpy(&bits, p, sizeof bits);
  return float16_bits_to_float(bits);
}

// Q4_0 / Q4_1 / Q5_0 / Q5_1: [d][m (type 1)][qh (Q5)][16 bytes]; value k < 16 in the low
// nibble of byte k, value 16 + k in its high nibble, the fifth bit of value k in bit k of qh.
void decode_small_block(const std::uint8_t* p, bool has_min, bool five_bits, AffineBlock& out) {
  const float d = half_at(p);
  const int offset = five_bits ? 16 : 8;
  out.scale[0] = d;
  out.bias[0] = has_min ? half_at(p + 2) : -static_cast<float>(offset) * d;
  p += has_min ? 4 : 2;
  std::uint32_t high = 0;
  if (five_bits) {
    std::memcpy(&high, p, sizeof high);
    p += 4;
  }
  for (int k = 0; k < 16; ++k) {
    out.codes[k] = static_cast<std::uint8_t>((p[k] & 0x0Fu) | (((high >> k) & 1u) << 4));
    out.codes[16 + k] = static_cast<std::uint8_t>((p[k] >> 4) | (((high >> (16 + k)) & 1u) << 4));
  }
}

// The 6-bit scale and min of sub-block j from the 12 packed bytes of Q4_K / Q5_K.
void k_scale_min(const std::uint8_t* packed, int j, int& scale, int& min) {
  if (j < 4) {
    scale = packed[j] & 63;
    min = packed[j + 4] & 63;
  } else {
    scale = (packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4);
    min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
  }
}

// Q4_K: [d][dmin][12 scale bytes][128 bytes]; Q5_K adds [32 high-bit bytes] before the
// 128. Sub-block 2c takes the low nibbles of bytes 32c..32c+31, sub-block 2c+1 their high
// nibbles; the fifth bit of sub-block s's value l is bit s of qh[l].
void decode_k_block(const std::uint8_t* p, bool five_bits, AffineBlock& out) {
  const float d = half_at(p);
  const float dmin = half_at(p + 2);
  const std::uint8_t* packed = p + 4;
  const std::uint8_t* high = p + 16;
  const std::uint8_t* low = five_bits ? p + 48 : p + 16;
  for (int s = 0; s < 8; ++s) {
    int scale, min;
    k_scale_min(packed, s, scale, min);
    out.scale[s] = d * static_cast<float>(scale);
    out.bias[s] = -(dmin * static_cast<float>(min));
    const std::uint8_t* nibbles = low + 32 * (s / 2);
    for (int l = 0; l < kGroup; ++l) {
      int code = s % 2 == 0 ? nibbles[l] & 0x0F : nibbles[l] >> 4;
      if (five_bits) code |= ((high[l] >> s) & 1) << 4;
      out.codes[kGroup * s + l] = static_cast<std::uint8_t>(code);
    }
  }
}

// Q2_K: [16 scale bytes (low nibble scale, high nibble min)][64 bytes of 2-bit codes][d]
// [dmin]; value j of each 128 in bits 2 (j / 32) of byte j % 32 of its 32 bytes.
void dequantize_q2_k(const std::uint8_t* p, float* out) {
  const float d = half_at(p + 80);
  const float dmin = half_at(p + 82);
  for (int v = 0; v < 256; ++v) {
    const int j = v % 128;
    const std::uint8_t sub = p[v / 16];
    const float scale = d * static_cast<float>(sub & 0x0F);
    const float min = dmin * static_cast<float>(sub >> 4);
    const int code = (p[16 + 32 * (v / 128) + j % 32] >> (2 * (j / 32))) & 3;
    out[v] = scale * static_cast<float>(code) - min;
  }
}

// Q3_K: [32 bytes of third bits][64 bytes of 2-bit codes as Q2_K][12 bytes of 6-bit
// scales][d]; value v is (code - 4, or code when bit v / 32 of hmask[v % 32] is set) times
// d * (scale - 32). Scale s: low 4 bits from byte s % 8 (nibble s / 8), high 2 bits from
// byte 8 + s % 4 (bits 2 (s / 4)).
void dequantize_q3_k(const std::uint8_t* p, float* out) {
  const std::uint8_t* hmask = p;
  const std::uint8_t* codes = p + 32;
  const std::uint8_t* packed = p + 96;
  const float d = half_at(p + 108);
  for (int v = 0; v < 256; ++v) {
    const int s = v / 16;
    const int scale = (((packed[s % 8] >> (4 * (s / 8))) & 0x0F) |
                       (((packed[8 + s % 4] >> (2 * (s / 4))) & 3) << 4)) -
                      32;
    const int j = v % 128;
    const int low = (codes[32 * (v / 128) + j % 32] >> (2 * (j / 32))) & 3;
    const int code = low - (((hmask[v % 32] >> (v / 32)) & 1) ? 0 : 4);
    out[v] = d * static_cast<float>(scale) * static_cast<float>(code);
  }
}

// Q6_K: [128 bytes of low nibbles][64 bytes of high 2 bits][16 int8 scales][d]; value j of
// each 128 has its low nibble in byte j % 64 (nibble j / 64), its high bits in byte j % 32
// (bits 2 (j / 32)), and is (code - 32) * (d * scale[v / 16]).
void dequantize_q6_k(const std::uint8_t* p, float* out) {
  const float d = half_at(p + 208);
  for (int v = 0; v < 256; ++v) {
    const int c = v / 128;
    const int j = v % 128;
    const int low = (p[64 * c + j % 64] >> (4 * (j / 64))) & 0x0F;
    const int high = (p[128 + 32 * c + j % 32] >> (2 * (j / 32))) & 3;
    const auto scale = static_cast<std::int8_t>(p[192 + v / 16]);
    out[v] = d * static_cast<float>(scale) * static_cast<float>((low | (high << 4)) - 32);
  }
}

}  // namespace

int affine_bits(std::uint32_t type) {
  switch (type) {
    case kGgmlQ4_0:
    case kGgmlQ4_1:
    case kGgmlQ4_K:
      return 4;
    case kGgmlQ5_0:
    case kGgmlQ5_1:
    case kGgmlQ5_K:
      return 5;
    case kGgmlQ8_0:
      return 8;
    default:
      return 0;
  }
}

void decode_affine_block(std::uint32_t type, const std::byte* block, AffineBlock& out) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(block);
  switch (type) {
    case kGgmlQ4_0:
    case kGgmlQ4_1:
    case kGgmlQ5_0:
    case kGgmlQ5_1:
      return decode_small_block(p, type == kGgmlQ4_1 || type == kGgmlQ5_1,
                                type == kGgmlQ5_0 || type == kGgmlQ5_1, out);
    case kGgmlQ8_0: {
      const float d = half_at(p);
      out.scale[0] = d;
      out.bias[0] = -128.0f * d;
      for (int k = 0; k < kGroup; ++k) out.codes[k] = p[2 + k] ^ 0x80u;  // int8 + 128
      return;
    }
    default:
      return decode_k_block(p, type == kGgmlQ5_K, out);
  }
}

bool can_dequantize(std::uint32_t type) {
  return affine_bits(type) > 0 || type == kGgmlQ2_K || type == kGgmlQ3_K || type == kGgmlQ6_K;
}

void dequantize_block(std::uint32_t type, const std::byte* block, float* out) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(block);
  if (type == kGgmlQ2_K) return dequantize_q2_k(p, out);
  if (type == kGgmlQ3_K) return dequantize_q3_k(p, out);
  if (type == kGgmlQ6_K) return dequantize_q6_k(p, out);
  AffineBlock affine;
  decode_affine_block(type, block, affine);
  const int values = static_cast<int>(ggml_type(type)->block_size);
  for (int v = 0; v < values; ++v) {
    out[v] =
        affine.scale[v / kGroup] * static_cast<float>(affine.codes[v]) + affine.bias[v / kGroup];
  }
}

void dequantize_block_as_mlx(std::uint32_t type, const std::byte* block, float* out) {
  if (type != kGgmlQ4_K) return dequantize_block(type, block, out);
  AffineBlock affine;
  decode_affine_block(type, block, affine);
  for (int v = 0; v < AffineBlock::kMaxValues; ++v) {
    const int even = v / (2 * kGroup) * 2;
    out[v] = affine.scale[even] * static_cast<float>(affine.codes[v]) + affine.bias[even];
  }
}

}  // namespace qlinear::io
