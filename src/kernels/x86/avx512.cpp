// The AVX-512 kernels: the generic kernels instantiated with AVX-512 vectors.
#include "kernels/generic/by_mode.h"
#include "kernels/tables.h"
#include "kernels/x86/simd_avx512.h"

namespace qlinear::kernels {

const KernelTable& avx512_table() {
  static constexpr KernelTable table{"avx512", generic::quantize_by_mode<avx512::Simd>,
                                     generic::dequantize_by_mode<avx512::Simd>,
                                     generic::quantized_matmul_by_mode<avx512::Simd>};
  return table;
}

}  // namespace qlinear::kernels
