// Plain scalar kernels: the oracle for every fast path.
#pragma once

#include "kernels/kernels.h"

namespace qlinear::kernels::reference {

void quantize(const QuantizeArgs& args);
void dequantize(const DequantizeArgs& args);
void quantized_matmul(const MatmulArgs& args);

}  // namespace qlinear::kernels::reference
