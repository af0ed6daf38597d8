// The one-row kernel for transposed W with 1-bit codes, by tables over x (the T-MAC
// idea): every 4-bit nibble of a packed row holds 4 / bits codes, and for each nibble
// position of the row a table of 16 floats holds the dot product of x's codes there with
// every value the nibble can take. Lanes run along 16 rows of W: a block of words of 16
// rows is transposed in registers, so that one vector holds the same word of 16 rows;
// each nibble is then a shift and a 16-float lookup, added into the group's sum. That is
// about 3.5 vector operations per 4 bits of 16 rows (the transpose included), where the
// field kernel takes 8 at 1 bit and 6 at 2 bits.
// Each lane's result is the same chain of operations wherever its row falls in a block,
// so results do not depend on the thread count. The tables round each nibble's products
// and their sum once each (exactly code * x for one code): float32 roundoff as elsewhere.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

#include "core/thread_pool.h"
#include "kernels/generic/common.h"
#include "kernels/generic/problem.h"
#include "kernels/scratch.h"
#include "qlinear/dtype.h"

namespace qlinear::kernels::generic {

// Instruction sets with a 16-float lookup in registers that reads only an index's low 4
// bits, and a 16 x 16 transpose of words: lanes are 16 rows of W. Only 1-bit codes: at 2
// bits the same kernel was 1.1x faster than the field kernel warm but 0.91-1.01x cold at
// g64, mixed at g32 / g128 (4096 x 14336, docs/kernels.md "M=1 1-bit by tables over x"),
// and M = 1 runs cold.
template <class Simd, int bits>
concept NibbleTables = bits == 1 && Simd::kLanes == 16 &&
                       requires(typename Simd::I i, typename Simd::I* v, const float* t) {
  Simd::lookup_low_nibble(i, t);
  Simd::transpose(v);
};

inline constexpr int kNibblesPerWord = 8;
inline constexpr int kTableFloats = 16;

// Below this many rows of W the field kernel is as fast: building the K / 4 tables costs
// about what they save on so few rows. Measured 2048 x N, warm, 1 thread: 0.9-1.0x at N =
// 16, 1.1x at 32, 1.3x at 64 (docs/kernels.md "M=1 1-bit by tables over x").
inline constexpr std::int64_t kTableMinRows = 32;

// Usable where a row is whole blocks of 16 words (the transposed block) and a group is 1,
// 2 or 4 words (groups of 32, 64 or 128 1-bit codes).
template <class Simd, int bits>
bool tables_apply(const Problem& p) {
  const int group_words = p.group_size * bits / 32;
  return p.N >= kTableMinRows && p.row_bytes % (Simd::kLanes * 4) == 0 &&
         p.group_size * bits % 32 == 0 &&
         (group_words == 1 || group_words == 2 || group_words == 4);
}

// Table t (nibble t of the row, codes k = t * (4 / bits) on) as entry i: the sum over the
// nibble's codes c of ((i >> (bits * c)) & mask) * x[k + c], the products in code order.
// After the K / (4 / bits) tables, the sums of x per group.
template <class Simd, int bits>
const float* build_tables(const Problem& p) {
  constexpr int kCodes = 4 / bits;
  const std::int64_t nibbles = p.K / kCodes;
  float* tables = scratch_floats(ScratchSlot::sums,
                                 static_cast<std::size_t>(nibbles * kTableFloats + p.groups));
  typename Simd::F digit[kCodes];
  for (int c = 0; c < kCodes; ++c) {
    alignas(64) float d[kTableFloats];
    for (int i = 0; i < kTableFloats; ++i)
      d[i] = static_cast<float>((i >> (bits * c)) & ((1 << bits) - 1));
    digit[c] = Simd::load(d);
  }
  for (std::int64_t t = 0; t < nibbles; ++t) {
    const float* x = p.x + t * kCodes;
    auto v = Simd::mul(digit[0], Simd::set1(x[0]));
    for (int c = 1; c < kCodes; ++c) v = Simd::fmadd(digit[c], Simd::set1(x[c]), v);
    Simd::store(tables + t * kTableFloats, v);
  }
  sum_groups<Simd>(p.x, p.groups, p.group_size, tables + nibbles * kTableFloats);
  return tables;
}

// The 8 nibbles of one word of 16 rows through their tables (the first at `tables`),
// summed as a tree: a short dependency chain per word.
template <class Simd>
typename Simd::F word_dot(typename Simd::I word, const float* tables) {
  return [&]<int... f>(std::integer_sequence<int, f...>) {
    typename Simd::F v[kNibblesPerWord] = {Simd::lookup_low_nibble(
        Simd::template shift_right<4 * f>(word), tables + f * kTableFloats)...};
    return Simd::add(Simd::add(Simd::add(v[0], v[1]), Simd::add(v[2], v[3])),
                     Simd::add(Simd::add(v[4], v[5]), Simd::add(v[6], v[7])));
  }
  (std::make_integer_sequence<int, kNibblesPerWord>{});
}

// Step `step` of `steps` over `bytes` bytes from `base`: its share of the 64-byte lines,
// in address order. Prefetches past the end never fault.
inline void prefetch_share(const void* base, std::int64_t bytes, std::int64_t step,
                           std::int64_t steps) {
  const char* b = static_cast<const char*>(base);
  for (std::int64_t at = step * bytes / steps / 64 * 64; at < (step + 1) * bytes / steps;
       at += 64) {
    __builtin_prefetch(b + at);
  }
}

// Lane i: sum_g bias[first[i] + g] * xsum[g], the 16 rows' dot products side by side and
// then summed across their lanes by one transposing tree.
template <class Simd>
typename Simd::F bias_dots(const Problem& p, const std::int64_t* first, const float* xsum) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes;
  F acc[L];
  for (F& a : acc) a = Simd::zero();
  for (std::int64_t g0 = 0; g0 < p.groups; g0 += L) {
    const int count = static_cast<int>(std::min<std::int64_t>(L, p.groups - g0));
    const F sums = Simd::load_first(xsum, Dtype::float32, g0, count);
    for (int i = 0; i < L; ++i) {
      acc[i] = Simd::fmadd(Simd::load_first(p.biases, p.scale_dtype, first[i] + g0, count), sums,
                           acc[i]);
    }
  }
  return Simd::reduce_each(acc, Simd::add);
}

