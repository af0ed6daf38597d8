// Whether the bfloat16 matmul may use AMX tiles (Intel's matrix unit: a 16x16 float32
// tile += 16x32 by 32x16 bfloat16 per instruction, 16 times the AVX-512 FMA rate) on top
// of AVX512-BF16. The kernels themselves are in bf16_amx_tile.h.
#pragma once

namespace qlinear::kernels::avx512_bf16 {

// The CPU has AMX-TILE and AMX-BF16, the kernel granted this process the tile state
// (Linux 5.16+), and allow_amx has not turned it off.
bool amx_usable();
// For tests and measurements: false makes the kernel use vdpbf16ps even where AMX runs.
void allow_amx(bool allowed);

}  // namespace qlinear::kernels::avx512_bf16
