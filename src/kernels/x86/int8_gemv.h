// The int8-activation matmul for up to 4 rows of x and groups of 64 or more codes (8-bit
// codes: the narrower widths take int8_gemv_groups.h), with
// no panel in memory: per slab of 16 weight rows (output columns) and 64-code chunk, the
// unpacked codes of each 4 rows are interleaved so that 128-bit block l of vector e holds
// word 4l + e of the 4 rows; x is spread once per call to match (block l of its vector e:
// word 4l + e, 4 times), so vpdpbusd sums every (row, block) separately, and one sum over
// the 4 blocks per group gives the exact group dot products, 16 columns to a vector. The
// float32 chain per output element is int8_gemm.h's, so the results are the same bits.
// Included only by int8_matmul.cpp.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/scratch.h"
#include "kernels/x86/int8_activations.h"
#include "kernels/x86/int8_codes.h"
#include "kernels/x86/int8_simd.h"

namespace qlinear::kernels::avx512_bf16 {
namespace {

constexpr int kGemvMaxRows = 4;

inline bool gemv_applies(const MatmulArgs& a) {
  return a.M <= kGemvMaxRows && a.spec.group_size >= 64;
}

// x (R rows quantized in one tile) as vectors [64-code chunk][row][e]: block l of vector
// e holds word 4l + e of the chunk, 4 times.
template <int R>
const __m512i* spread_rows(const MatmulArgs& a, const QuantizedRows& x) {
  const std::int64_t chunks = a.K / 64;
  auto* out = reinterpret_cast<__m512i*>(
      scratch_floats(ScratchSlot::sums, static_cast<std::size_t>(chunks * R * 4 * 16)));
  for (std::int64_t c = 0; c < chunks; ++c) {
    for (int r = 0; r < R; ++r) {
      alignas(64) std::int32_t words[16];
      for (int j = 0; j < 16; ++j) words[j] = x.words[(16 * c + j) * R + r];
      const __m512i v = _mm512_load_si512(words);
      for (int e = 0; e < 4; ++e) {
        const __m512i pick =
            _mm512_add_epi32(_mm512_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12),
                             _mm512_set1_epi32(e));
        out[(c * R + r) * 4 + e] = _mm512_permutexvar_epi32(pick, v);
      }
    }
  }
  return out;
}

// The 16 columns from n0 on (those past N are left alone) of R rows of y.
template <int bits, int R>
void gemv_slab(const MatmulArgs& a, const QuantizedRows& x, const __m512i* xs, std::int64_t n0,
               float* y, std::int64_t ldy) {
  const int gs = a.spec.group_size;
  const std::int64_t groups = a.K / gs;
  const std::int64_t row_bytes = a.K * bits / 8;
  const int live = static_cast<int>(std::min<std::int64_t>(16, a.N - n0));
  const auto* w = reinterpret_cast<const std::uint8_t*>(a.wq) + n0 * row_bytes;
  alignas(64) float scales[16][16], biases[16][16];  // [group % 16][column]
  __m512 out[R];
  for (__m512& o : out) o = _mm512_setzero_ps();
  for (std::int64_t g = 0; g < groups; ++g) {
    if (g % 16 == 0) {
      const int count = static_cast<int>(std::min<std::int64_t>(16, groups - g));
      for (auto [params, dst] : {std::pair{a.scales, scales}, std::pair{a.biases, biases}}) {
        __m512i m[16];
        params_by_group(params, a.scale_dtype, n0, live, groups, g, count, m);
        for (int j = 0; j < count; ++j) _mm512_store_si512(dst[j], m[j]);
      }
    }
    __m512i acc[R][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) acc[r][i] = _mm512_setzero_si512();
    }
    for (std::int64_t c = g * gs / 64; c < (g + 1) * gs / 64; ++c) {
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
        __m512i rows[4], quad[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) {
          rows[j] = 4 * i + j < live
                        ? unpack_codes<bits>(w + (4 * i + j) * row_bytes + c * 8 * bits, 64)
                        : _mm512_setzero_si512();
        }
        x86::interleave_quad(rows, quad);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
          for (int e = 0; e < 4; ++e) {
            acc[r][i] = dot_accumulate(acc[r][i], quad[e], xs[(c * R + r) * 4 + e]);
          }
        }
      }
    }
    const __m512 s = _mm512_load_ps(scales[g % 16]);
    const __m512 b = _mm512_load_ps(biases[g % 16]);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      out[r] = add_group(out[r], sum_blocks(acc[r]), s, b, x.scales[g * R + r], x.sums[g * R + r]);
    }
  }
  const auto mask = static_cast<__mmask16>((1u << live) - 1u);
  for (int r = 0; r < R; ++r) _mm512_mask_storeu_ps(y + r * ldy + n0, mask, out[r]);
}

// y (R, ldy) float32 = x @ W.T, x as quantized by quantize_rows with R rows per tile.
template <int bits, int R>
void int8_gemv(const MatmulArgs& a, const QuantizedRows& x, float* y, std::int64_t ldy) {
  const __m512i* xs = spread_rows<R>(a, x);
  core::parallel_for((a.N + 15) / 16, 8, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t slab = begin; slab < end; ++slab) {
      gemv_slab<bits, R>(a, x, xs, 16 * slab, y, ldy);
    }
  });
}

}  // namespace
}  // namespace qlinear::kernels::avx512_bf16
