// The AMX micro-kernel of the bfloat16 matmul: 32 rows of x by 32 output columns in four
// 16x16 float32 tiles, fed by two tiles of x rows and two tiles of panel pairs (the same
// panels the vdpbf16ps kernel reads). Functions here carry the AMX target themselves:
// the translation unit is compiled for AVX-512 only.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/x86/bf16_simd.h"

namespace qlinear::kernels::avx512_bf16::amx {

inline constexpr int kTileRows = 32;  // rows of x per micro-tile (two tiles of 16)
inline constexpr int kWidth = 32;     // output columns per micro-tile (two tiles of 16)

// Every tile 16 rows of 64 bytes: 16 float32, 32 bfloat16 or 16 pairs.
struct alignas(64) TileConfig {
  std::uint8_t palette = 1;
  std::uint8_t start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t bytes_per_row[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  std::uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};

// Tile state is per thread: configure before a thread's first tile instruction, release
// after its last (so that context switches save no tile data).
[[gnu::target("amx-tile")]] inline void configure() {
  static const TileConfig config;
  _tile_loadconfig(&config);
}
[[gnu::target("amx-tile")]] inline void release() {
  _tile_release();
}

// Groups along K, as affine_tile (bf16_tile.h) but x is row-major: x[row][pair], rows
// `stride` pairs apart. Per group the tiles compute the 32x32 dot products, which go
// through L1 into the running totals in c.
[[gnu::target("amx-tile,amx-bf16")]] inline void affine_tile(
    int rows, const std::uint32_t* x, std::int64_t stride, const std::uint32_t* panel,
    const float* scales, const float* biases, const float* sums, std::int64_t groups,
    std::int64_t group_pairs, float* c, std::int64_t ldc, bool accumulate) {
  constexpr int L = Simd::kLanes;
  constexpr long kPanelRow = kWidth * sizeof(std::uint32_t);
  alignas(64) float dot[kTileRows][kWidth];
  const long x_row = stride * static_cast<long>(sizeof(std::uint32_t));
  for (std::int64_t g = 0; g < groups; ++g) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (std::int64_t i = g * group_pairs; i < (g + 1) * group_pairs; i += 16) {
      _tile_loadd(4, x + i, x_row);
      _tile_loadd(5, x + 16 * stride + i, x_row);
      _tile_loadd(6, panel + i * kWidth, kPanelRow);
      _tile_loadd(7, panel + i * kWidth + 16, kPanelRow);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, &dot[0][0], kPanelRow);
    _tile_stored(1, &dot[0][16], kPanelRow);
    _tile_stored(2, &dot[16][0], kPanelRow);
    _tile_stored(3, &dot[16][16], kPanelRow);
    const bool load = accumulate || g > 0;
    const Simd::F s[2] = {Simd::load(scales + g * kWidth), Simd::load(scales + g * kWidth + L)};
    const Simd::F b[2] = {Simd::load(biases + g * kWidth), Simd::load(biases + g * kWidth + L)};
    for (int r = 0; r < rows; ++r) {
      const Simd::F sum = Simd::set1(sums[g * kTileRows + r]);
      for (int v = 0; v < 2; ++v) {
        float* out = c + r * ldc + v * L;
        const Simd::F total = load ? Simd::load(out) : Simd::zero();
        const Simd::F scaled = Simd::fmadd(s[v], Simd::load(&dot[r][v * L]), total);
        Simd::store(out, Simd::fmadd(b[v], sum, scaled));
      }
    }
  }
}

}  // namespace qlinear::kernels::avx512_bf16::amx
