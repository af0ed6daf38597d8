// The int8-activation matmul for transposed W (N, K), affine or FP4 (int8_weights.h): per task of
// Shape::kColumns output columns, the codes of W are unpacked to bytes (in blocks of Shape::kDepth)
// and transposed into a panel [k/4][column] of 32-bit words (4 codes of one column each), the
// scales and biases into [group][column] floats; a register-blocked micro-kernel then runs vpdpbusd
// (u8 codes x s8 activations, exact int32 sums; AMX tiles instead in int8_amx_kernel.h) over every
// tile of rows and, per group, adds into float32 accumulators, for every (r, n):
//   c = fma(float(idot[r, n, g]), s[n, g] * d[r, g], c);  c = fma(b[n, g], sum[r, g], c)
// for g = 0, 1, ... in order from c = 0. That chain depends on nothing but (r, n), so the
// result is the same for any thread count, row tiling or column blocking.
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
#include "kernels/x86/int8_weights.h"

namespace qlinear::kernels::avx512_bf16 {
namespace {

// kRows rows of x by kVectors vectors of 16 columns per micro-tile; panels of kDepth codes
// (a multiple of every group size, at most 16 groups of 32).
template <int rows, int vectors, int depth>
struct Int8Shape {
  static constexpr int kRows = rows;
  static constexpr int kVectors = vectors;
  static constexpr int kColumns = 16 * vectors;
  static constexpr int kDepth = depth;
  static_assert(depth % 128 == 0 && depth / 32 <= 16);
};

template <class Shape>
struct Panel {
  std::int32_t* words;  // [kDepth / 4][kColumns]
  float* scales;        // [kDepth / 32][kColumns]
  float* biases;
};

// Columns [n0, n0 + kColumns) and codes [k0, k0 + depth) of W into the panel, as `codes`
// reads them (int8_weights.h); columns past N are zero.
template <int bits, class Shape, class Codes>
void pack_panel(const MatmulArgs& a, const Codes& codes, std::int64_t n0, std::int64_t k0,
                std::int64_t depth, const Panel<Shape>& panel) {
  constexpr int NC = Shape::kColumns;
  const std::int64_t row_bytes = a.K * bits / 8;
  const int gs = a.spec.group_size;
  const std::int64_t groups = a.K / gs;
  const auto* w = reinterpret_cast<const std::uint8_t*>(a.wq);
  __m512i m[16];
  for (int v = 0; v < Shape::kVectors; ++v) {
    const std::int64_t first = n0 + 16 * v;
    const int live = static_cast<int>(std::clamp<std::int64_t>(a.N - first, 0, 16));
    for (std::int64_t c = 0; c < depth; c += 64) {
      const int count = static_cast<int>(std::min<std::int64_t>(64, depth - c));
      for (int i = 0; i < 16; ++i) {
        m[i] = i < live ? codes.template unpack<bits>(
                              w + (first + i) * row_bytes + (k0 + c) * bits / 8, count)
                        : _mm512_setzero_si512();
      }
      x86::transpose16(m);
      for (int j = 0; j < count / 4; ++j) {
        _mm512_storeu_si512(panel.words + (c / 4 + j) * NC + 16 * v, m[j]);
      }
    }
    const int block_groups = static_cast<int>(depth / gs);
    __m512i b[16];
    codes.params(first, live, groups, k0 / gs, block_groups, m, b);
    for (int j = 0; j < block_groups; ++j) {
      _mm512_storeu_ps(panel.scales + j * NC + 16 * v, _mm512_castsi512_ps(m[j]));
      _mm512_storeu_ps(panel.biases + j * NC + 16 * v, _mm512_castsi512_ps(b[j]));
    }
  }
}

// c[kRows][kColumns] (+)= the tile's rows times the panel, `groups` groups of gs codes.
template <class Shape>
void micro_kernel(const std::int32_t* x_words, const float* x_scales, const float* x_sums,
                  const Panel<Shape>& panel, int groups, int gs, float* c) {
  constexpr int MR = Shape::kRows;
  constexpr int NV = Shape::kVectors;
  constexpr int NC = Shape::kColumns;
  for (int g = 0; g < groups; ++g) {
    __m512i acc[MR][NV];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_si512();
    }
    const std::int64_t first_word = static_cast<std::int64_t>(g) * gs / 4;
    for (std::int64_t k4 = first_word; k4 < first_word + gs / 4; ++k4) {
      __m512i w[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) w[v] = _mm512_loadu_si512(panel.words + k4 * NC + 16 * v);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512i xr = _mm512_set1_epi32(x_words[k4 * MR + r]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = dot_accumulate(acc[r][v], w[v], xr);
      }
    }
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const __m512 s = _mm512_loadu_ps(panel.scales + g * NC + 16 * v);
      const __m512 b = _mm512_loadu_ps(panel.biases + g * NC + 16 * v);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        float* out = c + r * NC + 16 * v;
        _mm512_storeu_ps(out, add_group(_mm512_loadu_ps(out), acc[r][v], s, b, x_scales[g * MR + r],
                                        x_sums[g * MR + r]));
      }
    }
  }
}

