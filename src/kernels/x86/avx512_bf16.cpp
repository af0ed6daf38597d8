// The table for AVX-512 CPUs with BF16 and VNNI: their own matmul kernels where they
// apply, the AVX-512 kernels for everything else.
#include "kernels/x86/avx512_bf16.h"

#include "kernels/gather.h"
#include "kernels/tables.h"

namespace qlinear::kernels {
namespace {

void quantized_matmul(const MatmulArgs& a) {
  if (a.precision == MatmulPrecision::int8 && avx512_bf16::int8_matmul(a)) return;
  if (avx512_bf16::bf16_matmul(a)) return;
  avx512_table().quantized_matmul(a);
}

void gather_qmm(const GatherArgs& a) {
  gather_by_expert(a, quantized_matmul);
}

}  // namespace

const KernelTable& avx512_bf16_table() {
  static const KernelTable table{"avx512_bf16", avx512_table().quantize, avx512_table().dequantize,
                                 quantized_matmul, gather_qmm, avx512_table().floats};
  return table;
}

}  // namespace qlinear::kernels
