// The int8-activation kernel for 3 to 8 rows of mxfp4 W, and 3 to 64 of nvfp4 W (whose
// groups of 16 the panels do not take): the groups-in-lanes kernel of int8_gemv_groups.h
// reading E2M1 values as the bytes 2 v + 12 (Fp4Codes, int8_weights.h). A group adds
//   s d / 2 * (idot - 12 total)      (total: the exact integer sum of xq over the group)
// where idot - 12 total is sum 2 v xq exactly, with no bias term. The groups stay in their
// lanes to the end: each block's 16 group sums are scaled in place and added into one
// vector per row of W and of x, whose lanes are summed once per row, without the affine
// kernel's transposes per block (measured against that: cold 4096 x 14336, 1 thread, M = 8
// 1.45x, M = 2 1.2x). A row's result is the same chain of operations whatever the thread
// count or the number of rows of x this kernel takes; it differs in rounding from the
// panels' chain (add_group), which mxfp4 takes from 9 rows. Included only by
// int8_matmul.cpp.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/generic/common.h"
#include "kernels/kernels.h"
#include "kernels/scratch.h"
#include "kernels/x86/int8_activations.h"
#include "kernels/x86/int8_gemv_groups.h"
#include "kernels/x86/int8_weights.h"

namespace qlinear::kernels::avx512_bf16 {
namespace {

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
// Out of line, as GCC 12 compiled it where its figures were measured (docs/kernels.md);
// inlined into the dispatch of every row count it was not measured.
template <class Simd, int gs, int R>
[[gnu::noinline]] void fp4_slab(const MatmulArgs& a, const Fp4Codes& codes, const RowOperands& xs,
                                const XLanes& xl, const generic::RowParams<Simd>& params,
                                std::int64_t m0, std::int64_t n0, float* y) {
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
      block_dots<bits, gs, R>(codes, packed, xs, m0, block, count, dots);
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
void int8_fp4_lanes(const MatmulArgs& a, const Fp4Codes& codes, float* y) {
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
