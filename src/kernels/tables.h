// The kernel table of each instruction set; only those built for the target exist.
#pragma once

#include "kernels/kernels.h"

namespace qlinear::kernels {

const KernelTable& avx2_table();    // x86-64: AVX2, FMA, F16C
const KernelTable& avx512_table();  // x86-64: AVX-512 F/BW/VL/DQ
const KernelTable& neon_table();    // aarch64: Advanced SIMD

}  // namespace qlinear::kernels
