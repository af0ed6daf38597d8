// The AVX2 kernels: the generic kernels instantiated with AVX2 vectors.
#include "kernels/generic/by_mode.h"
#include "kernels/tables.h"
#include "kernels/x86/simd_avx2.h"

namespace qlinear::kernels {

const KernelTable& avx2_table() {
  static constexpr KernelTable table{"avx2", generic::quantize_by_mode<avx2::Simd>,
                                     generic::dequantize_by_mode<avx2::Simd>,
                                     generic::quantized_matmul_by_mode<avx2::Simd>};
  return table;
}

}  // namespace qlinear::kernels
