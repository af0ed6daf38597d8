// FP4 (E2M1) weights, mxfp4's and nvfp4's, under MatmulPrecision::int8. Every E2M1 value
// v is a multiple of 1/2 in [-6, 6], so 2 v + 12 is an unsigned byte in [0, 24] that
// vpdpbusd takes as it takes affine codes, in the groups-in-lanes kernel of
// int8_gemv_groups.h (lane j: group j of a block of 16). A group then adds to y
//   s d / 2 * (idot - 12 total)      (total: the exact integer sum of xq over the group)
// where idot - 12 total is sum 2 v xq exactly: no bias term, so nothing overflows that
// the exact path's s (x . v) would not. s is the scale byte's value as the exact path
// reads it (reference::fp_tables: rounded to x's dtype), so no format code is compiled
// here.
// No other int8 kernel computes these modes, so the groups stay in their lanes to the end:
// each block's 16 group sums are scaled in place and added into one vector per row of W
// and of x, whose lanes are summed once per row. That takes the affine kernel's per-block
// transposes out of the loop over W (mxfp4 4096 x 14336 cold at 1 thread: 1.05x). A row's
// result is the same chain of operations whatever the thread count or the number of rows
// of x.
// Included only by int8_matmul.cpp.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/thread_pool.h"
#include "kernels/generic/common.h"
#include "kernels/kernels.h"
#include "kernels/reference/reference.h"
#include "kernels/scratch.h"
#include "kernels/x86/int8_activations.h"
#include "kernels/x86/int8_gemv_groups.h"

namespace qlinear::kernels::avx512_bf16 {
namespace {

struct Fp4Codes {
  static constexpr int kOffset = 12;  // 2 * 6, the largest |v| doubled

  // Rows of x the kernel is faster for than the exact path. One row is streamed by the
  // exact kernels at the memory's rate, and this kernel is 0.85-0.9x of them there (cold
  // 4096 x 14336, 1 and 2 threads: 2 rows 1.2-1.5x, 4 2.1-2.2x, 8 1.8-2.7x). Warm 4096 x
  // 4096 at 1 thread, mxfp4 stays ahead of the exact panels (64 rows 1.6x, 128 1.25x, 512
  // 1.09x), nvfp4, with twice the groups, falls behind past 64 (128 0.91x, 512 0.77x); an
  // int8 panel or AMX kernel for FP4 is not built.
  static constexpr std::int64_t kMinRows = 2, kNvfp4MaxRows = 64;

  static bool applies(const MatmulArgs& a) {
    if (a.M < kMinRows) return false;
    return a.spec.mode == QuantMode::mxfp4 ||
           (a.spec.mode == QuantMode::nvfp4 && a.M <= kNvfp4MaxRows);
  }

  __m512i doubled;              // vpermb's table: byte i -> 2 v(i & 15) + kOffset
  alignas(64) float half[256];  // scale byte -> half the scale

  explicit Fp4Codes(const MatmulArgs& a) {
    reference::FpTables t;
    reference::fp_tables(a.spec.mode, a.x_dtype, nullptr, t);
    alignas(64) std::uint8_t table[64];
    for (int i = 0; i < 64; ++i)
      table[i] = static_cast<std::uint8_t>(2.0f * t.values[i % 16] + kOffset);
    doubled = _mm512_load_si512(table);
    // Halving is exact. An infinite scale (mxfp4's byte 255, as MLX decodes it) becomes NaN:
    // its group's dequantized weights are infinite, and NaN where v = 0, so the exact path's
    // dot products are NaN (or, without a zero code or x, an infinity of either sign).
    for (int i = 0; i < 256; ++i) {
      half[i] =
          std::isinf(t.scales[i]) ? std::numeric_limits<float>::quiet_NaN() : 0.5f * t.scales[i];
    }
  }

  // Plane p (the low or high nibbles) of packed bytes as 2 v + kOffset: vpermb reads an
  // index's low 6 bits, and the table repeats every 16.
  template <int bits, int p>
  __m512i plane(__m512i v) const {
    static_assert(bits == 4);
    return _mm512_permutexvar_epi8(p == 0 ? v : _mm512_srli_epi16(v, 4), doubled);
  }

  // The half scales of `count` (<= 16) groups from scale byte p on, zero past them.
  __m512 half_scales(const std::uint8_t* p, int count) const {
    const auto mask = static_cast<__mmask16>((1u << count) - 1u);
    const __m512i index = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, p));
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, index, half, 4);
  }
};

// x's side of a block of 16 groups of one row, lane j for group j: d, and 12 total as an
// integer (zero past the last group).
struct XLanes {
  const float* d;  // [row][blocks * 16]
  const std::int32_t* offset;

  static XLanes make(const MatmulArgs& a, const QuantizedRows& x) {
    const std::int64_t groups = a.K / a.spec.group_size, padded = (groups + 15) / 16 * 16;
    float* d = scratch_floats(ScratchSlot::panel, static_cast<std::size_t>(2 * a.M * padded));
    auto* offset = reinterpret_cast<std::int32_t*>(d + a.M * padded);
    for (std::int64_t r = 0; r < a.M; ++r) {
      for (std::int64_t g = 0; g < padded; ++g) {
        const bool live = g < groups;
        d[r * padded + g] = live ? x.scales[r * groups + g] : 0.0f;
        offset[r * padded + g] = live ? Fp4Codes::kOffset * x.totals[r * groups + g] : 0;
      }
    }
    return {d, offset};
  }
};

