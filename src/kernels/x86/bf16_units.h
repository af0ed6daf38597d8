// Which multiplier the bfloat16 matmul uses: AMX tiles (Intel's matrix unit: a 16x16
// float32 tile += 16x32 by 32x16 bfloat16 per instruction, 16 times the AVX-512 FMA rate)
// where the CPU and OS offer them; else vdpbf16ps, but only on CPUs where it multiplies
// faster than float32 FMAs (AMD Zen 4/5 issue it at the FMA's rate, twice the flops;
// Intel's cores at half the rate, no gain over the float32 kernels); else none, and the
// plain AVX-512 kernels run. The kernels themselves are in bf16_amx_tile.h / bf16_tile.h.
#pragma once

namespace qlinear::kernels::avx512_bf16 {

// The CPU has AMX-TILE and AMX-BF16, the kernel granted this process the tile state
// (Linux 5.16+), and allow_amx has not turned it off.
bool amx_usable();
// For tests and measurements: false makes the kernels use their vector paths even where
// AMX runs.
void allow_amx(bool allowed);

// vdpbf16ps's multiply-adds per second over float32 FMAs' (vfmadd231ps zmm), measured on
// this CPU once per process (a few hundred microseconds, on first use).
double vector_bf16_speedup();
// Whether the vdpbf16ps path runs where AMX does not: where vector_bf16_speedup() is
// above 1, or where force_vector_bf16 says so.
bool vector_bf16_usable();
// For tests and measurements: true runs the vdpbf16ps path even where it is slower.
void force_vector_bf16(bool forced);

}  // namespace qlinear::kernels::avx512_bf16
