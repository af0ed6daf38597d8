// The kernel table of each instruction set; only those built for the target exist.
#pragma once

#include "kernels/kernels.h"

namespace qlinear::kernels {

const KernelTable& avx2_table();    // x86-64: AVX2, FMA, F16C
const KernelTable& avx512_table();  // x86-64: AVX-512 F/BW/VL/DQ, BMI2
// x86-64: the above plus AVX512-BF16 and AVX512-VNNI (Cooper Lake, Sapphire Rapids, Zen 4)
const KernelTable& avx512_bf16_table();
const KernelTable& neon_table();  // aarch64: Advanced SIMD

}  // namespace qlinear::kernels
