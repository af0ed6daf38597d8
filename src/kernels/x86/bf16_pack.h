// Packing for the bfloat16 matmul: rows of x into bfloat16 pairs (with their sums per
// weight group), blocks of W into panels of bfloat16 pairs. A pair holds two consecutive
// k, the operand layout of vdpbf16ps.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "core/thread_pool.h"
#include "kernels/float_dispatch.h"
#include "kernels/generic/common.h"
#include "kernels/generic/problem.h"
#include "kernels/kernels.h"
#include "kernels/scratch.h"
#include "kernels/x86/bf16_simd.h"
#include "kernels/x86/transpose16.h"

namespace qlinear::kernels::avx512_bf16 {

struct Bf16Shape {
  static constexpr int kTileRows = 14;  // rows of x per vdpbf16ps micro-tile
  static constexpr int kVectors = 2;    // output vectors per micro-tile
  static constexpr int kPanelWidth = kVectors * Simd::kLanes;
  static constexpr std::int64_t kDepth = 256;  // k per block: a multiple of every group size
  static constexpr std::int64_t kColumns = 8 * kPanelWidth;  // columns per task
};

inline std::int64_t pair_count(std::int64_t depth) {
  return (depth + 1) / 2;
}

// x as the micro-kernels read it: pairs[k-block][row tile][...] (rows past M zero), and,
// when groups run along K, sums[row tile][group][row]: each row's sum of its bfloat16
// values over a weight group, for the bias term. Inside a tile of MR rows, pair i of row r
// is at i * MR + r (broadcast operands) or, in blocks of 16 pairs, at i * MR + r * 16 + i %
// 16 (AMX tile rows: 16 rows of a block are one contiguous 1 KB tile). Either way a block
// of 16 pairs starts at i * MR.
enum class RowLayout { broadcast, tile_rows };

struct PackedRows {
  const std::uint32_t* pairs;
  const float* sums;
  std::int64_t tiles;
};

// 32 values from src as 16 bfloat16 pairs.
template <class T>
Simd::Pairs load_pairs(const T* src) {
  if constexpr (std::is_same_v<T, bfloat16_t>) {
    return _mm512_loadu_si512(src);
  } else {
    return Simd::round_pairs(Simd::load(src), Simd::load(src + Simd::kLanes));
  }
}

// Values [first, first + count) of a float array, rounded to bfloat16, as pair_count(count)
// pairs (an odd count is padded with a zero).
inline void round_row(const void* x, Dtype dtype, std::int64_t first, std::int64_t count,
                      std::uint32_t* out) {
  with_float_type(dtype, [&](auto t) {
    using T = decltype(t);
    const T* src = static_cast<const T*>(x) + first;
    std::int64_t i = 0;
    for (; i + 32 <= count; i += 32) _mm512_storeu_si512(out + i / 2, load_pairs(src + i));
    if (i == count) return;
    T tail[32] = {};
    std::copy(src + i, src + count, tail);
    alignas(64) std::uint32_t pairs[16];
    _mm512_store_si512(pairs, load_pairs(tail));
    std::copy(pairs, pairs + pair_count(count - i), out + i / 2);
  });
}

// The float32 sum, in a fixed order, of `count` (a multiple of 16) bfloat16 values.
inline float sum_bfloat16(const std::uint32_t* pairs, int count) {
  const auto* values = reinterpret_cast<const bfloat16_t*>(pairs);
  Simd::F acc = Simd::zero();
  for (int i = 0; i < count; i += Simd::kLanes) acc = Simd::add(acc, Simd::load(values + i));
  return Simd::reduce_add(acc);
}

// Packs all of x (a.M rows of a.K) in tiles of MR rows, with group sums when group_size
// is not 0. tile_rows needs a.K a multiple of 32.
template <int MR, RowLayout layout>
PackedRows pack_rows(const MatmulArgs& a, int group_size) {
  constexpr std::int64_t KC = Bf16Shape::kDepth;
  const std::int64_t tiles = (a.M + MR - 1) / MR;
  const std::int64_t groups = group_size > 0 ? a.K / group_size : 0;
  auto* pairs = reinterpret_cast<std::uint32_t*>(
      scratch_floats(ScratchSlot::input, static_cast<std::size_t>(tiles * MR * pair_count(a.K))));
  float* sums = scratch_floats(ScratchSlot::sums, static_cast<std::size_t>(tiles * groups * MR));
  core::parallel_for(tiles, 1, [&](std::int64_t t0, std::int64_t t1) {
    alignas(64) std::uint32_t row[KC / 2];
    for (std::int64_t t = t0; t < t1; ++t) {
      for (std::int64_t k0 = 0; k0 < a.K; k0 += KC) {
        const std::int64_t depth = std::min(KC, a.K - k0);
        const std::int64_t count = pair_count(depth);
        std::uint32_t* tile = pairs + k0 / 2 * tiles * MR + t * count * MR;
        for (int r = 0; r < MR; ++r) {
          const std::int64_t m = t * MR + r;
          if (m < a.M) {
            round_row(a.x, a.x_dtype, m * a.K + k0, depth, row);
          } else {
            std::fill(row, row + count, 0u);
          }
          if constexpr (layout == RowLayout::broadcast) {
            for (std::int64_t i = 0; i < count; ++i) tile[i * MR + r] = row[i];
          } else {
            for (std::int64_t i = 0; i < count; i += 16) {
              std::copy(row + i, row + i + 16, tile + i * MR + r * 16);
            }
          }
          for (std::int64_t k = 0; groups > 0 && k < depth; k += group_size) {
            sums[(t * groups + (k0 + k) / group_size) * MR + r] =
                sum_bfloat16(row + k / 2, group_size);
          }
        }
      }
    }
  });
  return {pairs, sums, tiles};
}

// A task's block of W: width / kPanelWidth panels, each `pairs` rows of kPanelWidth
// bfloat16 pairs, and (groups along K) each panel's scales and biases [group][column].
struct PanelBlock {
  std::uint32_t* data;
  float* scales;
  float* biases;
  std::int64_t pairs, groups;

