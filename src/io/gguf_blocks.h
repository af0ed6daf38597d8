// The values inside one block of a quantized GGUF tensor, in the float32 arithmetic of
// ggml's own dequantization (ggml-quants.c, and gguf-py's quants.py, which agree).
#pragma once

#include <cstddef>
#include <cstdint>

namespace qlinear::io {

// A block of a type whose values are affine over groups of 32: value k of group g is
// scale[g] * codes[32 g + k] + bias[g]. The float32 products are the ones ggml computes
// (d * sc and dmin * m for the K-quants, d and -8 d or -16 d for Q4_0 and Q5_0), and the
// sums are exact or the same operation ggml rounds, so nothing is lost.
struct AffineBlock {
  static constexpr int kGroup = 32;
  static constexpr int kMaxValues = 256;
  float scale[kMaxValues / kGroup];
  float bias[kMaxValues / kGroup];
  std::uint8_t codes[kMaxValues];
};

// The code width of a type that is affine over groups of 32 (Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q4_K, Q5_K), else 0.
int affine_bits(std::uint32_t type);

// For a type with affine_bits(type) > 0. Q8_0's int8 codes come out as q + 128.
void decode_affine_block(std::uint32_t type, const std::byte* block, AffineBlock& out);

// Whether dequantize_block knows the type: the affine types and Q2_K, Q3_K, Q6_K.
bool can_dequantize(std::uint32_t type);

// The block's values (32 or 256) as ggml computes them in float32.
void dequantize_block(std::uint32_t type, const std::byte* block, float* out);

// As dequantize_block, except for Q4_K: gguflib (MLX 0.32.4's GGUF library) applies each
// even sub-block's scale and min to the odd sub-block after it too.
void dequantize_block_as_mlx(std::uint32_t type, const std::byte* block, float* out);

}  // namespace qlinear::io
