// The AVX-512 kernels: the generic kernels instantiated with AVX-512 vectors.
#include "kernels/generic/dequantize.h"
#include "kernels/generic/matmul.h"
#include "kernels/generic/quantize.h"
#include "kernels/tables.h"
#include "kernels/x86/simd_avx512.h"

namespace qlinear::kernels {

const KernelTable& avx512_table() {
  static constexpr KernelTable table{"avx512", generic::quantize<avx512::Simd>,
                                     generic::dequantize<avx512::Simd>,
                                     generic::quantized_matmul<avx512::Simd>};
  return table;
}

}  // namespace qlinear::kernels
