// The kernel-table entries of one instruction set: the affine kernels (quantize.h,
// dequantize.h, matmul.h) or the float-mode ones (fp_quantize.h, fp_modes.h), by the
// spec's mode, and gather_qmm through them (kernels/gather.h), and the float kernels
// (float_ops.h).
#pragma once

#include <string_view>

#include "kernels/gather.h"
#include "kernels/generic/dequantize.h"
#include "kernels/generic/float_ops.h"
#include "kernels/generic/fp_modes.h"
#include "kernels/generic/fp_quantize.h"
#include "kernels/generic/matmul.h"
#include "kernels/generic/quantize.h"

namespace qlinear::kernels::generic {

template <class Simd>
void quantize_by_mode(const QuantizeArgs& a) {
  if (a.spec.mode == QuantMode::affine) return quantize<Simd>(a);
  fp_quantize<Simd>(a);
}

template <class Simd>
void dequantize_by_mode(const DequantizeArgs& a) {
  if (a.spec.mode == QuantMode::affine) return dequantize<Simd>(a);
  fp_dequantize<Simd>(a);
}

template <class Simd>
void quantized_matmul_by_mode(const MatmulArgs& a) {
  if (a.spec.mode == QuantMode::affine) return quantized_matmul<Simd>(a);
  fp_quantized_matmul<Simd>(a);
}

template <class Simd>
void gather_qmm_by_mode(const GatherArgs& a) {
  gather_by_expert(a, quantized_matmul_by_mode<Simd>);
}

// The kernel table of one instruction set: the entries above with its Simd traits.
template <class Simd>
constexpr KernelTable table_of(std::string_view isa) {
  return {isa,
          quantize_by_mode<Simd>,
          dequantize_by_mode<Simd>,
          quantized_matmul_by_mode<Simd>,
          gather_qmm_by_mode<Simd>,
          &kFloatKernels<Simd>};
}

}  // namespace qlinear::kernels::generic