// Rows [m0, m0 + R) of y at the 16 columns from n0 on (those past N are left alone). Each
// block of a row prefetches its codes kPrefetchBytes or more (whole rows) on, as in
// group_lanes_slab, and each row the scales of the row 16 on (measured 1.05x cold at 1
// thread against the row's own, which the row's first block then waits for).
template <class Simd, int gs, int R>
void fp4_slab(const MatmulArgs& a, const Fp4Codes& codes, const RowOperands& xs, const XLanes& xl,
              const generic::RowParams<Simd>& params, std::int64_t m0, std::int64_t n0, float* y) {
  constexpr int bits = 4;
  const std::int64_t groups = a.K / gs;
  const std::int64_t blocks = (groups + 15) / 16;
  const std::int64_t row_bytes = a.K * bits / 8;
  const std::int64_t ahead = (generic::kPrefetchBytes + row_bytes - 1) / row_bytes;
  const int live = static_cast<int>(std::min<std::int64_t>(16, a.N - n0));
  const auto* scale_bytes = static_cast<const std::uint8_t*>(a.scales);
  __m512 sums[R][16];
  for (int n = 0; n < 16; ++n) {
    for (int r = 0; r < R; ++r) sums[r][n] = _mm512_setzero_ps();
    if (n >= live) continue;
    const std::int64_t row = n0 + n;
    if (m0 == 0) params.prefetch(row + 16);  // the next slab's: a row's scales are one short read
    for (std::int64_t block = 0; block < blocks; ++block) {
      const int count = static_cast<int>(std::min<std::int64_t>(16, groups - 16 * block));
      const std::uint8_t* packed = reinterpret_cast<const std::uint8_t*>(a.wq) + row * row_bytes +
                                   packed_bytes<bits>(gs, 16 * block);
      if (m0 == 0) {
        generic::prefetch_lines<Simd>(packed + ahead * row_bytes, packed_bytes<bits>(gs, count));
      }
      __m512i dots[R];
      // Rows [first, first + rows) of this chunk of x against the block.
      const auto rows_of_x = [&]<int first, int rows>() {
        __m512i out[rows];
        group_dots<bits, gs, rows>(codes, packed,
                                   {xs.xs + (m0 + first) * xs.stride + block * gs / 4, xs.stride},
                                   count, out);
        for (int r = 0; r < rows; ++r) dots[first + r] = out[r];
      };
      rows_of_x.template operator()<0, std::min(R, kGroupLanesRows)>();
      if constexpr (R > kGroupLanesRows) {
        rows_of_x.template operator()<kGroupLanesRows, R - kGroupLanesRows>();
      }
      const __m512 s = codes.half_scales(scale_bytes + row * groups + 16 * block, count);
      for (int r = 0; r < R; ++r) {
        const std::int64_t at = (m0 + r) * blocks * 16 + block * 16;
        const __m512i doubled_dot = _mm512_sub_epi32(dots[r], _mm512_loadu_si512(xl.offset + at));
        sums[r][n] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(doubled_dot),
                                     _mm512_mul_ps(s, _mm512_loadu_ps(xl.d + at)), sums[r][n]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    _mm512_mask_storeu_ps(y + (m0 + r) * a.N + n0, static_cast<__mmask16>((1u << live) - 1u),
                          Simd::reduce_each(sums[r], Simd::add));
  }
}

// y (M, N) float32 = x @ W.T for FP4 W (N, K), rows of x 8 at a time against each slab
// of 16 rows of W (from L1 or L2 after the first).
template <class Simd>
void int8_fp4_matmul(const MatmulArgs& a, float* y) {
  const Fp4Codes codes(a);
  const QuantizedRows x = quantize_rows<8>(a, 1);  // a tile per row, in natural order
  const RowOperands xs{spread_groups<4>(a, x), operand_vectors(a)};
  const XLanes xl = XLanes::make(a, x);
  const std::int64_t slabs = (a.N + 15) / 16;
  constexpr int kRows = kGroupLanesMaxRows<4>;
  const generic::RowParams<Simd> params(a.scales, nullptr, a.scale_dtype, a.K / a.spec.group_size);
  const auto run = [&]<int gs>() {
    core::parallel_for(
        slabs, generic::streaming_grain<Simd>(slabs, 1), [&](std::int64_t begin, std::int64_t end) {
          for (std::int64_t slab = begin; slab < end; ++slab) {
            for (std::int64_t m0 = 0; m0 < a.M; m0 += kRows) {
              generic::with_row_count<kRows>(std::min<std::int64_t>(kRows, a.M - m0), [&](auto r) {
                fp4_slab<Simd, gs, decltype(r)::value>(a, codes, xs, xl, params, m0, 16 * slab, y);
              });
            }
          }
        });
  };
  // The catalogue's group sizes: nvfp4's 16, mxfp4's 32.
  if (a.spec.group_size == 16) return run.template operator()<16>();
  run.template operator()<32>();
}

}  // namespace
}  // namespace qlinear::kernels::avx512_bf16
