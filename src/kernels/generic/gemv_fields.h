// The few-rows kernel for transposed W with 2- to 6-bit codes. Each 32-bit vector lane
// holds a run of whole codes ("fields"): one word of 2- or 4-bit codes, three bytes of 3-
// or 6-bit codes (8 or 4 of them), or half of five bytes of 5-bit codes (4 of them, the
// upper half shifted down). Field f of every lane is turned into exact floats with two
// instructions and no shift: an AND keeps the field, an integer-to-float conversion gives
//   float(lane & field_mask) = code * 2^(bits * position)
// exactly (a few significant bits). The fields above bit 23 are shifted down once, so that
// x, which is permuted once per call into the same field order, is scaled by no less than
// 2^-22: the products are exactly code * x and the sums are float32 sums as
// elsewhere.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "core/thread_pool.h"
#include "kernels/generic/common.h"
#include "kernels/generic/problem.h"
#include "kernels/scratch.h"

namespace qlinear::kernels::generic {

// How a lane holds its codes: a word of them where 32 is a multiple of bits, three bytes
// where 24 is (3, 6), half of five bytes for 5 bits. Another width has no layout, and
// instantiating the field kernel for it fails to compile.
template <int bits>
struct FieldLayout {
  static_assert(32 % bits == 0 || 24 % bits == 0 || bits == 5, "no lane layout for this width");
  static constexpr int kFields = 32 % bits == 0 ? 32 / bits : bits == 5 ? 4 : 24 / bits;
  static constexpr int kLow = 23 / bits;          // fields read in place (below bit 23)
  static constexpr int kHighShift = kLow * bits;  // the rest, after one shift right
  static constexpr int position(int field) { return field < kLow ? field : field - kLow; }
  // What x is scaled by for a field, 2^(-bits * position): the field read in place is
  // code * 2^(bits * position), so the product is exactly code * x (multiplying by it is
  // exact, or rounds as ldexp would).
  static float x_scale(int field) { return std::ldexp(1.0f, -bits * position(field)); }
  // Packed bytes per block of `lanes` lanes.
  static constexpr int block_bytes(int lanes) { return lanes * kFields * bits / 8; }
};

// 1-bit fields on instruction sets with per-lane predication (Simd::add_where_bit): each
// field adds x where its bit is set, x unscaled and no field shifted. The products are the
// same: code * (x * 2^-f) * 2^f is exactly code * x (while x * 2^-f is normal).
template <class Simd, int bits>
concept BitMaskFields = bits == 1 && requires(typename Simd::I w, typename Simd::F x) {
  Simd::add_where_bit(w, 0, x, x);
};

// One block of packed codes as kLanes lanes of kFields codes.
template <class Simd, int bits>
typename Simd::I load_lanes(const std::uint8_t* p) {
  if constexpr (32 % bits == 0) {
    return Simd::load_words(p);
  } else if constexpr (bits == 5) {
    return Simd::load_quintets(p);
  } else {
    static_assert(24 % bits == 0);
    return Simd::load_triples(p);
  }
}

// x rows laid out per block of Simd::kLanes lanes: [block][field][lane], pre-scaled;
// and the sums of x per group (for the bias term).
template <class Simd, int bits>
struct PermutedX {
  static constexpr int L = Simd::kLanes;
  using Layout = FieldLayout<bits>;
  static constexpr int kBlockCodes = L * Layout::kFields;

