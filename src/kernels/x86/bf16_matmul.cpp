#include "kernels/x86/avx512_bf16.h"

namespace qlinear::kernels::avx512_bf16 {

bool bf16_matmul(const MatmulArgs&) {
  return false;  // not yet written: the AVX-512 kernels run
}

}  // namespace qlinear::kernels::avx512_bf16
