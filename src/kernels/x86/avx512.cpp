// The AVX-512 kernels: the generic kernels instantiated with AVX-512 vectors.
#include "kernels/generic/by_mode.h"
#include "kernels/tables.h"
#include "kernels/x86/simd_avx512.h"

namespace qlinear::kernels {

const KernelTable& avx512_table() {
  static constexpr KernelTable table = generic::table_of<avx512::Simd>("avx512");
  return table;
}

}  // namespace qlinear::kernels