// The vpdpbusd micro-kernel as int8_gemm's Kernel (int8_amx_kernel.h has the AMX one):
// no per-thread state, x in quantize_rows's layout.
struct VnniKernel {
  static void begin(int /*gs*/) {}
  static void end() {}
  template <class Shape>
  static void multiply(const std::int32_t* x_words, const float* x_scales, const float* x_sums,
                       const Panel<Shape>& panel, int groups, int gs, float* c) {
    micro_kernel<Shape>(x_words, x_scales, x_sums, panel, groups, gs, c);
  }
};

// y (M, ldy) float32 = x @ W.T, x as quantized by quantize_rows with Shape::kRows rows
// per tile (in the layout Kernel reads).
template <int bits, class Shape, class Kernel = VnniKernel, class Codes>
void int8_gemm(const MatmulArgs& a, const Codes& codes, const QuantizedRows& x, float* y,
               std::int64_t ldy) {
  constexpr int MR = Shape::kRows;
  constexpr int NC = Shape::kColumns;
  constexpr int KC = Shape::kDepth;
  const int gs = a.spec.group_size;
  const std::int64_t groups = a.K / gs;
  const std::int64_t tiles = (a.M + MR - 1) / MR;
  const std::int64_t padded_n = (a.N + NC - 1) / NC * NC;
  // With several row tiles, the panel spans all of K (L2-resident) so that each tile runs
  // through K at once with its float tile in L1; one tile only needs panels for L1.
  const std::int64_t span = tiles > 1 ? a.K : KC;
  const std::int64_t span_groups = span / gs;
  core::parallel_for(padded_n, NC, [&](std::int64_t begin, std::int64_t end) {
    float* c = scratch_floats(ScratchSlot::sums, static_cast<std::size_t>(tiles * MR * NC));
    float* panel_memory = scratch_floats(
        ScratchSlot::panel, static_cast<std::size_t>((span / 4 + 2 * span_groups) * NC));
    const Panel<Shape> panel{reinterpret_cast<std::int32_t*>(panel_memory),
                             panel_memory + span / 4 * NC,
                             panel_memory + (span / 4 + span_groups) * NC};
    Kernel::begin(gs);
    for (std::int64_t n0 = begin; n0 < end; n0 += NC) {
      std::fill(c, c + tiles * MR * NC, 0.0f);
      for (std::int64_t k0 = 0; k0 < a.K; k0 += span) {
        const std::int64_t depth = std::min<std::int64_t>(span, a.K - k0);
        for (std::int64_t k = 0; k < depth; k += KC) {
          const Panel<Shape> block{panel.words + k / 4 * NC, panel.scales + k / gs * NC,
                                   panel.biases + k / gs * NC};
          pack_panel<bits>(a, codes, n0, k0 + k, std::min<std::int64_t>(KC, depth - k), block);
        }
        const std::int64_t g0 = k0 / gs;
        for (std::int64_t t = 0; t < tiles; ++t) {
          Kernel::template multiply<Shape>(x.words + (t * a.K + k0) / 4 * MR,
                                           x.scales + (t * groups + g0) * MR,
                                           x.sums + (t * groups + g0) * MR, panel,
                                           static_cast<int>(depth / gs), gs, c + t * MR * NC);
        }
      }
      const std::int64_t width = std::min<std::int64_t>(NC, a.N - n0);
      for (std::int64_t m = 0; m < a.M; ++m) {
        std::copy(c + m * NC, c + m * NC + width, y + m * ldy + n0);
      }
    }
    Kernel::end();
  });
}

}  // namespace
}  // namespace qlinear::kernels::avx512_bf16
