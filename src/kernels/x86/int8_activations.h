// x quantized to int8 per row and weight group, for the int8-activation matmul:
//   d[r, g]  = max |x[r, g]| / 127                        (float32 division)
//   xq[r, k] = round_half_even(x[r, k] / d[r, g]) in [-127, 127]   (0 where d is 0)
//   sum[r, g] = d[r, g] * total[r, g], total the exact integer sum of xq[r, g], for the
//               bias term (and total alone for the FP4 codes' offset, int8_fp4.h)
// so that the matmul computes xq * d times the dequantized W (the sum of the unquantized x
// would leave x's rounding errors multiplied by the codes alone, s * q = w - b, which
// lack the bias's cancellation: two to three times the error on normal weights).
// Rows are stored in tiles of `tile_rows` (the micro-kernel's rows), each 4 consecutive
// codes (in int8_codes.h's order) one 32-bit word: word (t, k/4, r) at
// (t * K/4 + k/4) * tile_rows + r, so the micro-kernel broadcasts consecutive words.
// Rows past M are zero. Included only by int8_matmul.cpp.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/thread_pool.h"
#include "kernels/float_dispatch.h"
#include "kernels/kernels.h"
#include "kernels/scratch.h"
#include "kernels/x86/int8_codes.h"
#include "kernels/x86/simd_avx512.h"

namespace qlinear::kernels::avx512_bf16 {
namespace {

struct QuantizedRows {
  const std::int32_t* words;   // [tile][K/4][tile_rows], 4 codes each
  const float* scales;         // d: [tile][groups][tile_rows]
  const float* sums;           // [tile][groups][tile_rows]
  const std::int32_t* totals;  // [tile][groups][tile_rows]
};

// Lane indices that gather one 32-code block (two vectors a, b) into code_at order:
// half 0 or 1 of the block's output.
template <int bits>
__m512i order_indices(int half) {
  alignas(64) std::int32_t idx[16];
  for (int p = 0; p < 16; ++p) idx[p] = code_at<bits>(16 * half + p);
  return _mm512_load_si512(idx);
}

// One row's group of `gs` values (16 per vector; 16 only in natural order) -> codes stored
// as words, its d, sum and total.
template <int bits>
void quantize_group(const __m512* x, int gs, std::int32_t* words, int tile_rows, float* scale,
                    float* sum, std::int32_t* total_out) {
  const int vectors = gs / 16;
  __m512 max_abs = _mm512_setzero_ps();
  for (int v = 0; v < vectors; ++v) max_abs = _mm512_max_ps(max_abs, _mm512_abs_ps(x[v]));
  const float d = _mm512_reduce_max_ps(max_abs) / 127.0f;
  __m512i total = _mm512_setzero_si512();
  const __m512 limit = _mm512_set1_ps(127.0f);
  for (int v = 0; v < vectors; v += 2) {
    const int count = std::min(2, vectors - v);
    __m512 pair[2] = {x[v], count == 2 ? x[v + 1] : x[v]};
    if constexpr (kPlaneOrder<bits>) {
      pair[0] = _mm512_permutex2var_ps(x[v], order_indices<bits>(0), x[v + 1]);
      pair[1] = _mm512_permutex2var_ps(x[v], order_indices<bits>(1), x[v + 1]);
    }
    for (int h = 0; h < count; ++h) {
      __m512i q = _mm512_setzero_si512();
      if (d != 0.0f) {
        const __m512 r = _mm512_roundscale_ps(_mm512_div_ps(pair[h], _mm512_set1_ps(d)),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(r, -limit), limit));
      }
      total = _mm512_add_epi32(total, q);
      alignas(16) std::int32_t packed[4];
      _mm_store_si128(reinterpret_cast<__m128i*>(packed), _mm512_cvtepi32_epi8(q));
      for (int j = 0; j < 4; ++j) words[((v + h) * 4 + j) * tile_rows] = packed[j];
    }
  }
  *scale = d;
  *total_out = _mm512_reduce_add_epi32(total);
  *sum = d * static_cast<float>(*total_out);  // |sum of xq| < 2^24: exact
}

template <int bits>
QuantizedRows quantize_rows(const MatmulArgs& a, int tile_rows) {
  const std::int64_t K = a.K;
  const int gs = a.spec.group_size;
  const std::int64_t groups = K / gs;
  const std::int64_t tiles = (a.M + tile_rows - 1) / tile_rows;
  const std::int64_t words_per_tile = K / 4 * tile_rows;
  const std::int64_t params_per_tile = groups * tile_rows;
  float* base = scratch_floats(
      ScratchSlot::input, static_cast<std::size_t>(tiles * (words_per_tile + 3 * params_per_tile)));
  auto* words = reinterpret_cast<std::int32_t*>(base);
  float* scales = base + tiles * words_per_tile;
  float* sums = scales + tiles * params_per_tile;
  auto* totals = reinterpret_cast<std::int32_t*>(sums + tiles * params_per_tile);
  with_float_type(a.x_dtype, [&](auto type) {
    using T = decltype(type);
    core::parallel_for(tiles, 1, [&](std::int64_t t0, std::int64_t t1) {
      __m512 x[128 / 16];
      for (std::int64_t t = t0; t < t1; ++t) {
        for (int r = 0; r < tile_rows; ++r) {
          const std::int64_t m = t * tile_rows + r;
          std::int32_t* row_words = words + t * words_per_tile + r;
          float* row_scales = scales + t * params_per_tile + r;
          float* row_sums = sums + t * params_per_tile + r;
          std::int32_t* row_totals = totals + t * params_per_tile + r;
          if (m >= a.M) {
            for (std::int64_t w = 0; w < K / 4; ++w) row_words[w * tile_rows] = 0;
            for (std::int64_t g = 0; g < groups; ++g) {
              row_scales[g * tile_rows] = 0.0f;
              row_sums[g * tile_rows] = 0.0f;
              row_totals[g * tile_rows] = 0;
            }
            continue;
          }
          const T* row = static_cast<const T*>(a.x) + m * K;
          for (std::int64_t g = 0; g < groups; ++g) {
            for (int v = 0; v < gs / 16; ++v) x[v] = avx512::Simd::load(row + g * gs + v * 16);
            quantize_group<bits>(x, gs, row_words + g * gs / 4 * tile_rows, tile_rows,
                                 row_scales + g * tile_rows, row_sums + g * tile_rows,
                                 row_totals + g * tile_rows);
          }
        }
      }
    });
  });
  return {words, scales, sums, totals};
}

}  // namespace
}  // namespace qlinear::kernels::avx512_bf16
