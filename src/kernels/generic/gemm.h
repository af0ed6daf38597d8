// quantized_matmul for many rows of x, in every mode: blocks of W are decoded once into float
// panels that stay in cache, and a register-blocked micro-kernel reuses every panel
// element across kTileRows rows of x. Work is split over column blocks; every output
// element sums its k-blocks in the same order whatever the thread count.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/generic/common.h"
#include "kernels/generic/problem.h"
#include "kernels/scratch.h"

namespace qlinear::kernels::generic {

template <class Simd>
struct GemmShape {
  static constexpr int kPanelWidth = 2 * Simd::kLanes;  // output columns per micro-tile
  static constexpr std::int64_t kDepth = 256;  // k per panel: a multiple of every group size
  static constexpr std::int64_t kColumns = 8 * kPanelWidth;  // columns per task
};

// c[rows, 2 vectors] (+)= a[depth, MR] (packed) @ panel[depth, 2 vectors]; rows <= MR,
// and the packed rows past `rows` are zero.
template <class Simd, int MR>
void micro_kernel(int rows, const float* a, const float* panel, std::int64_t depth, float* c,
                  std::int64_t ldc, bool accumulate) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes;
  F c0[MR], c1[MR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    const bool load = accumulate && r < rows;
    c0[r] = load ? Simd::load(c + r * ldc) : Simd::zero();
    c1[r] = load ? Simd::load(c + r * ldc + L) : Simd::zero();
  }
  for (std::int64_t k = 0; k < depth; ++k) {
    const F b0 = Simd::load(panel + k * 2 * L);
    const F b1 = Simd::load(panel + k * 2 * L + L);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const F ar = Simd::set1(a[k * MR + r]);
      c0[r] = Simd::fmadd(ar, b0, c0[r]);
      c1[r] = Simd::fmadd(ar, b1, c1[r]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    if (r < rows) {
      Simd::store(c + r * ldc, c0[r]);
      Simd::store(c + r * ldc + L, c1[r]);
    }
  }
}

// x (M, K) of dtype x_dtype -> float tiles [k-block][row tile][k][MR], rows past M zero:
// the micro-kernel then broadcasts consecutive floats instead of reading MR rows that lie
// a power of two apart (and collide in the L1 cache).
template <class Simd>
float* pack_rows(const void* x, Dtype x_dtype, std::int64_t M, std::int64_t K) {
  constexpr int MR = Simd::kTileRows;
  constexpr std::int64_t KC = GemmShape<Simd>::kDepth;
  const std::int64_t tiles = (M + MR - 1) / MR;
  float* packed = scratch_floats(ScratchSlot::input, static_cast<std::size_t>(tiles * MR * K));
  core::parallel_for(tiles, 1, [&](std::int64_t t0, std::int64_t t1) {
    for (std::int64_t t = t0; t < t1; ++t) {
      for (std::int64_t k0 = 0; k0 < K; k0 += KC) {
        const std::int64_t depth = std::min(KC, K - k0);
        float* tile = packed + k0 * tiles * MR + t * depth * MR;
        for (int r = 0; r < MR; ++r) {
          const std::int64_t m = t * MR + r;
          for (std::int64_t k = 0; k < depth; ++k) {
            tile[k * MR + r] = m < M ? load_float<Simd>(x, x_dtype, m * K + k0 + k) : 0.0f;
          }
        }
      }
    }
  });
  return packed;
}

// Decodes W[k0 : k0+depth, n0 : n0+width] (W as x @ W reads it) into width / kPanelWidth
// panels of (depth, kPanelWidth) floats; columns past N are zero.
template <class Simd, class Decoder>
void decode_panels(const Problem& p, const Decoder& decoder, bool transpose, std::int64_t k0,
                   std::int64_t depth, std::int64_t n0, std::int64_t width, float* panels) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes;
  constexpr int PW = GemmShape<Simd>::kPanelWidth;
  const int gs = p.group_size;
  if (!transpose) {
    // Row k of W holds columns n; a panel row is two vectors, each within one group (L
    // divides the group size, and so N: past N lie whole vectors).
    for (std::int64_t c = 0; c < width; c += PW) {
      float* panel = panels + c / PW * depth * PW;
      for (std::int64_t k = 0; k < depth; ++k) {
        const std::uint8_t* row = p.w + (k0 + k) * p.row_bytes;
        for (int h = 0; h < PW; h += L) {
          const std::int64_t n = n0 + c + h;
          const F v = n < p.N ? decoder.values(row, n, decoder.group((k0 + k) * p.groups + n / gs))
                              : Simd::zero();
          Simd::store(panel + k * PW + h, v);
        }
      }
    }
    return;
  }
  // Row n of W holds depth k; it becomes column n % PW of its panel. L rows at a time are
  // decoded L values deep and transposed in registers, so that the panel is written a
  // vector at a time (width is a multiple of PW, and L divides the group size).
  for (std::int64_t c = 0; c < width; c += L) {
    float* panel = panels + c / PW * depth * PW + c % PW;
    const std::int64_t rows = std::clamp<std::int64_t>(p.N - (n0 + c), 0, L);
    for (std::int64_t k = 0; k < depth; k += gs) {
      typename Decoder::Group group[L];
      for (int i = 0; i < rows; ++i)
        group[i] = decoder.group((n0 + c + i) * p.groups + (k0 + k) / gs);
      for (int v = 0; v < gs; v += L) {
        F block[L];
        for (int i = 0; i < L; ++i) {
          // Columns past N: no row to point at.
          block[i] = i < rows
                         ? decoder.values(p.w + (n0 + c + i) * p.row_bytes, k0 + k + v, group[i])
                         : Simd::zero();
        }
        Simd::transpose(block);
        for (int j = 0; j < L; ++j) Simd::store(panel + (k + v + j) * PW, block[j]);
      }
    }
  }
}

// y[:, :round_up(N, kPanelWidth)] = x @ W (p.ldy must allow the padding), with p.x the
// rows as packed by pack_rows and W's codes turned into values by `decoder`.
template <class Simd, class Decoder>
void gemm(const Problem& p, const Decoder& decoder, bool transpose) {
  using Shape = GemmShape<Simd>;
  constexpr int PW = Shape::kPanelWidth;
  constexpr int MR = Simd::kTileRows;
  const std::int64_t tiles = (p.M + MR - 1) / MR;
  const std::int64_t padded_n = (p.N + PW - 1) / PW * PW;
  core::parallel_for(padded_n, Shape::kColumns, [&](std::int64_t n0, std::int64_t n_end) {
    const std::int64_t width = n_end - n0;
    float* panels =
        scratch_floats(ScratchSlot::panel, static_cast<std::size_t>(Shape::kDepth * width));
    for (std::int64_t k0 = 0; k0 < p.K; k0 += Shape::kDepth) {
      const std::int64_t depth = std::min(Shape::kDepth, p.K - k0);
      decode_panels<Simd>(p, decoder, transpose, k0, depth, n0, width, panels);
      const float* a = p.x + k0 * tiles * MR;
      for (std::int64_t c = 0; c < width; c += PW) {
        const float* panel = panels + c / PW * depth * PW;
        for (std::int64_t t = 0; t < tiles; ++t) {
          const std::int64_t m = t * MR;
          micro_kernel<Simd, MR>(static_cast<int>(std::min<std::int64_t>(MR, p.M - m)),
                                 a + t * depth * MR, panel, depth, p.y + m * p.ldy + n0 + c, p.ldy,
                                 k0 > 0);
        }
      }
    }
  });
}

}  // namespace qlinear::kernels::generic
