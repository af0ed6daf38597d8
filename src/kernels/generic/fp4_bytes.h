// The few-rows kernel for FP4 W (mxfp4, nvfp4) where Simd has 8 lanes and looks bytes up
// by an index's low 4 bits within 128-bit halves (AVX2's vpshufb), not floats across the
// vector (AVX2's vpermps reads 3 bits: a 16-entry lookup costs two and a blend). Every FP4
// value is a bfloat16, so a code becomes a float32 by two byte lookups (its bfloat16's low
// and high bytes), an interleave of the two into words and a move of each word into a
// float32's top half. Per 64 codes (32 bytes) that is a shift and two masks for the
// nibbles, 4 lookups, 4 interleaves, 4 shifts and 4 masks, 19 operations, where the pairs
// kernel's lookups of floats spent 40 (16 permutes, 8 blends, a widening and shifts).
// Simd::fp4_block returns the 64 codes in the order Simd::kFp4BlockOrder, x is reordered
// to match once per call, and each vector's two halves of 4 lanes lie in one group each (a
// scale vector of two values). docs/kernels.md, "FP4 on AVX2 by byte lookups". Every row
// is one chain of operations whatever the thread count.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#include "core/thread_pool.h"
#include "kernels/generic/common.h"
#include "kernels/kernels.h"
#include "kernels/reference/reference.h"
#include "kernels/scratch.h"

