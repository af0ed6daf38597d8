// The int8-activation matmul for up to 8 rows of x (decoding, a few tokens) and 1- to
// 6-bit codes, with the weight groups side by side: lane j of each vector belongs to group j of a
// block of 16 consecutive groups of one row of W. 1, 2 and 4 bits: the block's packed bytes (D = gs
// * bits / 32 words per group) are transposed so that vector t holds word t of every group, and
// each bit plane of a word (the codes at bits * p of its 4 bytes) is one vpdpbusd against x
// arranged the same way once per call, so each lane sums its own group. 3, 5 and 6 bits, whose
// codes straddle bytes: each lane takes a sub-group of 3 or 5 words, cut into pieces of whole codes
// whose codes vpmultishiftqb picks into bytes; the lanes of a group's sub-groups are then summed.
// Per 64 codes that is about 2 (1 bit) to 7 (5 bits) vector operations where the exact kernels need
// 8-14 and the 16-row kernel of int8_gemv.h 7 or more. Each row of W is read front to back, 16 rows
// one after another. Per 16 rows the vectors of group dot products are transposed to [group][row]
// and added by add_group, so the results are the other int8 kernels' bits. Included only by
// int8_matmul.cpp.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <utility>

#include "core/thread_pool.h"
#include "kernels/generic/common.h"
#include "kernels/kernels.h"
#include "kernels/scratch.h"
#include "kernels/x86/int8_activations.h"
#include "kernels/x86/int8_simd.h"
#include "kernels/x86/int8_weights.h"

