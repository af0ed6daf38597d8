// The few-rows kernel for FP4 W (mxfp4, nvfp4) where Simd has 16 lanes and a lookup that
// reads only the low 4 bits of each index (AVX-512's vpermps). A block of 128 codes is 16
// words of 8 codes, one per lane; the j-th lookup reads the words shifted down by 4 j, so
// lane l holds code 8 l + j (x is reordered to match once per call). Per 128 codes that is
// 8 lookups, 7 shifts, and per row of x 8 multiply-adds and one by the block's scales
// (lane l in group 8 l / gs): at one row 25 operations on the two vector ports that bind
// it, where fp_gemv_block's pairs of lookups spend 28 (per 32 codes a widening, two
// lookups, a shift and three multiply-adds). docs/kernels.md, "FP4 on AVX-512 by words of
// nibbles". Every row is one chain of operations whatever the thread count.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/generic/common.h"
#include "kernels/kernels.h"
#include "kernels/reference/reference.h"
#include "kernels/scratch.h"
#include "qlinear/quant_spec.h"

namespace qlinear::kernels::generic {

template <class Simd>
concept NibbleLookup = Simd::kLanes == 16 &&
                       requires(typename Simd::I i, const float* t, const std::uint8_t* p) {
  Simd::lookup_low_nibble(i, t);
  Simd::load_words_first(p, 0);
  Simd::e8m0(p, 0);
  Simd::template minifloat8<4, 3>(p, 0);
};

inline constexpr int kCodesPerWord = 8;
inline constexpr std::int64_t kNibbleBlock = 16 * kCodesPerWord;

inline std::int64_t nibble_blocks_padded(std::int64_t K) {
  return (K + kNibbleBlock - 1) / kNibbleBlock * kNibbleBlock;
}

// x in the order the kernel reads it: in each block of 128 codes, the x of code 8 l + j
// at 16 j + l; zeros past K up to a whole block.
template <class Simd>
void nibble_order(const float* x, std::int64_t K, float* out) {
  reorder_blocks<Simd, kNibbleBlock>(
      x, K, [](int i) { return kCodesPerWord * (i % 16) + i / 16; }, out);
}

// One row's group scales as reference::fp_tables has them for x's dtype: decoded from
// their format (mxfp4's E8M0, nvfp4's E4M3) and rounded to x's dtype, which changes only
// mxfp4's outside float16's range (every E4M3 value is a float16 and a bfloat16, every
// power of two from 2^-127 a bfloat16). Groups [first, first + 16) (the last ones padded
// as zero bytes: finite, and only ever multiplied by zeros), into out[first, first + 16);
// masked loads, not copies, for the part-vectors: a copy's stores then read as one vector
// stall the load.
template <class Simd>
void decode_scales(QuantMode mode, Dtype x_dtype, const std::uint8_t* bytes, std::int64_t groups,
                   std::int64_t first, float* out) {
  const int count = static_cast<int>(std::min<std::int64_t>(16, groups - first));
  auto s = mode == QuantMode::mxfp4 ? Simd::e8m0(bytes + first, count)
                                    : Simd::template minifloat8<4, 3>(bytes + first, count);
  if (mode == QuantMode::mxfp4 && x_dtype == Dtype::float16) {
    alignas(64) float16_t rounded[16];
    Simd::store(rounded, s);
    s = Simd::load(rounded);
  }
  Simd::store(out + first, s);
}

// Rows n + w * step (w < W) of W (N, K), groups of gs, for R rows of x in nibble order
// (`x_stride` floats apart); `scales` holds W rows of decoded scales. Each looked-up vector
// serves all R rows.
template <class Simd, int gs, int R, int W>
void fp4_nibble_rows(const MatmulArgs& a, const float* values, const float* x,
                     std::int64_t x_stride, float* scales, float* y, std::int64_t n,
                     std::int64_t step, std::int64_t ahead) {
  using F = typename Simd::F;
  using I = typename Simd::I;
  constexpr int kGroupShift = std::countr_zero(static_cast<unsigned>(gs / kCodesPerWord));
  const std::int64_t row_bytes = a.K / 2, groups = a.K / gs, padded = (groups + 15) / 16 * 16;
  const std::uint8_t *rows[W], *scale_bytes[W];
  for (int w = 0; w < W; ++w) {
    const std::int64_t row = n + w * step;
    rows[w] = reinterpret_cast<const std::uint8_t*>(a.wq) + row * row_bytes;
    scale_bytes[w] = static_cast<const std::uint8_t*>(a.scales) + row * groups;
    prefetch_lines<Simd>(scale_bytes[w] + ahead * groups, groups);
  }
  F acc[W][R];
  for (auto& row : acc) {
    for (F& v : row) v = Simd::zero();
  }
  const std::int64_t whole = a.K / kNibbleBlock * kNibbleBlock;
  for (std::int64_t k = 0; k < a.K; k += kNibbleBlock) {
    // Each block of 16 groups' scales decoded as the codes reach it, their loads alongside
    // the codes' (decoding a row's scales before its codes waited on memory twice per row:
    // gather_qmm 1.1x slower at 2 threads, cold).
    if (k % (16 * gs) == 0) {
      for (int w = 0; w < W; ++w) {
        decode_scales<Simd>(a.spec.mode, a.x_dtype, scale_bytes[w], groups, k / gs,
                            scales + w * padded);
      }
    }
    for (int w = 0; w < W; ++w) {
      // The last part-block by a masked load: zero codes (value 0) against x's zero
      // padding. Prefetches past the end never fault.
      I word;
      if (k < whole) {
        __builtin_prefetch(rows[w] + ahead * row_bytes + k / 2);
        word = Simd::load_words(rows[w] + k / 2);
      } else {
        __builtin_prefetch(rows[w] + ahead * row_bytes + row_bytes - 1);  // the row's last line
        word = Simd::load_words_first(rows[w] + k / 2, static_cast<int>(row_bytes - k / 2));
      }
      // Each shift takes the last one's result: shifts of the loaded word itself became 7
      // loads folded into them, split across cache lines where rows are not whole lines
      // (warm, 1 thread: 1.14x with the chain at gpt-oss's K = 2880, 1.05-1.08x at 2816
      // and 4096).
      F dot[R];
      F q = Simd::lookup_low_nibble(word, values);
      for (int r = 0; r < R; ++r) dot[r] = Simd::mul(q, Simd::load(x + r * x_stride + k));
      for (int j = 1; j < kCodesPerWord; ++j) {
        word = Simd::template shift_right<4>(word);
        q = Simd::lookup_low_nibble(word, values);
        for (int r = 0; r < R; ++r) {
          dot[r] = Simd::fmadd(q, Simd::load(x + r * x_stride + k + 16 * j), dot[r]);
        }
      }
      const F s = Simd::lane_groups(scales + w * padded, Dtype::float32, k / gs, kGroupShift);
      for (int r = 0; r < R; ++r) acc[w][r] = Simd::fmadd(dot[r], s, acc[w][r]);
    }
  }
  for (int w = 0; w < W; ++w) {
    for (int r = 0; r < R; ++r) y[r * a.N + n + w * step] = Simd::reduce_add(acc[w][r]);
  }
}

// R rows of x against FP4 W (N, K), threaded over N like the other few-rows kernels: 4 rows
// of W at a time for one row of x, 2 up to 6 rows (each x vector loaded once for both; warm
// 4096 x 4096, 1 thread, against one: 1.07-1.25x at 3 to 5 rows, 1.0-1.1x at 6), one for 7
// and 8 (2 R sums and 2 R accumulators would not fit in the registers).
template <class Simd, int gs, int R>
void fp4_nibble_gemv(const MatmulArgs& a, const reference::FpTables& t, const float* x, float* y) {
  const std::int64_t x_stride = nibble_blocks_padded(a.K);
  float* ordered = scratch_floats(ScratchSlot::sums, static_cast<std::size_t>(R * x_stride));
  for (int r = 0; r < R; ++r) nibble_order<Simd>(x + r * a.K, a.K, ordered + r * x_stride);
  constexpr int W = R == 1 ? 4 : R <= 6 ? 2 : 1;
  const std::int64_t padded = (a.K / gs + 15) / 16 * 16;
  core::parallel_for(
      a.N, streaming_grain<Simd>(a.N, 16), [&](std::int64_t begin, std::int64_t end) {
        float* scales = scratch_floats(ScratchSlot::panel, static_cast<std::size_t>(W * padded));
        const RowRuns<Simd, W> runs(begin, end, a.K / 2);
        runs.each([&](auto weight_rows, std::int64_t n, std::int64_t step) {
          fp4_nibble_rows<Simd, gs, R, decltype(weight_rows)::value>(
              a, t.values, ordered, x_stride, scales, y, n, step, runs.ahead);
        });
      });
}

}  // namespace qlinear::kernels::generic
