// Plain scalar kernels: the oracle for every fast path.
#pragma once

#include "formats/affine.h"
#include "kernels/kernels.h"

namespace qlinear::kernels::reference {

void quantize(const QuantizeArgs& args);
void dequantize(const DequantizeArgs& args);
void quantized_matmul(const MatmulArgs& args);

// formats::affine::group_params, out of line: the instruction-set kernels call it rather
// than compiling their own copy of the shared inline code with their flags.
formats::affine::GroupParams affine_group_params(float w_min, float w_max, int bits);

}  // namespace qlinear::kernels::reference