// Rows [n, n + 16) of W, lane i row n + i (rows past N repeat row N - 1: their lanes are
// computed and dropped), groups of kGroupWords words:
//   sum_g scale[row, g] * (x_g . q_g) + bias[row, g] * sum(x_g).
template <class Simd, int kGroupWords>
typename Simd::F table_rows(const Problem& p, const float* tables, const float* xsum,
                            std::int64_t n) {
  using F = typename Simd::F;
  using I = typename Simd::I;
  constexpr int L = Simd::kLanes;
  constexpr int kBlockGroups = L / kGroupWords;  // groups per block of L words
  const std::int64_t words = p.row_bytes / 4;
  const std::int64_t G = p.groups;
  const std::uint8_t* rows[L];
  std::int64_t first_group[L];
  for (int i = 0; i < L; ++i) {
    const std::int64_t row = std::min(n + i, p.N - 1);
    rows[i] = p.w + row * p.row_bytes;
    first_group[i] = row * G;
  }
  // The next 16 rows' codes, scales and biases, each in address order, a share per block
  // of words: rows are streams too short for the hardware prefetcher (as in
  // gemv_fields.h), and the 16 rows are one stretch of memory.
  const std::int64_t param_bytes = static_cast<std::int64_t>(size_of(p.scale_dtype)) * G;
  const std::int64_t next_codes = L * p.row_bytes, next_params = L * param_bytes;
  const auto* next_scales = static_cast<const char*>(p.scales) + (n + L) * param_bytes;
  const auto* next_biases = static_cast<const char*>(p.biases) + (n + L) * param_bytes;
  // Scales of 16 groups of the 16 rows, transposed: scales[j] holds group g0 + j.
  alignas(64) float scales[L][L];
  F y = Simd::zero();
  for (std::int64_t w0 = 0; w0 < words; w0 += L) {
    const std::int64_t step = w0 / L, steps = words / L;
    prefetch_share(p.w + (n + L) * p.row_bytes, next_codes, step, steps);
    prefetch_share(next_scales, next_params, step, steps);
    prefetch_share(next_biases, next_params, step, steps);
    const std::int64_t g0 = w0 / kGroupWords;
    if (g0 % L == 0) {
      F s[L];
      const int count = static_cast<int>(std::min<std::int64_t>(L, G - g0));
      for (int i = 0; i < L; ++i) {
        s[i] = Simd::load_first(p.scales, p.scale_dtype, first_group[i] + g0, count);
      }
      Simd::transpose(s);
      for (int j = 0; j < L; ++j) Simd::store(scales[j], s[j]);
    }
    I block[L];
#pragma GCC unroll 16
    for (int i = 0; i < L; ++i) block[i] = Simd::load_words(rows[i] + w0 * 4);
    Simd::transpose(block);
    auto dot_of_word = [&](int word) {
      return word_dot<Simd>(block[word], tables + (w0 + word) * kNibblesPerWord * kTableFloats);
    };
#pragma GCC unroll 16
    for (int h = 0; h < kBlockGroups; ++h) {
      F dot = dot_of_word(h * kGroupWords);
#pragma GCC unroll 8
      for (int j = 1; j < kGroupWords; ++j) dot = Simd::add(dot, dot_of_word(h * kGroupWords + j));
      y = Simd::fmadd(dot, Simd::load(scales[g0 % L + h]), y);
    }
  }
  return Simd::add(y, bias_dots<Simd>(p, first_group, xsum));
}

template <class Simd, int bits>
void gemv_tables(const Problem& p) {
  constexpr int L = Simd::kLanes;
  const float* tables = build_tables<Simd, bits>(p);
  const float* xsum = tables + p.K / (4 / bits) * kTableFloats;
  auto run = [&](auto group_words) {
    constexpr int kGroupWords = decltype(group_words)::value;
    const std::int64_t blocks = (p.N + L - 1) / L;
    // Long runs of blocks per task; the prefetch of the next block is wasted at a task's end.
    core::parallel_for(blocks, streaming_grain<Simd>(blocks, 1),
                       [&](std::int64_t begin, std::int64_t end) {
                         for (std::int64_t b = begin; b < end; ++b) {
                           const std::int64_t n = b * L;
                           alignas(64) float out[L];
                           Simd::store(out, table_rows<Simd, kGroupWords>(p, tables, xsum, n));
                           for (int i = 0; i < L && n + i < p.N; ++i) p.y[n + i] = out[i];
                         }
                       });
  };
  switch (p.group_size * bits / 32) {  // words per group (tables_apply)
    case 1:
      return run(std::integral_constant<int, 1>{});
    case 2:
      return run(std::integral_constant<int, 2>{});
    default:
      return run(std::integral_constant<int, 4>{});
  }
}

}  // namespace qlinear::kernels::generic
