// The AMX-INT8 instructions the int8-activation kernel uses (int8_amx_kernel.h): whether
// they run here, the tile configuration, and the dot product with its tile numbers as
// template arguments (loads and stores: amx_tile.h). Included only by int8_matmul.cpp.
#pragma once

#include <cpuid.h>
#include <immintrin.h>

#include <cstdint>

#include "kernels/x86/amx_tile.h"
#include "kernels/x86/bf16_units.h"

namespace qlinear::kernels::avx512_bf16 {
namespace {

// The bfloat16 kernel's AMX check (CPU, OS grant, allow_amx) plus AMX-INT8: CPUID leaf
// 7, EDX bit 25.
inline bool amx_int8_usable() {
  static const bool int8 = [] {
    unsigned eax, ebx, ecx, edx;
    return __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (edx & (1u << 25)) != 0;
  }();
  return int8 && amx_usable();
}

namespace amx_int8 {

using amx_tile::load;
using amx_tile::store;
using amx_tile::zero;

// Codes per tdpbsud: 64, or 32 for groups of 32 (a group per instruction).
inline int step(int gs) {
  return gs < 64 ? gs : 64;
}

// Tiles 0-3: 16x16 int32 dot products (four groups in flight); 4 and 6: 16 rows of `step`
// x codes; 5 and 7: step / 4 rows of 16 code words.
struct alignas(64) TileConfig {
  std::uint8_t palette = 1;
  std::uint8_t start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t bytes_per_row[16] = {};
  std::uint8_t rows[16] = {};

  constexpr explicit TileConfig(int step) {
    for (int t = 0; t < 8; ++t) {
      const bool x = t == 4 || t == 6, words = t == 5 || t == 7;
      bytes_per_row[t] = static_cast<std::uint16_t>(x ? step : 64);
      rows[t] = static_cast<std::uint8_t>(words ? step / 4 : 16);
    }
  }
};

// Tile state is per thread: configure before a thread's first tile instruction, release
// after its last. (The configurations are static: GCC 12 drops stores into a local one
// that only ldtilecfg reads.)
[[gnu::target("amx-tile")]] inline void configure(int gs) {
  static constexpr TileConfig kConfigs[2] = {TileConfig(32), TileConfig(64)};
  _tile_loadconfig(&kConfigs[step(gs) == 64 ? 1 : 0]);
}
[[gnu::target("amx-tile")]] inline void release() {
  _tile_release();
}

// dot += a (signed bytes) times b (unsigned bytes, 4 per 32-bit word), exact in int32.
template <int dot, int a, int b>
inline void dot_signed_unsigned() {
  asm volatile("tdpbsud %%tmm%c0, %%tmm%c1, %%tmm%c2" ::"i"(b), "i"(a), "i"(dot));
}

}  // namespace amx_int8
}  // namespace
}  // namespace qlinear::kernels::avx512_bf16