  const float* values;      // R rows of K
  const float* group_sums;  // R rows of K / group_size
};

template <class Simd, int bits>
PermutedX<Simd, bits> permute_x(const Problem& p) {
  using PX = PermutedX<Simd, bits>;
  using Layout = FieldLayout<bits>;
  constexpr int L = Simd::kLanes;
  float* values =
      scratch_floats(ScratchSlot::sums, static_cast<std::size_t>(p.M * (p.K + p.groups)));
  float* sums = values + p.M * p.K;
  float field_scale[Layout::kFields];
  for (int f = 0; f < Layout::kFields; ++f) {
    field_scale[f] = BitMaskFields<Simd, bits> ? 1.0f : Layout::x_scale(f);
  }
  for (std::int64_t r = 0; r < p.M; ++r) {
    const float* x = p.x + r * p.K;
    float* out = values + r * p.K;
    // Per block, a transpose of kLanes runs of kFields codes into kFields rows of kLanes.
    for (std::int64_t k0 = 0; k0 < p.K; k0 += PX::kBlockCodes) {
      for (int f = 0; f < Layout::kFields; ++f) {
        for (int lane = 0; lane < L; ++lane) {
          out[k0 + f * L + lane] = x[k0 + lane * Layout::kFields + f] * field_scale[f];
        }
      }
    }
    sum_groups<Simd>(x, p.groups, p.group_size, sums + r * p.groups);
  }
  return {values, sums};
}

// Blocks [blk_begin, blk_end) of W_ROWS rows of W, n + i * step for i < W_ROWS, added
// into acc; prefetching `ahead` rows on and (from the first block) their scales and
// biases.
template <class Simd, int bits, int R, int W_ROWS>
void gemv_fields_blocks(const Problem& p, const PermutedX<Simd, bits>& px, std::int64_t n,
                        std::int64_t step, std::int64_t ahead, const RowParams<Simd>& params,
                        std::int64_t blk_begin, std::int64_t blk_end,
                        typename Simd::F (&acc)[W_ROWS][R]) {
  using F = typename Simd::F;
  using I = typename Simd::I;
  using Layout = FieldLayout<bits>;
  constexpr int L = Simd::kLanes;
  constexpr int kFields = Layout::kFields;
  constexpr int kBlockBytes = Layout::block_bytes(L);
  const std::int64_t K = p.K;
  const std::int64_t words = K / kFields;  // lanes of codes per row
  const std::int64_t row_bytes = p.row_bytes;
  // Lanes per group are a power of two: the group of a lane is a shift away (no division
  // in the loop).
  const int group_shift = std::countr_zero(static_cast<unsigned>(p.group_size / kFields));
  const std::uint8_t* const rows = p.w + n * row_bytes;
  if (blk_begin == 0) {
    // The scales and biases of the rows prefetched below: a run's rows are a stream of
    // them too, a line or two per row.
    for (int i = 0; i < W_ROWS; ++i) params.prefetch(n + i * step + ahead);
  }
  for (std::int64_t blk = blk_begin; blk < blk_end; ++blk) {
    const float* const xb = px.values + blk * kFields * L;
    F dot[W_ROWS][R];
    I low[W_ROWS], high[W_ROWS];
#pragma GCC unroll 8
    for (int i = 0; i < W_ROWS; ++i) {
      // The same block a few rows on in this row's run: the hardware prefetcher alone
      // reads too little ahead (measured: 1.6-1.8x at M = 1, cold).
      const std::uint8_t* const row = rows + i * step * row_bytes + blk * kBlockBytes;
      __builtin_prefetch(row + ahead * row_bytes);
      low[i] = load_lanes<Simd, bits>(row);
      high[i] = Simd::template shift_right<Layout::kHighShift>(low[i]);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) dot[i][r] = Simd::zero();
    }
#pragma GCC unroll 16
    for (int f = 0; f < kFields; ++f) {
      F xv[R];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) xv[r] = Simd::load(xb + r * K + f * L);
#pragma GCC unroll 8
      for (int i = 0; i < W_ROWS; ++i) {
        if constexpr (BitMaskFields<Simd, bits>) {
#pragma GCC unroll 8
          for (int r = 0; r < R; ++r) dot[i][r] = Simd::add_where_bit(low[i], f, xv[r], dot[i][r]);
        } else {
          const F q = Simd::template exact_field<bits>(f < Layout::kLow ? low[i] : high[i],
                                                       Layout::position(f));
#pragma GCC unroll 8
          for (int r = 0; r < R; ++r) dot[i][r] = Simd::fmadd(q, xv[r], dot[i][r]);
        }
      }
    }
#pragma GCC unroll 8
    for (int i = 0; i < W_ROWS; ++i) {
      const std::int64_t first_group = ((n + i * step) * words + blk * L) >> group_shift;
      const F scale = Simd::lane_groups(p.scales, p.scale_dtype, first_group, group_shift);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[i][r] = Simd::fmadd(dot[i][r], scale, acc[i][r]);
    }
  }
}

// Rows [n_begin, n_end) of W, W_ROWS at a time from W_ROWS runs (RowRuns). Where R rows
// of x do not fit in L1 next to the weights, K is taken in chunks: every row of a tile of
// units runs one chunk, its accumulators parked in scratch until the next. Each
// accumulator sees the same operations in the same order as without chunks.
template <class Simd, int bits, int R, int W_ROWS>
void gemv_fields_rows(const Problem& p, const PermutedX<Simd, bits>& px, std::int64_t n_begin,
                      std::int64_t n_end) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes;
  constexpr std::int64_t kBlockCodes = PermutedX<Simd, bits>::kBlockCodes;
  constexpr std::int64_t kResidentXFloats = 4096;  // 16 KiB of x per chunk
  constexpr std::int64_t kTileRows = 32;
  const RowRuns<Simd, W_ROWS> runs(n_begin, n_end, p.row_bytes);
  const RowParams<Simd> params(p.scales, p.biases, p.scale_dtype, p.groups);
  const std::int64_t blocks = p.K / kBlockCodes;
  const std::int64_t chunk = std::max<std::int64_t>(1, kResidentXFloats / (R * kBlockCodes));
  float* parked = scratch_floats(ScratchSlot::panel, static_cast<std::size_t>(kTileRows * R * L));

  float* mine = parked;  // the next unit's place in the tile
  std::int64_t blk_begin = 0;
  auto run = [&](auto weight_rows, std::int64_t n, std::int64_t step) {
    constexpr int W = decltype(weight_rows)::value;
    const std::int64_t blk_end = std::min(blk_begin + chunk, blocks);
    F acc[W][R];
#pragma GCC unroll 8
    for (int i = 0; i < W; ++i) {
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        acc[i][r] = blk_begin == 0 ? Simd::zero() : Simd::load(mine + (i * R + r) * L);
      }
    }
    gemv_fields_blocks<Simd, bits, R, W>(p, px, n, step, runs.ahead, params, blk_begin, blk_end,
                                         acc);
