// The few-rows kernel for transposed W with 2- and 4-bit codes, which never straddle a
// 32-bit word. Each vector lane holds one word, i.e. 32/bits codes ("fields"); field f
// of every lane is turned into exact floats with two instructions and no shift:
//   float_bits(0x4B000000 | (word & field_mask)) - 2^23 = code * 2^(bits * position)
// (exact while the field lies below bit 23; the upper fields are shifted down once).
// x is permuted once per call into the same field order and scaled by 2^-(bits*position),
// so the products are exactly code * x and the sums are float32 sums as elsewhere.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/generic/problem.h"
#include "kernels/scratch.h"

namespace qlinear::kernels::generic {

template <int bits>
struct FieldLayout {
  static constexpr int kFields = 32 / bits;       // codes per 32-bit word
  static constexpr int kLow = 23 / bits;          // fields read in place (below bit 23)
  static constexpr int kHighShift = kLow * bits;  // the rest, after one shift right
  static constexpr int position(int field) { return field < kLow ? field : field - kLow; }
};

// x rows laid out per block of Simd::kLanes words: [block][field][lane], pre-scaled;
// and per block, each lane's share of its group's sum of x (for the bias term).
template <class Simd, int bits>
struct PermutedX {
  static constexpr int L = Simd::kLanes;
  using Layout = FieldLayout<bits>;
  static constexpr int kBlockCodes = L * Layout::kFields;

  const float* values;      // R rows of K
  const float* group_sums;  // R rows of K / kFields
};

template <class Simd, int bits>
PermutedX<Simd, bits> permute_x(const Problem& p) {
  using PX = PermutedX<Simd, bits>;
  using Layout = FieldLayout<bits>;
  constexpr int L = Simd::kLanes;
  const std::int64_t words = p.K / Layout::kFields;
  float* values = scratch_floats(ScratchSlot::sums, static_cast<std::size_t>(p.M * (p.K + words)));
  float* sums = values + p.M * p.K;
  const int lanes_per_group = p.group_size / Layout::kFields;
  for (std::int64_t r = 0; r < p.M; ++r) {
    const float* x = p.x + r * p.K;
    for (std::int64_t k = 0; k < p.K; ++k) {
      const std::int64_t block = k / PX::kBlockCodes;
      const int lane = static_cast<int>(k % PX::kBlockCodes) / Layout::kFields;
      const int field = static_cast<int>(k % Layout::kFields);
      values[r * p.K + (block * Layout::kFields + field) * L + lane] =
          std::ldexp(x[k], -bits * Layout::position(field));
    }
    for (std::int64_t g = 0; g < p.groups; ++g) {
      float s = 0.0f;
      for (int j = 0; j < p.group_size; ++j) s += x[g * p.group_size + j];
      // A power of two: each lane's share is exact and the lanes add back to s.
      const float share = s / static_cast<float>(lanes_per_group);
      for (int w = 0; w < lanes_per_group; ++w) sums[r * words + g * lanes_per_group + w] = share;
    }
  }
  return {values, sums};
}

template <class Simd, int bits, int R, int W_ROWS>
void gemv_fields_rows(const Problem& p, const PermutedX<Simd, bits>& px, std::int64_t n_begin,
                      std::int64_t n_end) {
  using F = typename Simd::F;
  using I = typename Simd::I;
  using Layout = FieldLayout<bits>;
  constexpr int L = Simd::kLanes;
  constexpr int kFields = Layout::kFields;
  const std::int64_t K = p.K;
  const std::int64_t words = K / kFields;
  const std::int64_t blocks = words / L;
  const std::int64_t row_bytes = p.row_bytes;
  const int lanes_per_group = p.group_size / kFields;
  const float* const xs = px.values;
  const float* const sums = px.group_sums;
  std::int64_t n = n_begin;
  for (; n + W_ROWS <= n_end; n += W_ROWS) {
    const std::uint8_t* const rows = p.w + n * row_bytes;
    F acc[W_ROWS][R];
#pragma GCC unroll 8
    for (int i = 0; i < W_ROWS; ++i) {
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[i][r] = Simd::zero();
    }
    for (std::int64_t blk = 0; blk < blocks; ++blk) {
      const float* const xb = xs + blk * kFields * L;
      F dot[W_ROWS][R];
      I low[W_ROWS], high[W_ROWS];
#pragma GCC unroll 8
      for (int i = 0; i < W_ROWS; ++i) {
        // The next W_ROWS rows: each row is only a few KiB, too short a stream for the
        // hardware prefetcher to ramp up on (measured: 1.6-1.8x at M = 1, cold).
        __builtin_prefetch(rows + (W_ROWS + i) * row_bytes + blk * L * 4);
        low[i] = Simd::load_words(rows + i * row_bytes + blk * L * 4);
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
          const F q = Simd::template exact_field<bits>(f < Layout::kLow ? low[i] : high[i],
                                                       Layout::position(f));
#pragma GCC unroll 8
          for (int r = 0; r < R; ++r) dot[i][r] = Simd::fmadd(q, xv[r], dot[i][r]);
        }
      }
#pragma GCC unroll 8
      for (int i = 0; i < W_ROWS; ++i) {
        const std::int64_t first_group = ((n + i) * words + blk * L) / lanes_per_group;
        const F scale = Simd::lane_groups(p.scales, p.scale_dtype, first_group, lanes_per_group);
        const F bias = Simd::lane_groups(p.biases, p.scale_dtype, first_group, lanes_per_group);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          acc[i][r] = Simd::fmadd(dot[i][r], scale, acc[i][r]);
          acc[i][r] = Simd::fmadd(bias, Simd::load(sums + r * words + blk * L), acc[i][r]);
        }
      }
    }
#pragma GCC unroll 8
    for (int i = 0; i < W_ROWS; ++i) {
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) p.y[r * p.ldy + n + i] = Simd::reduce_add(acc[i][r]);
    }
  }
  if constexpr (W_ROWS > 1) gemv_fields_rows<Simd, bits, R, 1>(p, px, n, n_end);
}

// Usable when a row is whole blocks of words (K * bits / 32 a multiple of kLanes).
template <class Simd, int bits>
bool fields_apply(const Problem& p) {
  return (bits == 2 || bits == 4) && (p.K * bits / 32) % Simd::kLanes == 0;
}

template <class Simd, int bits, int R>
void gemv_fields(const Problem& p) {
  const PermutedX<Simd, bits> px = permute_x<Simd, bits>(p);
  constexpr int kWeightRows = R >= 4 ? 1 : 4 / R;
  core::parallel_for(p.N, 32, [&](std::int64_t begin, std::int64_t end) {
    gemv_fields_rows<Simd, bits, R, kWeightRows>(p, px, begin, end);
  });
}

}  // namespace qlinear::kernels::generic
