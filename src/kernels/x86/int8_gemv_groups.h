// The int8-activation matmul for one row of x (decoding) and 1- or 2-bit codes, with the
// weight groups side by side: lane j of each vector belongs to group j of a block of 16
// consecutive groups of one row of W. The block's packed bytes (D = gs * bits / 32 words
// per group) are transposed so that vector t holds word t of every group; each bit plane
// of a word (the codes at bits * p of its 4 bytes) is one vpdpbusd against x arranged the
// same way once per call, so each lane sums its own group and no horizontal sum is needed.
// Per 64 codes that is about 3 vector operations where the exact kernels need 8-12 and the
// 16-row kernel of int8_gemv.h about 7 (it interleaves 4 rows of W per 64 codes and sums
// blocks); 1 and 2 bits read so few bytes per code that those operations, not memory,
// bound them. Each row of W is read front to back, 16 rows one after another. Per 16 rows
// the vectors of group dot products are transposed to [group][row] and added by add_group,
// so the results are the other int8 kernels' bits. Included only by int8_matmul.cpp.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/generic/common.h"
#include "kernels/kernels.h"
#include "kernels/scratch.h"
#include "kernels/x86/int8_activations.h"
#include "kernels/x86/int8_simd.h"

namespace qlinear::kernels::avx512_bf16 {
namespace {

template <int bits>
inline constexpr bool kGroupLanes = bits == 1 || bits == 2 || bits == 3;

inline bool group_lanes_apply(const MatmulArgs& a) {
  const int gs = a.spec.group_size;
  return a.M == 1 && (gs == 32 || gs == 64 || gs == 128);
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
// three vectors take one two-source and one one-source permute each.
// Inlined by force: GCC 12 calls the recursion, passing the vectors through memory.
template <int D>
[[gnu::always_inline]] inline void words_by_group(__m512i v[D]) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  if constexpr (D == 3) {
    __m512i out[3];
    for (int t = 0; t < 3; ++t) {
      // Word 3 j + t: from v[0], v[1] below 32 (the permute reads 5 index bits), else v[2]
      // (the masked permute reads 4).
      const __m512i word =
          _mm512_add_epi32(_mm512_mullo_epi32(lane, _mm512_set1_epi32(3)), _mm512_set1_epi32(t));
      const __mmask16 high = _mm512_cmpge_epi32_mask(word, _mm512_set1_epi32(32));
      out[t] = _mm512_mask_permutexvar_epi32(_mm512_permutex2var_epi32(v[0], word, v[1]), high,
                                             word, v[2]);
    }
    for (int t = 0; t < 3; ++t) v[t] = out[t];
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

// Plane p of packed codes, the code at bit bits * p of each byte as that byte: one GF(2)
// affine transform of each byte, whose matrix (row 7 - i for result bit i) moves those
// bits to the bottom and clears the others.
template <int bits, int p>
__m512i plane(__m512i v) {
  std::uint64_t matrix = 0;
  for (int i = 0; i < bits; ++i) matrix |= std::uint64_t{1} << (bits * p + i) << (8 * (7 - i));
  return _mm512_gf2p8affine_epi64_epi8(v, _mm512_set1_epi64(static_cast<long long>(matrix)), 0);
}

// The x code that meets byte i of lane j of operand vector v (of gs / 4 per block of 16
// groups), or -1 past the last group. 1 and 2 bits: vector t P + p is plane p of word t
// of each group (P = 8 / bits codes per byte). 3 bits: vector 8 s + 2 u + h is codes
// 4 h.. 4 h + 3 of unit u (8 codes) of 32-code sub-group s of each lane's.
template <int bits>
std::int64_t operand_code(int gs, std::int64_t groups, std::int64_t block, int v, int j, int i) {
  if constexpr (bits == 3) {
    const int per_group = gs / 32;
    const std::int64_t sub = 16 * (per_group * block + v / 8) + j;
    return sub < groups * per_group ? 32 * sub + 4 * (v % 8) + i : -1;
  } else {
    constexpr int P = 8 / bits;
    const std::int64_t g = 16 * block + j;
    return g < groups ? g * gs + (4 * (v / P) + i) * P + v % P : -1;
  }
}

// x (one row, quantized in natural order) as the kernel's operands, blocks of 16 groups
// one after another.
template <int bits>
const __m512i* spread_groups(const MatmulArgs& a, const QuantizedRows& x) {
  const int gs = a.spec.group_size;
  const std::int64_t groups = a.K / gs;
  const std::int64_t blocks = (groups + 15) / 16;
  auto* out = reinterpret_cast<std::int8_t*>(
      scratch_floats(ScratchSlot::sums, static_cast<std::size_t>(blocks * gs / 4 * 16)));
  const auto* xq = reinterpret_cast<const std::int8_t*>(x.words);
  for (std::int64_t block = 0; block < blocks; ++block) {
    for (int v = 0; v < gs / 4; ++v) {
      std::int8_t* vector = out + (block * gs / 4 + v) * 64;
      for (int j = 0; j < 16; ++j) {
        for (int i = 0; i < 4; ++i) {
          const std::int64_t code = operand_code<bits>(gs, groups, block, v, j, i);
          vector[4 * j + i] = code < 0 ? 0 : xq[code];
        }
      }
    }
  }
  return reinterpret_cast<const __m512i*>(out);
}

inline __m512i sum_chains(const __m512i acc[4]) {
  return _mm512_add_epi32(_mm512_add_epi32(acc[0], acc[1]), _mm512_add_epi32(acc[2], acc[3]));
}

// 1 or 2 bits, lane j: the integer dot product of x with group j of the `count` (<= 16)
// groups whose packed codes start at w; xs holds the block's gs / 4 operand vectors.
template <int bits, int gs>
__m512i plane_dots(const std::uint8_t* w, const __m512i* xs, int count) {
  constexpr int D = gs * bits / 32;
  constexpr int P = 8 / bits;
  __m512i v[D];
  const int bytes = static_cast<int>(packed_bytes<bits>(gs, count));
#pragma GCC unroll 8
  for (int t = 0; t < D; ++t) v[t] = load_bytes(w + 64 * t, bytes - 64 * t);
  words_by_group<D>(v);
  // Four chains, so that vpdpbusd's latency overlaps.
  __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                    _mm512_setzero_si512()};
  [&]<int... p>(std::integer_sequence<int, p...>) {
#pragma GCC unroll 8
    for (int t = 0; t < D; ++t) {
      ((acc[(t * P + p) % 4] =
            dot_accumulate(acc[(t * P + p) % 4], plane<bits, p>(v[t]), xs[t * P + p])),
       ...);
    }
  }
  (std::make_integer_sequence<int, P>{});
  return sum_chains(acc);
}

// 3 bits, lane j: the dot product of x with 32-code sub-group j of the `count` (<= 16,
// may be <= 0) at w, 3 words each. Its 4 units of 8 codes (3 bytes) are brought to bit 0
// of a word (a funnel shift joins the two that straddle words); vpmultishiftqb then takes
// 4 codes of a unit from each 32-bit half of a 64-bit lane.
inline __m512i unit_dots(const std::uint8_t* w, const __m512i* xs, int count) {
  __m512i v[3];
  for (int t = 0; t < 3; ++t) v[t] = load_bytes(w + 64 * t, 12 * count - 64 * t);
  words_by_group<3>(v);
  const __m512i units[4] = {v[0], _mm512_shrdi_epi32(v[0], v[1], 24),
                            _mm512_shrdi_epi32(v[1], v[2], 16), _mm512_srli_epi32(v[2], 8)};
  alignas(64) std::uint8_t offsets[2][64];
  for (int h = 0; h < 2; ++h) {
    for (int b = 0; b < 64; ++b)
      offsets[h][b] = static_cast<std::uint8_t>(32 * (b / 4 % 2) + 3 * (4 * h + b % 4));
  }
  const __m512i mask = _mm512_set1_epi8(7);
  __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                    _mm512_setzero_si512()};
#pragma GCC unroll 4
  for (int u = 0; u < 4; ++u) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const __m512i codes = _mm512_and_si512(
          _mm512_multishift_epi64_epi8(_mm512_load_si512(offsets[h]), units[u]), mask);
      acc[(2 * u + h) % 4] = dot_accumulate(acc[(2 * u + h) % 4], codes, xs[2 * u + h]);
    }
  }
  return sum_chains(acc);
}

