// The AVX2 kernels: the generic kernels instantiated with AVX2 vectors.
#include "kernels/generic/by_mode.h"
#include "kernels/tables.h"
#include "kernels/x86/simd_avx2.h"

namespace qlinear::kernels {

const KernelTable& avx2_table() {
  static constexpr KernelTable table = generic::table_of<avx2::Simd>("avx2");
  return table;
}

}  // namespace qlinear::kernels
