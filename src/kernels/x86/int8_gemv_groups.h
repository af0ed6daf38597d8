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
inline constexpr bool kGroupLanes = bits == 1 || bits == 2;

inline bool group_lanes_apply(const MatmulArgs& a) {
  const int gs = a.spec.group_size;
  return a.M == 1 && (gs == 32 || gs == 64 || gs == 128);
}

// v[0..D) holds 16 D consecutive words; afterwards v[t] lane j holds word j D + t. Each
// level splits the words by the parity of their index (two permutes per pair of vectors).
// Inlined by force: GCC 12 calls the recursion, passing the vectors through memory.
template <int D>
[[gnu::always_inline]] inline void words_by_group(__m512i v[D]) {
  if constexpr (D > 1) {
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
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

// Plane p of packed codes: the code at bit bits * p of each byte, as that byte.
template <int bits, int p>
__m512i plane(__m512i v) {
  const __m512i mask = _mm512_set1_epi8(static_cast<char>((1 << bits) - 1));
  if constexpr (p == 0) return _mm512_and_si512(v, mask);
  return _mm512_and_si512(_mm512_srli_epi16(v, bits * p), mask);
}

// x (one row, quantized in natural order) as the kernel's operands: per block of 16
// groups, word t and plane p, byte i of lane j holds x's code for code (4 t + i) P + p of
// group j (P = 8 / bits codes per byte). Groups past the last are zero.
template <int bits>
const __m512i* spread_groups(const MatmulArgs& a, const QuantizedRows& x) {
  constexpr int P = 8 / bits;
  const int gs = a.spec.group_size;
  const int D = gs * bits / 32;
  const std::int64_t groups = a.K / gs;
  const std::int64_t blocks = (groups + 15) / 16;
  auto* out = reinterpret_cast<std::int8_t*>(
      scratch_floats(ScratchSlot::sums, static_cast<std::size_t>(blocks * D * P * 16)));
  const auto* xq = reinterpret_cast<const std::int8_t*>(x.words);
  for (std::int64_t block = 0; block < blocks; ++block) {
    for (int t = 0; t < D; ++t) {
      for (int p = 0; p < P; ++p) {
        std::int8_t* vector = out + ((block * D + t) * P + p) * 64;
        for (int j = 0; j < 16; ++j) {
          const std::int64_t g = 16 * block + j;
          for (int i = 0; i < 4; ++i) {
            vector[4 * j + i] = g < groups ? xq[g * gs + (4 * t + i) * P + p] : 0;
          }
        }
      }
    }
  }
  return reinterpret_cast<const __m512i*>(out);
}

// Lane j: the integer dot product of x with group j of the `count` (<= 16) groups whose
// packed codes start at w; xs holds the block's D * P operand vectors.
template <int bits, int D>
__m512i group_dots(const std::uint8_t* w, const __m512i* xs, int count) {
  constexpr int P = 8 / bits;
  __m512i v[D];
  const int bytes = count * D * 4;
#pragma GCC unroll 8
  for (int t = 0; t < D; ++t) {
    const int left = bytes - 64 * t;
    v[t] = left >= 64 ? _mm512_loadu_si512(w + 64 * t)
                      : _mm512_maskz_loadu_epi8(
                            left <= 0 ? __mmask64{0} : (__mmask64{1} << left) - 1, w + 64 * t);
  }
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
  return _mm512_add_epi32(_mm512_add_epi32(acc[0], acc[1]), _mm512_add_epi32(acc[2], acc[3]));
}

// The 16 columns from n0 on (those past N are left alone) of y; dots is room for 16 rows
// of group dot products. Each row prefetches the codes kPrefetchBytes on and its own
// scales and biases, which the slab reads after its 16 rows of codes.
template <class Simd, int bits, int D>
void group_lanes_slab(const MatmulArgs& a, const QuantizedRows& x, const __m512i* xs,
                      const generic::RowParams<Simd>& params, std::int64_t n0, __m512i* dots,
                      float* y) {
  constexpr int P = 8 / bits;
  const std::int64_t groups = a.K / a.spec.group_size;
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
      dots[r * blocks + block] =
          group_dots<bits, D>(w + r * row_bytes + block * 64 * D, xs + block * D * P, count);
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
  const auto run = [&]<int D>() {
    core::parallel_for(
        slabs, generic::streaming_grain<Simd>(slabs, 1), [&](std::int64_t begin, std::int64_t end) {
          auto* dots = reinterpret_cast<__m512i*>(
              scratch_floats(ScratchSlot::panel, static_cast<std::size_t>(16 * blocks * 16)));
          for (std::int64_t slab = begin; slab < end; ++slab) {
            group_lanes_slab<Simd, bits, D>(a, x, xs, params, 16 * slab, dots, y);
          }
        });
  };
  switch (a.spec.group_size * bits / 32) {
    case 1:
      return run.template operator()<1>();
    case 2:
      return run.template operator()<2>();
    case 4:
      return run.template operator()<4>();
    default:
      return run.template operator()<8>();
  }
}

}  // namespace
}  // namespace qlinear::kernels::avx512_bf16
