// The NEON kernels: the generic kernels instantiated with Advanced SIMD vectors.
#include "kernels/arm/simd_neon.h"
#include "kernels/generic/by_mode.h"
#include "kernels/tables.h"

namespace qlinear::kernels {

const KernelTable& neon_table() {
  static constexpr KernelTable table = generic::table_of<neon::Simd>("neon");
  return table;
}

}  // namespace qlinear::kernels
