// Kernels that need AVX512-BF16 or AVX512-VNNI on top of AVX-512, each in a translation
// unit compiled with those flags. Each returns false, having done nothing, for a problem
// it does not handle; the table then runs the plain AVX-512 kernels.
#pragma once

#include "kernels/kernels.h"

namespace qlinear::kernels::avx512_bf16 {

// Many rows of bfloat16 x (or any float x under MatmulPrecision::bfloat16), affine W.
bool bf16_matmul(const MatmulArgs& a);
// MatmulPrecision::int8: x quantized to int8 per row and weight group, affine W.
bool int8_matmul(const MatmulArgs& a);

}  // namespace qlinear::kernels::avx512_bf16
