// Plain scalar kernels: the oracle for every fast path.
#pragma once

#include "kernels/kernels.h"

namespace qlinear::kernels::reference {

void quantize(const QuantizeArgs& args);
void dequantize(const DequantizeArgs& args);
void quantized_matmul(const MatmulArgs& args);
void gather_qmm(const GatherArgs& args);
// RMSNorm, RoPE, softmax, attention, SiLU and the float Linear (float_ops.cpp).
extern const FloatKernels float_kernels;

// The float modes (fp_modes.cpp); the entry points above hand them over.
void quantize_fp(const QuantizeArgs& args);
void dequantize_fp(const DequantizeArgs& args);
void quantized_matmul_fp(const MatmulArgs& args);

// Out of line for the instruction-set kernels (which must not compile their own copies of
// shared inline code with their flags): the factor quantize multiplies a float mode's
// scales and scaled weights by (formats::encode_factor), and the scale tables.
float fp_encode_factor(QuantMode mode, const float* global_scale);
struct FpTables {
  const float* values;  // code -> value: 16 entries (FP4) or 256 (FP8)
  float scales[256];    // scale byte -> the value the elements are multiplied by
};
// The scales as dequantize (dtype: its output dtype, with the global scale) or
// quantized_matmul (dtype: x's, no global scale) uses them.
void fp_tables(QuantMode mode, Dtype dtype, const float* global_scale, FpTables& tables);

}  // namespace qlinear::kernels::reference
