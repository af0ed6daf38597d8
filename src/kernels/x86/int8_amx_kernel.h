// The AMX micro-kernel of the int8-activation matmul (int8_gemm.h's Kernel): tdpbsud
// (s8 x rows by u8 codes, exact int32 sums; a 16x16 tile += 16x64 by 64x16 bytes per
// instruction, about 8 times vpdpbusd's rate) computes a group's dot products for 16 rows
// and 16 columns, straight from int8_gemm's panel of code words (already the layout AMX
// wants for its second operand). The int32 tile goes through L1 into the same float chain
// as the vpdpbusd kernel (add_group), so both give the same bits.
//
// Per group every 16x16 block of products goes through a tile store and 4 vector
// operations per row (the float chain), against one tdpbsud: the kernel keeps the tiles'
// loads in L1 and the tiles and vector units busy at the same time. Included only by
// int8_matmul.cpp.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "kernels/x86/int8_amx_tile.h"
#include "kernels/x86/int8_gemm.h"

namespace qlinear::kernels::avx512_bf16 {
namespace {

struct AmxKernel {
  static void begin(int gs) { amx_int8::configure(gs); }
  static void end() { amx_int8::release(); }

  // dot[j][16][16] = the dot products of group g + j for j < count (<= 4), in tiles j:
  // x in tile rows (int8_amx_rows.h), words at a panel's 16 columns, `width` words a row.
  // The tiles run in order and a tile's store waits for its products, so the groups'
  // instructions are interleaved before the first store.
  template <int count>
  static void group_dots(const std::int32_t* x, const std::int32_t* words, long width, int g,
                         int gs, std::int32_t* dot) {
    using namespace amx_int8;
    const auto each = [&]<int... j>(std::integer_sequence<int, j...>, auto f) {
      (f(std::integral_constant<int, j>{}), ...);
    };
    constexpr auto groups = std::make_integer_sequence<int, count>{};
    each(groups, [](auto j) { zero<j>(); });
    for (int k = 0; k < gs; k += step(gs)) {
      each(groups, [&](auto j) {
        constexpr int operands = 4 + 2 * (j % 2);
        const int code = (g + j) * gs + k;
        load<operands>(x + code / 64 * 256 + code % 64 / 4, 64);
        load<operands + 1>(words + code / 4 * width, width * 4);
        dot_signed_unsigned<j, operands, operands + 1>();
      });
    }
    each(groups, [&](auto j) { store<j>(dot + j * 256, 64); });
  }

  // c[16][kColumns] (+)= the tile's rows times the panel, `groups` groups of gs codes, in
  // batches of 4 groups by 16 columns (column blocks inner, so that x stays in L1 for all
  // four); the vector units add batch i - 1 while the tiles compute batch i.
  template <class Shape>
  static void multiply(const std::int32_t* x_words, const float* x_scales, const float* x_sums,
                       const Panel<Shape>& panel, int groups, int gs, float* c) {
    static_assert(Shape::kRows == 16);
    constexpr int NC = Shape::kColumns;
    constexpr int NV = Shape::kVectors;
    constexpr int kBatch = 4;
    alignas(64) std::int32_t dot[2][kBatch * 256];
    const int batches = (groups + kBatch - 1) / kBatch * NV;
    const auto group_of = [&](int batch) { return batch / NV * kBatch; };
    const auto count_of = [&](int batch) { return std::min(kBatch, groups - group_of(batch)); };
    const auto dots = [&](int batch) {
      const int g = group_of(batch);
      const std::int32_t* words = panel.words + 16 * (batch % NV);
      std::int32_t* out = dot[batch % 2];
      switch (count_of(batch)) {
        case 1:
          return group_dots<1>(x_words, words, NC, g, gs, out);
        case 2:
          return group_dots<2>(x_words, words, NC, g, gs, out);
        case 3:
          return group_dots<3>(x_words, words, NC, g, gs, out);
        default:
          return group_dots<4>(x_words, words, NC, g, gs, out);
      }
    };
    const auto add = [&](int batch) {
      const int g0 = group_of(batch);
      const int column = 16 * (batch % NV);
      __m512 acc[16];
      for (int r = 0; r < 16; ++r) acc[r] = _mm512_loadu_ps(c + r * NC + column);
      for (int g = g0; g < g0 + count_of(batch); ++g) {
        const __m512 s = _mm512_loadu_ps(panel.scales + g * NC + column);
        const __m512 b = _mm512_loadu_ps(panel.biases + g * NC + column);
        const std::int32_t* in = dot[batch % 2] + (g - g0) * 256;
#pragma GCC unroll 16
        for (int r = 0; r < 16; ++r) {
          acc[r] = add_group(acc[r], _mm512_load_si512(in + 16 * r), s, b, x_scales[g * 16 + r],
                             x_sums[g * 16 + r]);
        }
      }
      for (int r = 0; r < 16; ++r) _mm512_storeu_ps(c + r * NC + column, acc[r]);
    };
    // The tiles wait for every line a tile load misses in L1: the next batch's operands
    // are fetched into L1 meanwhile (x only for a new batch of groups).
    const auto fetch = [&](int batch) {
      const int g = group_of(batch);
      const auto* x_bytes = reinterpret_cast<const char*>(x_words) + g * gs * 16;
      const std::int32_t* words = panel.words + g * gs / 4 * NC + 16 * (batch % NV);
      for (int line = 0; line < count_of(batch) * gs / 4; ++line) {
        if (batch % NV == 0) _mm_prefetch(x_bytes + 64 * line, _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(words + line * NC), _MM_HINT_T0);
      }
    };
    // x comes from L3 (each task reads all of it): the tile's successor in memory (the
    // next row tile's x, or the next block of K) is fetched into L2, a share per batch.
    const auto* next_x = reinterpret_cast<const char*>(x_words) + groups * gs * 16;
    const int next_lines = groups * gs / 4;
    const int lines_per_batch = (next_lines + batches - 1) / batches;
    for (int batch = 0; batch < batches; ++batch) {
      for (int line = batch * lines_per_batch;
           line < std::min((batch + 1) * lines_per_batch, next_lines); ++line) {
        _mm_prefetch(next_x + 64 * line, _MM_HINT_T1);
      }
      dots(batch);
      if (batch + 1 < batches) fetch(batch + 1);
      if (batch > 0) add(batch - 1);
    }
    add(batches - 1);
  }
};

}  // namespace
}  // namespace qlinear::kernels::avx512_bf16
