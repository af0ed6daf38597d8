// x for the AMX int8 kernel (int8_amx_kernel.h): the words of quantize_rows with 16 rows
// per tile, [k/4][row], turned into tile rows: per 64 codes a 16x16 block [row][k/4], so
// that 16 rows of 64 codes load as one AMX tile (64 bytes a row). Once per call, in place.
// Included only by int8_matmul.cpp.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/x86/int8_activations.h"
#include "kernels/x86/transpose16.h"

namespace qlinear::kernels::avx512_bf16 {
namespace {

// x quantized with 16 rows per tile for `tiles` tiles of K codes (K a multiple of 64).
inline void to_tile_rows(const QuantizedRows& x, std::int64_t tiles, std::int64_t K) {
  // The words are this call's scratch (quantize_rows); only the layout changes.
  auto* words = const_cast<std::int32_t*>(x.words);
  core::parallel_for(tiles * K / 64, 16, [&](std::int64_t first, std::int64_t last) {
    __m512i m[16];
    for (std::int64_t block = first; block < last; ++block) {
      std::int32_t* p = words + block * 256;
      for (int i = 0; i < 16; ++i) m[i] = _mm512_load_si512(p + 16 * i);
      x86::transpose16(m);
      for (int i = 0; i < 16; ++i) _mm512_store_si512(p + 16 * i, m[i]);
    }
  });
}

}  // namespace
}  // namespace qlinear::kernels::avx512_bf16