#pragma GCC unroll 8
    for (int i = 0; i < W; ++i) {
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        if (blk_end < blocks) {
          Simd::store(mine + (i * R + r) * L, acc[i][r]);
        } else {
          const std::int64_t row = n + i * step;
          p.y[r * p.ldy + row] = Simd::reduce_add(acc[i][r]) +
                                 dot_floats<Simd>(p.biases, p.scale_dtype, row * p.groups,
                                                  px.group_sums + r * p.groups, p.groups);
        }
      }
    }
    mine += W * R * L;
  };
  // Tiles of units of at most kTileRows rows (W_ROWS divides kTileRows).
  constexpr std::int64_t kTileUnits = kTileRows / W_ROWS;
  for (std::int64_t tile = 0; tile < runs.units(); tile += kTileUnits) {
    const std::int64_t tile_end = std::min(tile + kTileUnits, runs.units());
    for (blk_begin = 0; blk_begin < blocks; blk_begin += chunk) {
      mine = parked;
      runs.each(tile, tile_end, run);
    }
  }
}

// The widths with a lane layout (8-bit codes are bytes already).
template <int bits>
inline constexpr bool kFieldWidth = bits != 8;

// Usable when a row is whole blocks (kLanes lanes of codes).
template <class Simd, int bits>
bool fields_apply(const Problem& p) {
  return p.row_bytes % FieldLayout<bits>::block_bytes(Simd::kLanes) == 0;
}

// Rows of W at a time for R rows of x: 4 for one or two rows of x; for more, as many as
// their R x W products and sums leave registers for (4 kGemvRows of them, a few kept for
// codes and x), a power of two so that they divide the 32-row tiles. Measured, 4096 x
// 4096 4-bit, 1 thread: AVX-512 M = 3 1.08x (4 rows of W, not 2), M = 5, 6 1.22x (2, not
// 1); AVX2 M = 3-8 1.15-1.29x (1, not 2).
template <class Simd, int R>
inline constexpr int kFieldWeightRows =
    R <= 2 ? 4
           : static_cast<int>(std::bit_floor(
                 static_cast<unsigned>(std::clamp((4 * Simd::kGemvRows - 6) / (2 * R), 1, 4))));

// More rows of x than Simd::kFieldPassRows take two passes over each span of kPassBytes of
// W, the second finding it in L2: with 8 rows in one pass every multiply-add has its own
// load of x, with 4 rows each x vector serves two rows of W. Measured (4096 x 4096, 1
// thread, GFLOP/s, one pass -> two): M = 7, 8 2-bit 67.6 -> 83.2, 67.5 -> 81.5; 3-bit
// 66.6 -> 71.3, 66.8 -> 72.4; 4-bit 68.8 -> 82.1, 69.1 -> 84.4; M = 6 1.0-1.15x; M = 5
// about even warm, 0.95x cold (AVX-512 keeps it in one pass). Not for 5- and 6-bit fields,
// whose unpacking costs more per field: 0.85-0.92x in two passes.
inline constexpr std::int64_t kPassBytes = std::int64_t{512} << 10;

template <class Simd, int bits, int R>
void gemv_fields(const Problem& p) {
  const PermutedX<Simd, bits> px = permute_x<Simd, bits>(p);
  constexpr int kFirst = R <= Simd::kFieldPassRows || bits > 4 ? R : (R + 1) / 2;
  constexpr int kSecond = R - kFirst;
  // The second pass: x rows from kFirst on, and their rows of y.
  Problem q = p;
  q.y = p.y + kFirst * p.ldy;
  const PermutedX<Simd, bits> qx{px.values + kFirst * p.K, px.group_sums + kFirst * p.groups};
  const std::int64_t span = std::max<std::int64_t>(1, kPassBytes / p.row_bytes / 32) * 32;
  core::parallel_for(
      p.N, streaming_grain<Simd>(p.N, 32), [&](std::int64_t begin, std::int64_t end) {
        if constexpr (kSecond == 0) {
          gemv_fields_rows<Simd, bits, R, kFieldWeightRows<Simd, R>>(p, px, begin, end);
        } else {
          for (std::int64_t n = begin; n < end; n += span) {
            const std::int64_t n_end = std::min(n + span, end);
            gemv_fields_rows<Simd, bits, kFirst, kFieldWeightRows<Simd, kFirst>>(p, px, n, n_end);
            gemv_fields_rows<Simd, bits, kSecond, kFieldWeightRows<Simd, kSecond>>(q, qx, n, n_end);
          }
        }
      });
}

}  // namespace qlinear::kernels::generic