// 3 bits, lane j: group j of the `count` at w, the sum of its gs / 32 sub-groups' lanes.
template <int gs>
__m512i units_group_dots(const std::uint8_t* w, const __m512i* xs, int count) {
  constexpr int S = gs / 32;
  __m512i sub[S];
  for (int s = 0; s < S; ++s) sub[s] = unit_dots(w + 192 * s, xs + 8 * s, S * count - 16 * s);
  if constexpr (S == 1) {
    return sub[0];
  } else {
    // Each group's S lanes summed into its first, then those lanes gathered.
    for (__m512i& v : sub) {
      v = _mm512_add_epi32(v, _mm512_srli_epi64(v, 32));
      if constexpr (S == 4) v = _mm512_add_epi32(v, _mm512_bsrli_epi128(v, 8));
    }
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i firsts = _mm512_mullo_epi32(lane, _mm512_set1_epi32(S));
    if constexpr (S == 2) return _mm512_permutex2var_epi32(sub[0], firsts, sub[1]);
    return _mm512_shuffle_i64x2(_mm512_permutex2var_epi32(sub[0], firsts, sub[1]),
                                _mm512_permutex2var_epi32(sub[2], firsts, sub[3]), 0x44);
  }
}

// Lane j: the dot product of x with group j of the `count` (<= 16) at w.
template <int bits, int gs>
__m512i group_dots(const std::uint8_t* w, const __m512i* xs, int count) {
  if constexpr (bits == 3) return units_group_dots<gs>(w, xs, count);
  return plane_dots<bits, gs>(w, xs, count);
}

