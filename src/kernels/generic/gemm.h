// quantized_matmul for many rows of x: blocks of W are dequantized once into float
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

// c[rows, 2 vectors] (+)= a[rows, depth] @ panel[depth, 2 vectors].
template <class Simd, int rows>
void micro_kernel(const float* a, std::int64_t lda, const float* panel, std::int64_t depth,
                  float* c, std::int64_t ldc, bool accumulate) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes;
  F c0[rows], c1[rows];
  for (int r = 0; r < rows; ++r) {
    c0[r] = accumulate ? Simd::load(c + r * ldc) : Simd::zero();
    c1[r] = accumulate ? Simd::load(c + r * ldc + L) : Simd::zero();
  }
  for (std::int64_t k = 0; k < depth; ++k) {
    const F b0 = Simd::load(panel + k * 2 * L);
    const F b1 = Simd::load(panel + k * 2 * L + L);
    for (int r = 0; r < rows; ++r) {
      const F ar = Simd::set1(a[r * lda + k]);
      c0[r] = Simd::fmadd(ar, b0, c0[r]);
      c1[r] = Simd::fmadd(ar, b1, c1[r]);
    }
  }
  for (int r = 0; r < rows; ++r) {
    Simd::store(c + r * ldc, c0[r]);
    Simd::store(c + r * ldc + L, c1[r]);
  }
}

template <class Simd>
void micro_kernel_rows(int rows, const float* a, std::int64_t lda, const float* panel,
                       std::int64_t depth, float* c, std::int64_t ldc, bool accumulate) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    ((rows == I + 1 ? micro_kernel<Simd, I + 1>(a, lda, panel, depth, c, ldc, accumulate) : void()),
     ...);
  }
  (std::make_integer_sequence<int, Simd::kTileRows>{});
}

// Dequantizes W[k0 : k0+depth, n0 : n0+width] into `width / kPanelWidth` panels of
// (depth, kPanelWidth) floats; columns past N are zero.
template <class Simd, int bits>
void dequantize_panels(const Problem& p, bool transpose, std::int64_t k0, std::int64_t depth,
                       std::int64_t n0, std::int64_t width, float* panels) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes;
  constexpr int PW = GemmShape<Simd>::kPanelWidth;
  const int gs = p.group_size;
  if (!transpose) {
    // Row k of W holds columns n; a panel row is two vectors of one group (PW <= gs).
    for (std::int64_t c = 0; c < width; c += PW) {
      float* panel = panels + c / PW * depth * PW;
      const std::int64_t n = n0 + c;
      for (std::int64_t k = 0; k < depth; ++k) {
        const std::int64_t g = (k0 + k) * p.groups + n / gs;
        const F s = Simd::set1(load_float<Simd>(p.scales, p.scale_dtype, g));
        const F b = Simd::set1(load_float<Simd>(p.biases, p.scale_dtype, g));
        const std::uint8_t* row = p.w + (k0 + k) * p.row_bytes + n * bits / 8;
        Simd::store(panel + k * PW, Simd::fmadd(Simd::template codes<bits>(row), s, b));
        Simd::store(panel + k * PW + L,
                    Simd::fmadd(Simd::template codes<bits>(row + L * bits / 8), s, b));
      }
    }
    return;
  }
  // Row n of W holds depth k; it becomes column n % PW of its panel.
  alignas(64) float lane[L];
  for (std::int64_t c = 0; c < width; ++c) {
    float* panel = panels + c / PW * depth * PW + c % PW;
    const std::int64_t n = n0 + c;
    if (n >= p.N) {
      for (std::int64_t k = 0; k < depth; ++k) panel[k * PW] = 0.0f;
      continue;
    }
    const std::uint8_t* row = p.w + n * p.row_bytes;
    for (std::int64_t k = 0; k < depth; k += gs) {
      const std::int64_t g = n * p.groups + (k0 + k) / gs;
      const F s = Simd::set1(load_float<Simd>(p.scales, p.scale_dtype, g));
      const F b = Simd::set1(load_float<Simd>(p.biases, p.scale_dtype, g));
      for (int v = 0; v < gs; v += L) {
        const std::int64_t kk = k0 + k + v;
        Simd::store(lane, Simd::fmadd(Simd::template codes<bits>(row + kk * bits / 8), s, b));
        for (int l = 0; l < L; ++l) panel[(k + v + l) * PW] = lane[l];
      }
    }
  }
}

// y[:, :round_up(N, kPanelWidth)] = x @ W (p.ldy must allow the padding).
template <class Simd, int bits>
void gemm(const Problem& p, bool transpose) {
  using Shape = GemmShape<Simd>;
  constexpr int PW = Shape::kPanelWidth;
  constexpr int MR = Simd::kTileRows;
  const std::int64_t padded_n = (p.N + PW - 1) / PW * PW;
  core::parallel_for(padded_n, Shape::kColumns, [&](std::int64_t n0, std::int64_t n_end) {
    const std::int64_t width = n_end - n0;
    float* panels =
        scratch_floats(ScratchSlot::panel, static_cast<std::size_t>(Shape::kDepth * width));
    for (std::int64_t k0 = 0; k0 < p.K; k0 += Shape::kDepth) {
      const std::int64_t depth = std::min(Shape::kDepth, p.K - k0);
      dequantize_panels<Simd, bits>(p, transpose, k0, depth, n0, width, panels);
      for (std::int64_t c = 0; c < width; c += PW) {
        const float* panel = panels + c / PW * depth * PW;
        for (std::int64_t m = 0; m < p.M; m += MR) {
          micro_kernel_rows<Simd>(static_cast<int>(std::min<std::int64_t>(MR, p.M - m)),
                                  p.x + m * p.K + k0, p.K, panel, depth, p.y + m * p.ldy + n0 + c,
                                  p.ldy, k0 > 0);
        }
      }
    }
  });
}

}  // namespace qlinear::kernels::generic
