// The AMX micro-kernel of the bfloat16 matmul: 32 rows of x by 32 output columns in four
// 16x16 float32 tiles, fed by two tiles of x rows and two tiles of panel pairs (the same
// panels the vdpbf16ps kernel reads). Functions here carry the AMX target themselves:
// the translation unit is compiled for AVX-512 only.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/x86/amx_tile.h"
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

// dot[32][32] = x . panel over `pairs` (a multiple of 16) pairs, x in tile rows
// (RowLayout::tile_rows, bf16_pack.h).
[[gnu::target("amx-tile,amx-bf16")]] inline void multiply(const std::uint32_t* x,
                                                          const std::uint32_t* panel,
                                                          std::int64_t pairs, float* dot) {
  constexpr long kRow = kWidth * sizeof(std::uint32_t);
  constexpr long kXRow = 16 * sizeof(std::uint32_t);
  using namespace amx_tile;
  zero<0>();
  zero<1>();
  zero<2>();
  zero<3>();
  for (std::int64_t i = 0; i < pairs; i += 16) {
    load<4>(x + i * kTileRows, kXRow);
    load<5>(x + i * kTileRows + 16 * 16, kXRow);
    load<6>(panel + i * kWidth, kRow);
    load<7>(panel + i * kWidth + 16, kRow);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  store<0>(dot, kRow);
  store<1>(dot + 16, kRow);
  store<2>(dot + 16 * kWidth, kRow);
  store<3>(dot + 16 * kWidth + 16, kRow);
}

// c[r] = c[r] + scale * dot[r], then + bias * sums[r], for rows r < rows.
inline void add_group(int rows, const float* dot, const float* scales, const float* biases,
                      const float* sums, float* c, std::int64_t ldc) {
  constexpr int L = Simd::kLanes;
  const Simd::F s[2] = {Simd::load(scales), Simd::load(scales + L)};
  const Simd::F b[2] = {Simd::load(biases), Simd::load(biases + L)};
  for (int r = 0; r < rows; ++r) {
    const Simd::F sum = Simd::set1(sums[r]);
    for (int v = 0; v < 2; ++v) {
      float* out = c + r * ldc + v * L;
      const Simd::F scaled =
          Simd::fmadd(s[v], Simd::load(dot + r * kWidth + v * L), Simd::load(out));
      Simd::store(out, Simd::fmadd(b[v], sum, scaled));
    }
  }
}

// Groups along K, as affine_tile (bf16_tile.h) but with x in tile rows. The tiles compute a group's
// dot products while the vector units add the previous group's (stored through L1) into c.
[[gnu::target("amx-tile,amx-bf16")]] inline void affine_tile(
    int rows, const std::uint32_t* x, const std::uint32_t* panel, const float* scales,
    const float* biases, const float* sums, std::int64_t groups, std::int64_t group_pairs, float* c,
    std::int64_t ldc, bool accumulate) {
  constexpr int L = Simd::kLanes;
  if (!accumulate) {
    for (int r = 0; r < rows; ++r) {
      for (int v = 0; v < 2; ++v) Simd::store(c + r * ldc + v * L, Simd::zero());
    }
  }
  alignas(64) float dot[2][kTileRows * kWidth];
  auto add = [&](std::int64_t g) {
    add_group(rows, dot[g % 2], scales + g * kWidth, biases + g * kWidth, sums + g * kTileRows, c,
              ldc);
  };
  for (std::int64_t g = 0; g < groups; ++g) {
    multiply(x + g * group_pairs * kTileRows, panel + g * group_pairs * kWidth, group_pairs,
             dot[g % 2]);
    if (g > 0) add(g - 1);
  }
  add(groups - 1);
}

}  // namespace qlinear::kernels::avx512_bf16::amx