namespace qlinear::kernels::avx512_bf16 {
namespace {

template <int bits>
inline constexpr bool kGroupLanes = bits <= 6;

// 3, 5 and 6 bits, whose codes straddle bytes: each lane takes a sub-group of kWords
// words, cut into pieces of whole codes (3 bytes: 8 or 4 codes; 20 bits: 4 codes) that
// are brought to bit 0 of a word one by one. The sub-groups of a group sit in
// per_group(gs) consecutive lanes.
template <int bits>
struct SubGroups {
  static constexpr bool kUsed = bits == 3 || bits == 5 || bits == 6;
  static constexpr int kWords = bits == 5 ? 5 : 3;
  static constexpr int kCodes = 32 * kWords / bits;
  static constexpr int kPieceBits = bits == 5 ? 20 : 24;
  static constexpr int kPieces = 32 * kWords / kPieceBits;
  static constexpr int kPieceCodes = kPieceBits / bits;
  static constexpr int kVectors = kCodes / 4;  // vpdpbusd operands per sub-group
  static constexpr int per_group(int gs) { return kUsed ? gs / kCodes : 1; }
};

// Rows of x that meet each unpacked vector of codes: from 6 rows the dot products of a
// block no longer fit in registers (M = 6 0.8-1.2x, M = 8 0.8-1.0x of the L1 panel kernel
// of int8_gemm.h, 4096 x 14336 cold, 2, 4 and 6 bits).
constexpr int kGroupLanesRows = 5;
// Up to 8 rows of x take the codes of each block twice from L1, for the first 5 rows and
// the rest: 1.1-1.6x the panel kernel at M = 6 and 8, but 6 bits (16 codes per 3 words,
// twice the unpacking per code of 3 bits) 0.92-1.06x, so 6 bits stop at 5 rows.
template <int bits>
inline constexpr int kGroupLanesMaxRows = bits == 6 ? kGroupLanesRows : 8;

// For a.M <= kGroupLanesMaxRows<bits> rows of x (the caller's compile-time row count).
inline bool group_lanes_apply(const MatmulArgs& a) {
  const int gs = a.spec.group_size;
  return gs == 32 || gs == 64 || gs == 128;
}

// Bytes of packed codes per `count` groups.
template <int bits>
constexpr std::int64_t packed_bytes(int gs, std::int64_t count) {
  return count * gs * bits / 8;
}

// The first `bytes` of the 64 at p, the rest zero.
inline __m512i load_bytes(const std::uint8_t* p, int bytes) {
  if (bytes >= 64) return _mm512_loadu_si512(p);
  return _mm512_maskz_loadu_epi8(bytes <= 0 ? __mmask64{0} : (__mmask64{1} << bytes) - 1, p);
}

// v[0..D) holds 16 D consecutive words; afterwards v[t] lane j holds word j D + t. Each
// level splits the words by the parity of their index (two permutes per pair of vectors);
// 3 or 5 vectors take one permute per source pair and one for the last vector.
// Inlined by force: GCC 12 calls the recursion, passing the vectors through memory.
template <int D>
[[gnu::always_inline]] inline void words_by_group(__m512i v[D]) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  if constexpr (D % 2 == 1 && D > 1) {
    __m512i out[D];
    for (int t = 0; t < D; ++t) {
      // Word D j + t: from v[2 i], v[2 i + 1] between 32 i and 32 i + 31 (the two-source
      // permute reads 5 index bits), from v[D - 1] at the top (the masked permute reads 4).
      const __m512i word =
          _mm512_add_epi32(_mm512_mullo_epi32(lane, _mm512_set1_epi32(D)), _mm512_set1_epi32(t));
      out[t] = _mm512_permutex2var_epi32(v[0], word, v[1]);
      for (int i = 1; i < D / 2; ++i) {
        const __mmask16 from = _mm512_cmpge_epi32_mask(word, _mm512_set1_epi32(32 * i));
        out[t] = _mm512_mask_mov_epi32(out[t], from,
                                       _mm512_permutex2var_epi32(v[2 * i], word, v[2 * i + 1]));
      }
      const __mmask16 top = _mm512_cmpge_epi32_mask(word, _mm512_set1_epi32(32 * (D / 2)));
      out[t] = _mm512_mask_permutexvar_epi32(out[t], top, word, v[D - 1]);
    }
    for (int t = 0; t < D; ++t) v[t] = out[t];
  } else if constexpr (D > 1) {
    const __m512i even = _mm512_add_epi32(lane, lane);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    __m512i e[D / 2], o[D / 2];
    for (int i = 0; i < D / 2; ++i) {
      e[i] = _mm512_permutex2var_epi32(v[2 * i], even, v[2 * i + 1]);
      o[i] = _mm512_permutex2var_epi32(v[2 * i], odd, v[2 * i + 1]);
    }
    words_by_group<D / 2>(e);
    words_by_group<D / 2>(o);
    for (int s = 0; s < D / 2; ++s) {
      v[2 * s] = e[s];
      v[2 * s + 1] = o[s];
    }
  }
}

// The x code that meets byte i of lane j of operand vector v (of gs / 4 per block of 16
// groups), or -1 past the last group. 1, 2 and 4 bits: vector t P + p is plane p of word
// t of each group (P = 8 / bits codes per byte). 3, 5 and 6 bits: vector V s + c is codes
// 4 c.. 4 c + 3 of sub-group s of each lane's (V = SubGroups::kVectors).
template <int bits>
std::int64_t operand_code(int gs, std::int64_t groups, std::int64_t block, int v, int j, int i) {
  using SG = SubGroups<bits>;
  if constexpr (SG::kUsed) {
    const int per_group = SG::per_group(gs);
    const std::int64_t sub = 16 * (per_group * block + v / SG::kVectors) + j;
    return sub < groups * per_group ? SG::kCodes * sub + 4 * (v % SG::kVectors) + i : -1;
  } else {
    constexpr int P = 8 / bits;
    const std::int64_t g = 16 * block + j;
    return g < groups ? g * gs + (4 * (v / P) + i) * P + v % P : -1;
  }
}

// Operand vectors per row of x: gs / 4 per block of 16 groups.
inline std::int64_t operand_vectors(const MatmulArgs& a) {
  return (a.K / a.spec.group_size + 15) / 16 * a.spec.group_size / 4;
}

// x (M rows, each a tile of its own: natural order) as the kernel's operands, per row
// blocks of 16 groups one after another.
template <int bits>
const __m512i* spread_groups(const MatmulArgs& a, const QuantizedRows& x) {
  const int gs = a.spec.group_size;
  const std::int64_t groups = a.K / gs;
  const std::int64_t vectors = operand_vectors(a);
  auto* out = reinterpret_cast<std::int8_t*>(
      scratch_floats(ScratchSlot::sums, static_cast<std::size_t>(a.M * vectors * 16)));
  const auto* xq = reinterpret_cast<const std::int8_t*>(x.words);  // row r from r K on
  for (std::int64_t v = 0; v < vectors; ++v) {
    for (int j = 0; j < 16; ++j) {
      for (int i = 0; i < 4; ++i) {
        const std::int64_t code =
            operand_code<bits>(gs, groups, v / (gs / 4), static_cast<int>(v % (gs / 4)), j, i);
        for (std::int64_t r = 0; r < a.M; ++r)
          out[(r * vectors + v) * 64 + 4 * j + i] = code < 0 ? 0 : xq[r * a.K + code];
      }
    }
  }
  return reinterpret_cast<const __m512i*>(out);
}

// The operands of R rows of x: row r's from xs + r * stride.
struct RowOperands {
  const __m512i* xs;
  std::int64_t stride;
  const __m512i& at(int r, int v) const { return xs[r * stride + v]; }
};

// vpdpbusd chains per row of x, so that their latency overlaps: 4 for one row, 2 for more.
template <int R>
inline constexpr int kChains = R == 1 ? 4 : 2;

template <int R>
void zero_chains(__m512i (&acc)[R][kChains<R>]) {
  for (auto& row : acc) {
    for (__m512i& c : row) c = _mm512_setzero_si512();
  }
}

template <int R>
void sum_chains(const __m512i (&acc)[R][kChains<R>], __m512i (&out)[R]) {
  for (int r = 0; r < R; ++r) {
    out[r] = _mm512_add_epi32(acc[r][0], acc[r][1]);
    if constexpr (kChains<R> == 4)
      out[r] = _mm512_add_epi32(out[r], _mm512_add_epi32(acc[r][2], acc[r][3]));
  }
}

// 1, 2 or 4 bits, lane j of out[r]: the integer dot product of row r of x with group j of
// the `count` (<= 16) groups whose packed codes start at w; x holds the block's gs / 4
// operand vectors of each row.
template <int bits, int gs, int R, class Codes>
void plane_dots(const Codes& codes, const std::uint8_t* w, const RowOperands& x, int count,
                __m512i (&out)[R]) {
  constexpr int D = gs * bits / 32;
  constexpr int P = 8 / bits;
  __m512i v[D];
  const int bytes = static_cast<int>(packed_bytes<bits>(gs, count));
#pragma GCC unroll 8
  for (int t = 0; t < D; ++t) v[t] = load_bytes(w + 64 * t, bytes - 64 * t);
  words_by_group<D>(v);
  constexpr int C = kChains<R>;
  __m512i acc[R][C];
  zero_chains(acc);
  [&]<int... p>(std::integer_sequence<int, p...>) {
#pragma GCC unroll 8
    for (int t = 0; t < D; ++t) {
      (
          [&] {
            const __m512i bytes = codes.template plane_of<bits, p>(v[t]);
#pragma GCC unroll 4
            for (int r = 0; r < R; ++r) {
              __m512i& chain = acc[r][(t * P + p) % C];
              chain = dot_accumulate(chain, bytes, x.at(r, t * P + p));
            }
          }(),
          ...);
    }
  }
  (std::make_integer_sequence<int, P>{});
  sum_chains(acc, out);
}

// Piece k of the sub-groups v (after words_by_group) at bit 0 of each lane: a funnel shift
// joins the two words it straddles.
template <int bits, int k>
__m512i piece(const __m512i* v) {
  constexpr int at = k * SubGroups<bits>::kPieceBits, word = at / 32, shift = at % 32;
  if constexpr (shift == 0) return v[word];
  if constexpr (shift + SubGroups<bits>::kPieceBits <= 32) return _mm512_srli_epi32(v[word], shift);
  return _mm512_shrdi_epi32(v[word], v[word + 1], shift);
}

// vpmultishiftqb's bit offsets that bring codes 4 h.. 4 h + 3 of a piece, in each 32-bit half
// of a 64-bit lane, to the bytes of that half.
template <int bits>
alignas(64) inline constexpr auto kPickOffsets = [] {
  std::array<std::array<std::uint8_t, 64>, SubGroups<bits>::kPieceCodes / 4> offsets{};
  for (std::size_t h = 0; h < offsets.size(); ++h) {
    for (int b = 0; b < 64; ++b)
      offsets[h][b] = static_cast<std::uint8_t>(32 * (b / 4 % 2) + bits * (4 * h + b % 4));
  }
  return offsets;
}();

// 3, 5 or 6 bits, lane j of out[r]: the dot product of row r of x with sub-group j of the
// `count` (<= 16, may be <= 0) at w; x from operand vector `first` on. vpmultishiftqb
// takes 4 codes of a piece from each 32-bit half of a 64-bit lane into bytes.
template <int bits, int R>
void sub_group_dots(const std::uint8_t* w, const RowOperands& x, int first, int count,
                    __m512i (&out)[R]) {
  using SG = SubGroups<bits>;
  constexpr int H = SG::kPieceCodes / 4;  // vpdpbusd operands per piece
  __m512i v[SG::kWords];
  for (int t = 0; t < SG::kWords; ++t)
    v[t] = load_bytes(w + 64 * t, 4 * SG::kWords * count - 64 * t);
  words_by_group<SG::kWords>(v);
  const __m512i mask = _mm512_set1_epi8((1 << bits) - 1);
  constexpr int C = kChains<R>;
  __m512i acc[R][C];
  zero_chains(acc);
  [&]<int... k>(std::integer_sequence<int, k...>) {
    (
        [&] {
          const __m512i codes = piece<bits, k>(v);
#pragma GCC unroll 2
          for (int h = 0; h < H; ++h) {
            const __m512i bytes =
                _mm512_and_si512(_mm512_multishift_epi64_epi8(
                                     _mm512_load_si512(kPickOffsets<bits>[h].data()), codes),
                                 mask);
#pragma GCC unroll 4
            for (int r = 0; r < R; ++r) {
              __m512i& chain = acc[r][(H * k + h) % C];
              chain = dot_accumulate(chain, bytes, x.at(r, first + H * k + h));
            }
          }
        }(),
        ...);
  }
  (std::make_integer_sequence<int, SG::kPieces>{});
  sum_chains(acc, out);
}

// One vector from S (a power of two, <= 16) whose lanes come in runs of S: lane l holds
// the sum of the run of vector l % S that starts at lane S * (l / S), so run r of vector
// t lands in lane S r + t (lane_of_run). Each level pairs vectors and adds lanes d apart
// (d = 1, 2, 4, 8): two blends, one swap and one add per pair.
template <int S>
[[gnu::always_inline]] inline __m512i sum_runs(__m512i v[S]) {
  [&]<int... level>(std::integer_sequence<int, level...>) {
    (
        [&] {
          constexpr int d = 1 << level;
          constexpr __mmask16 upper = d == 1 ? 0xAAAA : d == 2 ? 0xCCCC : d == 4 ? 0xF0F0 : 0xFF00;
          for (int i = 0; i < (S >> (level + 1)); ++i) {
            const __m512i a = v[2 * i], b = v[2 * i + 1];
            // Lanes with bit d set from b, the others from a; the swap brings each lane's
            // partner d away.
            const __m512i kept = _mm512_mask_blend_epi32(upper, a, b);
            const __m512i other = _mm512_mask_blend_epi32(upper, b, a);
            __m512i swapped;
            if constexpr (d == 1) swapped = _mm512_shuffle_epi32(other, _MM_PERM_CDAB);
            if constexpr (d == 2) swapped = _mm512_shuffle_epi32(other, _MM_PERM_BADC);
            if constexpr (d == 4) swapped = _mm512_shuffle_i32x4(other, other, _MM_PERM_CDAB);
            if constexpr (d == 8) swapped = _mm512_shuffle_i32x4(other, other, _MM_PERM_BADC);
            v[i] = _mm512_add_epi32(kept, swapped);
          }
        }(),
        ...);
  }
  (std::make_integer_sequence<int, std::countr_zero(static_cast<unsigned>(S))>{});
  return v[0];
}

// The lane of sum_runs<S>'s result that holds group g (run g % (16 / S) of vector
// g / (16 / S)).
template <int S>
constexpr int lane_of_run(int g) {
  return g % (16 / S) * S + g / (16 / S);
}

// 3, 5 or 6 bits: group g of the `count` at w in lane lane_of_run<S>(g) of out[r], the
// sum of its S sub-groups.
template <int bits, int gs, int R>
void sub_groups_group_dots(const std::uint8_t* w, const RowOperands& x, int count,
                           __m512i (&out)[R]) {
  using SG = SubGroups<bits>;
  constexpr int S = SG::per_group(gs);
  __m512i sub[R][S];
#pragma GCC unroll 8
  for (int s = 0; s < S; ++s) {
    __m512i dots[R];
    sub_group_dots<bits, R>(w + 64 * SG::kWords * s, x, SG::kVectors * s, S * count - 16 * s, dots);
    for (int r = 0; r < R; ++r) sub[r][s] = dots[r];
  }
  for (int r = 0; r < R; ++r) out[r] = sum_runs<S>(sub[r]);
}

// The dot product of row r of x with group g of the `count` (<= 16) at w in lane
// lane_of_run<SubGroups<bits>::per_group(gs)>(g) of out[r]; 1, 2 and 4 bits take each
// plane's bytes from `codes` (int8_weights.h).
template <int bits, int gs, int R, class Codes>
void group_dots(const Codes& codes, const std::uint8_t* w, const RowOperands& x, int count,
                __m512i (&out)[R]) {
  if constexpr (SubGroups<bits>::kUsed) {
    sub_groups_group_dots<bits, gs, R>(w, x, count, out);
  } else {
    plane_dots<bits, gs, R>(codes, w, x, count, out);
  }
}

// Rows [m0, m0 + R) of x against one block of `count` groups at `packed`: kGroupLanesRows
// rows per unpacking of the block, the rest from it again (in L1).
template <int bits, int gs, int R, class Codes>
void block_dots(const Codes& codes, const std::uint8_t* packed, const RowOperands& xs,
                std::int64_t m0, std::int64_t block, int count, __m512i (&out)[R]) {
  const auto rows_of_x = [&]<int first, int rows>() {
    __m512i part[rows];
    group_dots<bits, gs, rows>(
        codes, packed, {xs.xs + (m0 + first) * xs.stride + block * gs / 4, xs.stride}, count, part);
    for (int r = 0; r < rows; ++r) out[first + r] = part[r];
  };
  rows_of_x.template operator()<0, std::min(R, kGroupLanesRows)>();
  if constexpr (R > kGroupLanesRows) {
    rows_of_x.template operator()<kGroupLanesRows, R - kGroupLanesRows>();
  }
}

// The 16 columns from n0 on (those past N are left alone) of R rows of y; dots is room
// for R x 16 rows of group dot products. Each block of a row prefetches its codes
// kPrefetchBytes or more (whole rows) on, spread over the row rather than a row at once
// (measured: 4 bits 1.1x cold at 1 thread, 1.15x at 2), and each row its own scales and
// biases, which the slab reads after its 16 rows of codes.
template <class Simd, int bits, int gs, int R, class Codes>
void group_lanes_slab(const MatmulArgs& a, const Codes& codes, const QuantizedRows& x,
                      const RowOperands& xs, const generic::RowParams<Simd>& params,
                      std::int64_t n0, __m512i* dots, float* y) {
  const std::int64_t groups = a.K / gs;
  const std::int64_t blocks = (groups + 15) / 16;
  const std::int64_t row_bytes = a.K * bits / 8;
  const std::int64_t ahead = (generic::kPrefetchBytes + row_bytes - 1) / row_bytes;
  const int live = static_cast<int>(std::min<std::int64_t>(16, a.N - n0));
  const auto* w = reinterpret_cast<const std::uint8_t*>(a.wq) + n0 * row_bytes;
  for (int n = 0; n < live; ++n) {
    params.prefetch(n0 + n);
    for (std::int64_t block = 0; block < blocks; ++block) {
      const int count = static_cast<int>(std::min<std::int64_t>(16, groups - 16 * block));
      const std::uint8_t* packed = w + n * row_bytes + packed_bytes<bits>(gs, 16 * block);
      generic::prefetch_lines<Simd>(packed + ahead * row_bytes, packed_bytes<bits>(gs, count));
      __m512i out[R];
      block_dots<bits, gs, R>(codes, packed, xs, 0, block, count, out);
      for (int r = 0; r < R; ++r) dots[(r * 16 + n) * blocks + block] = out[r];
    }
  }
  __m512 out[R];
  for (__m512& o : out) o = _mm512_setzero_ps();
  for (std::int64_t block = 0; block < blocks; ++block) {
    const std::int64_t g0 = 16 * block;
    const int count = static_cast<int>(std::min<std::int64_t>(16, groups - g0));
    __m512i s[16], b[16];
    codes.params(n0, live, groups, g0, count, s, b);
    for (int r = 0; r < R; ++r) {
      __m512i m[16];
      for (int n = 0; n < 16; ++n)
        m[n] = n < live ? dots[(r * 16 + n) * blocks + block] : _mm512_setzero_si512();
      x86::transpose16(m);
      for (int j = 0; j < count; ++j) {
        out[r] = add_group(out[r], m[lane_of_run<SubGroups<bits>::per_group(gs)>(j)],
                           _mm512_castsi512_ps(s[j]), _mm512_castsi512_ps(b[j]),
                           x.scales[r * groups + g0 + j], x.sums[r * groups + g0 + j]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    _mm512_mask_storeu_ps(y + r * a.N + n0, static_cast<__mmask16>((1u << live) - 1u), out[r]);
}

// y (R, N) float32 = x @ W.T for R = M rows of x; group_lanes_apply(a) must hold.
template <class Simd, int bits, int R, class Codes>
void int8_gemv_groups(const MatmulArgs& a, const Codes& codes, float* y) {
  const QuantizedRows x = quantize_rows<8>(a, 1);  // a tile per row, in natural order
  const RowOperands xs{spread_groups<bits>(a, x), operand_vectors(a)};
  const std::int64_t groups = a.K / a.spec.group_size;
  const std::int64_t blocks = (groups + 15) / 16;
  const std::int64_t slabs = (a.N + 15) / 16;
  const generic::RowParams<Simd> params(a.scales, a.biases, a.scale_dtype, groups);
  const auto run = [&]<int gs>() {
    core::parallel_for(
        slabs, generic::streaming_grain<Simd>(slabs, 1), [&](std::int64_t begin, std::int64_t end) {
          auto* dots = reinterpret_cast<__m512i*>(
              scratch_floats(ScratchSlot::panel, static_cast<std::size_t>(R * 16 * blocks * 16)));
          for (std::int64_t slab = begin; slab < end; ++slab) {
            group_lanes_slab<Simd, bits, gs, R>(a, codes, x, xs, params, 16 * slab, dots, y);
          }
        });
  };
  switch (a.spec.group_size) {
    case 32:
      return run.template operator()<32>();
    case 64:
      return run.template operator()<64>();
    default:
      return run.template operator()<128>();
  }
}

}  // namespace
}  // namespace qlinear::kernels::avx512_bf16