namespace qlinear::kernels::generic {

inline constexpr int kFp4ByteBlock = 64;                   // codes per Simd::fp4_block
inline constexpr int kFp4ByteVectors = kFp4ByteBlock / 8;  // its vectors of 8 lanes

template <class Simd>
concept Fp4ByteLookup = Simd::kLanes == 8 &&
                        requires(const std::uint8_t* p, typename Simd::F (&out)[kFp4ByteVectors]) {
  Simd::fp4_block(p, Simd::fp4_tables(p, p), out);
  Simd::kFp4BlockOrder[kFp4ByteBlock - 1];
  Simd::set_halves(0.0f, 0.0f);
};

// The vectors of a block that share a scale vector (the same groups in their lower and
// upper 4 lanes), for groups of gs: mxfp4's one class, nvfp4's two. No classes (count 0)
// where a half of a vector spans two groups.
struct Fp4ScaleClasses {
  int count = 0;
  std::array<int, kFp4ByteVectors> of{};              // vector -> class
  std::array<int, kFp4ByteVectors> lower{}, upper{};  // class -> groups of the block
};

template <class Simd, int gs>
constexpr Fp4ScaleClasses fp4_scale_classes() {
  Fp4ScaleClasses c;
  for (int v = 0; v < kFp4ByteVectors; ++v) {
    const auto group = [&](int l) { return Simd::kFp4BlockOrder[8 * v + l] / gs; };
    const int lower = group(0), upper = group(4);
    for (int l = 0; l < 4; ++l) {
      if (group(l) != lower || group(4 + l) != upper) return {};
    }
    int k = 0;
    while (k < c.count && (c.lower[k] != lower || c.upper[k] != upper)) ++k;
    if (k == c.count) {
      c.lower[k] = lower;
      c.upper[k] = upper;
      ++c.count;
    }
    c.of[v] = k;
  }
  return c;
}

inline std::int64_t fp4_byte_blocks_padded(std::int64_t K) {
  return (K + kFp4ByteBlock - 1) / kFp4ByteBlock * kFp4ByteBlock;
}

// x in the order fp4_block returns codes; zeros past K up to a whole block.
template <class Simd>
void fp4_byte_order(const float* x, std::int64_t K, float* out) {
  reorder_blocks<Simd, kFp4ByteBlock>(
      x, K, [](int i) { return Simd::kFp4BlockOrder[i]; }, out);
}

// The 16 values' bfloat16 bytes (the low 16 bits of each FP4 value's float32 are zero).
template <class Simd>
auto fp4_byte_tables(const float* values) {
  alignas(16) std::uint8_t low[16], high[16];
  for (int c = 0; c < 16; ++c) {
    const auto bits = std::bit_cast<std::uint32_t>(values[c]);
    low[c] = static_cast<std::uint8_t>(bits >> 16);
    high[c] = static_cast<std::uint8_t>(bits >> 24);
  }
  return Simd::fp4_tables(low, high);
}

// Rows n + w * step (w < W) of W (N, K), groups of gs, for R rows of x in fp4_block's
// order (`x_stride` floats apart). Each block's values serve all R rows; each row's sums
// over a group are scaled once, as MLX does.
template <class Simd, int gs, int R, int W, class Tables>
void fp4_byte_rows(const MatmulArgs& a, const float* scale_table, const Tables& tables,
                   const float* x, std::int64_t x_stride, float* y, std::int64_t n,
                   std::int64_t step, std::int64_t ahead) {
  using F = typename Simd::F;
  static constexpr Fp4ScaleClasses kClasses = fp4_scale_classes<Simd, gs>();
  constexpr int C = kClasses.count;
  static_assert(C > 0, "each half of fp4_block's vectors lies in one group");
  const std::int64_t row_bytes = a.K / 2, groups = a.K / gs;
  const std::uint8_t *rows[W], *scales[W];
  for (int w = 0; w < W; ++w) {
    rows[w] = reinterpret_cast<const std::uint8_t*>(a.wq) + (n + w * step) * row_bytes;
    scales[w] = static_cast<const std::uint8_t*>(a.scales) + (n + w * step) * groups;
  }
  F acc[W][R][C];
  for (auto& row : acc) {
    for (auto& sums : row) {
      for (F& v : sums) v = Simd::zero();
    }
  }
  // The block of codes at k of each row; `scale(w, g)` is group g of the block in row w.
  auto block = [&](std::int64_t k, const std::uint8_t* const(&codes)[W], auto scale) {
    for (int w = 0; w < W; ++w) {
      F q[kFp4ByteVectors];
      Simd::fp4_block(codes[w], tables, q);
      F s[C];
      for (int c = 0; c < C; ++c) {
        s[c] = Simd::set_halves(scale(w, kClasses.lower[c]), scale(w, kClasses.upper[c]));
      }
      for (int r = 0; r < R; ++r) {
        const float* xr = x + r * x_stride + k;
        // Two chains per class (the two halves of the block), for the multiply-adds' latency.
        F dot[2][C];
        for (auto& half : dot) {
          for (F& v : half) v = Simd::zero();
        }
        for (int v = 0; v < kFp4ByteVectors; ++v) {
          F& d = dot[v / (kFp4ByteVectors / 2)][kClasses.of[v]];
          d = Simd::fmadd(q[v], Simd::load(xr + 8 * v), d);
        }
        for (int c = 0; c < C; ++c) {
          acc[w][r][c] = Simd::fmadd(Simd::add(dot[0][c], dot[1][c]), s[c], acc[w][r][c]);
        }
      }
    }
  };
  const std::int64_t whole = a.K / kFp4ByteBlock * kFp4ByteBlock;
  for (std::int64_t k = 0; k < whole; k += kFp4ByteBlock) {
    const std::uint8_t* codes[W];
    for (int w = 0; w < W; ++w) {
      codes[w] = rows[w] + k / 2;
      // A line of codes a few rows on in the run (as gemv_fields.h), and of their scales.
      // Prefetches past the end never fault.
      if (k % 128 == 0) __builtin_prefetch(codes[w] + ahead * row_bytes);
      if (k % (64 * gs) == 0) __builtin_prefetch(scales[w] + ahead * groups + k / gs);
    }
    block(k, codes, [&](int w, int g) { return scale_table[scales[w][k / gs + g]]; });
  }
  if (whole < a.K) {
    // The last part-block: zero codes (value +0) against x's zero padding, and a zero
    // scale for the groups past the row (their bytes are the next row's, or past the end).
    std::uint8_t tail[W][kFp4ByteBlock / 2] = {};
    const std::uint8_t* codes[W];
    for (int w = 0; w < W; ++w) {
      std::memcpy(tail[w], rows[w] + whole / 2, static_cast<std::size_t>(row_bytes - whole / 2));
      codes[w] = tail[w];
    }
    const std::int64_t first = whole / gs;
    block(whole, codes, [&](int w, int g) {
      return first + g < groups ? scale_table[scales[w][first + g]] : 0.0f;
    });
  }
  for (int w = 0; w < W; ++w) {
    for (int r = 0; r < R; ++r) {
      F sum = acc[w][r][0];
      for (int c = 1; c < C; ++c) sum = Simd::add(sum, acc[w][r][c]);
      y[r * a.N + n + w * step] = Simd::reduce_add(sum);
    }
  }
}

// R rows of x against FP4 W (N, K), threaded over N like the other few-rows kernels.
template <class Simd, int gs, int R>
void fp4_byte_gemv(const MatmulArgs& a, const reference::FpTables& t, const float* x, float* y) {
  const std::int64_t x_stride = fp4_byte_blocks_padded(a.K);
  float* ordered = scratch_floats(ScratchSlot::sums, static_cast<std::size_t>(R * x_stride));
  for (int r = 0; r < R; ++r) fp4_byte_order<Simd>(x + r * a.K, a.K, ordered + r * x_stride);
  const auto tables = fp4_byte_tables<Simd>(t.values);
  constexpr int W = R == 1 ? 2 : 1;
  core::parallel_for(a.N, streaming_grain<Simd>(a.N, 16),
                     [&](std::int64_t begin, std::int64_t end) {
                       const RowRuns<Simd, W> runs(begin, end, a.K / 2);
                       runs.each([&](auto weight_rows, std::int64_t n, std::int64_t step) {
                         fp4_byte_rows<Simd, gs, R, decltype(weight_rows)::value>(
                             a, t.scales, tables, ordered, x_stride, y, n, step, runs.ahead);
                       });
                     });
}

}  // namespace qlinear::kernels::generic