// The 16 columns from n0 on (those past N are left alone) of y; dots is room for 16 rows
// of group dot products. Each row prefetches the codes kPrefetchBytes on and its own
// scales and biases, which the slab reads after its 16 rows of codes.
template <class Simd, int bits, int gs>
void group_lanes_slab(const MatmulArgs& a, const QuantizedRows& x, const __m512i* xs,
                      const generic::RowParams<Simd>& params, std::int64_t n0, __m512i* dots,
                      float* y) {
  const std::int64_t groups = a.K / gs;
  const std::int64_t blocks = (groups + 15) / 16;
  const std::int64_t row_bytes = a.K * bits / 8;
  const std::int64_t ahead = (generic::kPrefetchBytes + row_bytes - 1) / row_bytes;
  const int live = static_cast<int>(std::min<std::int64_t>(16, a.N - n0));
  const auto* w = reinterpret_cast<const std::uint8_t*>(a.wq) + n0 * row_bytes;
  for (int r = 0; r < live; ++r) {
    generic::prefetch_lines<Simd>(w + (r + ahead) * row_bytes, row_bytes);
    params.prefetch(n0 + r);
    for (std::int64_t block = 0; block < blocks; ++block) {
      const int count = static_cast<int>(std::min<std::int64_t>(16, groups - 16 * block));
      dots[r * blocks + block] = group_dots<bits, gs>(
          w + r * row_bytes + packed_bytes<bits>(gs, 16 * block), xs + block * gs / 4, count);
    }
  }
  __m512 out = _mm512_setzero_ps();
  for (std::int64_t block = 0; block < blocks; ++block) {
    const std::int64_t g0 = 16 * block;
    const int count = static_cast<int>(std::min<std::int64_t>(16, groups - g0));
    __m512i m[16], s[16], b[16];
    for (int r = 0; r < 16; ++r)
      m[r] = r < live ? dots[r * blocks + block] : _mm512_setzero_si512();
    x86::transpose16(m);
    params_by_group(a.scales, a.scale_dtype, n0, live, groups, g0, count, s);
    params_by_group(a.biases, a.scale_dtype, n0, live, groups, g0, count, b);
    for (int j = 0; j < count; ++j) {
      out = add_group(out, m[j], _mm512_castsi512_ps(s[j]), _mm512_castsi512_ps(b[j]),
                      x.scales[g0 + j], x.sums[g0 + j]);
    }
  }
  _mm512_mask_storeu_ps(y + n0, static_cast<__mmask16>((1u << live) - 1u), out);
}

// y (1, N) float32 = x @ W.T for one row of x; group_lanes_apply(a) must hold.
template <class Simd, int bits>
void int8_gemv_groups(const MatmulArgs& a, float* y) {
  const QuantizedRows x = quantize_rows<8>(a, 1);  // natural order: 8 bits do not permute
  const __m512i* xs = spread_groups<bits>(a, x);
  const std::int64_t groups = a.K / a.spec.group_size;
  const std::int64_t blocks = (groups + 15) / 16;
  const std::int64_t slabs = (a.N + 15) / 16;
  const generic::RowParams<Simd> params(a.scales, a.biases, a.scale_dtype, groups);
  const auto run = [&]<int gs>() {
    core::parallel_for(
        slabs, generic::streaming_grain<Simd>(slabs, 1), [&](std::int64_t begin, std::int64_t end) {
          auto* dots = reinterpret_cast<__m512i*>(
              scratch_floats(ScratchSlot::panel, static_cast<std::size_t>(16 * blocks * 16)));
          for (std::int64_t slab = begin; slab < end; ++slab) {
            group_lanes_slab<Simd, bits, gs>(a, x, xs, params, 16 * slab, dots, y);
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