  // The panel holding column c of the block (c a multiple of kPanelWidth).
  std::uint32_t* panel(std::int64_t c) const {
    return data + c / Bf16Shape::kPanelWidth * pairs * Bf16Shape::kPanelWidth;
  }
  float* scales_of(std::int64_t c) const {
    return scales + c / Bf16Shape::kPanelWidth * groups * Bf16Shape::kPanelWidth;
  }
  float* biases_of(std::int64_t c) const {
    return biases + c / Bf16Shape::kPanelWidth * groups * Bf16Shape::kPanelWidth;
  }
};

// W (N, K), groups along K: the codes (exact in bfloat16) of columns [n0, n0 + width) and
// k in [k0, k0 + depth) (depth a multiple of the group size), with the scales and biases
// as floats; columns past N are zero. A panel row is filled 16 columns at a time from 16
// vectors of 16 pairs along k, transposed.
template <int bits>
void pack_code_panels(const generic::Problem& p, std::int64_t k0, std::int64_t depth,
                      std::int64_t n0, std::int64_t width, const PanelBlock& out) {
  constexpr int PW = Bf16Shape::kPanelWidth;
  constexpr int L = Simd::kLanes;
  const int gs = p.group_size;
  const std::int64_t block_bytes = depth * bits / 8;
  for (std::int64_t c = 0; c < width; c += L) {
    std::uint32_t* panel = out.panel(c) + c % PW;
    // The rows are read a block at a time, too many streams for the hardware prefetcher:
    // fetch each row's next block into L2 now.
    for (int i = 0; i < L && n0 + c + i < p.N; ++i) {
      const std::uint8_t* next = p.w + (n0 + c + i) * p.row_bytes + (k0 + depth) * bits / 8;
      for (std::int64_t b = 0; b < block_bytes; b += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(next + b), _MM_HINT_T1);
      }
    }
    for (std::int64_t k = 0; k < depth; k += 2 * L) {
      __m512i v[L];
      for (int i = 0; i < L; ++i) {
        const std::int64_t n = n0 + c + i;
        if (n >= p.N) {
          v[i] = _mm512_setzero_si512();
          continue;
        }
        const std::uint8_t* row = p.w + n * p.row_bytes;
        v[i] = Simd::round_pairs(generic::codes_at<Simd, bits>(row, k0 + k),
                                 generic::codes_at<Simd, bits>(row, k0 + k + L));
      }
      x86::transpose16(v);
      for (int i = 0; i < L; ++i) _mm512_storeu_si512(panel + (k / 2 + i) * PW, v[i]);
    }
    float* scales = out.scales_of(c) + c % PW;
    float* biases = out.biases_of(c) + c % PW;
    for (int i = 0; i < L; ++i) {
      const std::int64_t n = n0 + c + i;
      for (std::int64_t g = 0; g < depth / gs; ++g) {
        const std::int64_t at = n * p.groups + k0 / gs + g;
        scales[g * PW + i] =
            n < p.N ? generic::load_float<Simd>(p.scales, p.scale_dtype, at) : 0.0f;
        biases[g * PW + i] =
            n < p.N ? generic::load_float<Simd>(p.biases, p.scale_dtype, at) : 0.0f;
      }
    }
  }
}

// W (K, N), groups along N (only under MatmulPrecision::bfloat16: the scale varies along
// n, so the weights themselves are rounded): rows k of s * q + b in float32, rounded to
// bfloat16, rows k and k + 1 paired lane by lane; k past K is zero. N is a multiple of the
// group size, so no column is past N.
template <int bits>
void pack_weight_panels(const generic::Problem& p, std::int64_t k0, std::int64_t depth,
                        std::int64_t n0, std::int64_t width, const PanelBlock& out) {
  constexpr int PW = Bf16Shape::kPanelWidth;
  constexpr int L = Simd::kLanes;
  auto weights = [&](std::int64_t k, std::int64_t n) {
    if (k >= k0 + depth) return Simd::zero();
    const std::int64_t g = k * p.groups + n / p.group_size;
    const Simd::F s = Simd::set1(generic::load_float<Simd>(p.scales, p.scale_dtype, g));
    const Simd::F b = Simd::set1(generic::load_float<Simd>(p.biases, p.scale_dtype, g));
    return Simd::fmadd(generic::codes_at<Simd, bits>(p.w + k * p.row_bytes, n), s, b);
  };
  for (std::int64_t c = 0; c < width; c += L) {
    std::uint32_t* panel = out.panel(c) + c % PW;
    const std::int64_t n = n0 + c;
    for (std::int64_t i = 0; i < out.pairs; ++i) {
      const std::int64_t k = k0 + 2 * i;
      _mm512_storeu_si512(panel + i * PW, Simd::interleave_pairs(weights(k, n), weights(k + 1, n)));
    }
  }
}

}  // namespace qlinear::kernels::avx512_bf16
