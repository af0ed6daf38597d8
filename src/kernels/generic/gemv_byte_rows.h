// The few-rows kernel for transposed W of 8-bit codes whose rows are one group, K a
// multiple of 64: an attention head's quantized keys (K = head_dim), one row per cached
// position. Such rows are too short for lanes along K: the lane sums of every row cost
// as much as its multiply-adds. Here lanes run along 16 rows of W instead. 16 rows' 64
// bytes are loaded and transposed in registers (16 x 16 words), so that lane l of word j
// holds codes 4j .. 4j + 3 of row n + l; each code field becomes code * 2^(8 position)
// exactly by an AND and a conversion (FieldLayout<8>: the upper two after one shift), and
// is multiplied by x pre-scaled by 2^(-8 position), broadcast. Each lane is then its row's
// dot product, in the order of K, with no lane sums; the scale and the bias term follow
// as vectors of 16 rows.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/generic/common.h"
#include "kernels/generic/gemv_fields.h"
#include "kernels/generic/problem.h"
#include "kernels/scratch.h"

namespace qlinear::kernels::generic {

template <class Simd, int bits>
concept ByteRowLanes = bits == 8 && Simd::kLanes == 16 && requires(typename Simd::I* v) {
  Simd::transpose(v);
};

// Rows of one group of whole 64-byte blocks, at least one block of 16 rows.
inline bool byte_rows_apply(const Problem& p) {
  return p.groups == 1 && p.K % 64 == 0 && p.N >= 16;
}

// Rows [n, n + 16) of W for R rows of x pre-scaled per field (xs) and their sums (xsum).
template <class Simd, int R>
void byte_rows_block(const Problem& p, const float* xs, const float* xsum, std::int64_t n) {
  using F = typename Simd::F;
  using I = typename Simd::I;
  using Layout = FieldLayout<8>;
  constexpr int L = Simd::kLanes;
  const std::int64_t K = p.K;
  // Blocks of 16 rows are one stretch of memory: the one kPrefetchBytes on.
  const std::int64_t ahead = std::max<std::int64_t>(L, kPrefetchBytes / p.row_bytes);
  prefetch_lines<Simd>(p.w + (n + ahead) * p.row_bytes, L * p.row_bytes);
  // Rows past N (the last block) repeat row N - 1; their lanes are dropped.
  const int count = static_cast<int>(std::min<std::int64_t>(L, p.N - n));
  const std::uint8_t* rows[L];
  for (int l = 0; l < L; ++l) rows[l] = p.w + std::min(n + l, p.N - 1) * p.row_bytes;
  F dot[R];
  for (F& d : dot) d = Simd::zero();
  for (std::int64_t k0 = 0; k0 < K; k0 += 4 * L) {
    I words[L];
#pragma GCC unroll 16
    for (int l = 0; l < L; ++l) words[l] = Simd::load_words(rows[l] + k0);
    Simd::transpose(words);
#pragma GCC unroll 16
    for (int j = 0; j < L; ++j) {
      const I high = Simd::template shift_right<Layout::kHighShift>(words[j]);
#pragma GCC unroll 4
      for (int f = 0; f < Layout::kFields; ++f) {
        const F q =
            Simd::template exact_field<8>(f < Layout::kLow ? words[j] : high, Layout::position(f));
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          dot[r] = Simd::fmadd(q, Simd::set1(xs[r * K + k0 + 4 * j + f]), dot[r]);
        }
      }
    }
  }
  const F scale = Simd::load_first(p.scales, p.scale_dtype, n, count);
  const F bias = Simd::load_first(p.biases, p.scale_dtype, n, count);
  for (int r = 0; r < R; ++r) {
    alignas(64) float out[L];
    Simd::store(out, Simd::fmadd(dot[r], scale, Simd::mul(bias, Simd::set1(xsum[r]))));
    std::copy(out, out + count, p.y + r * p.ldy + n);
  }
}

template <class Simd, int R>
void gemv_byte_rows(const Problem& p) {
  constexpr int L = Simd::kLanes;
  const std::int64_t K = p.K;
  using Layout = FieldLayout<8>;
  // x pre-scaled per field (dims 4j + f), and its sum (the bias term's).
  float* xs = scratch_floats(ScratchSlot::sums, static_cast<std::size_t>(R * (K + 1)));
  float* xsum = xs + R * K;
  float field_scale[Layout::kFields];
  for (int f = 0; f < Layout::kFields; ++f) field_scale[f] = Layout::x_scale(f);
  for (int r = 0; r < R; ++r) {
    for (std::int64_t k = 0; k < K; ++k) {
      xs[r * K + k] = p.x[r * K + k] * field_scale[k % Layout::kFields];
    }
    sum_groups<Simd>(p.x + r * K, 1, p.group_size, xsum + r);
  }
  const std::int64_t blocks = (p.N + L - 1) / L;
  core::parallel_for(blocks, streaming_grain<Simd>(blocks, 1),
                     [&](std::int64_t b0, std::int64_t b1) {
                       for (std::int64_t b = b0; b < b1; ++b)
                         byte_rows_block<Simd, R>(p, xs, xsum, b * L);
                     });
}

}  // namespace qlinear::kernels::generic
