#include "kernels/gather.h"
#include "kernels/reference/reference.h"

namespace qlinear::kernels::reference {

// One product per pair, in pair order, as MLX's CPU backend does.
void gather_qmm(const GatherArgs& a) {
  const std::size_t out_bytes =
      static_cast<std::size_t>(a.matmul.M * a.matmul.N) * size_of(a.matmul.out_dtype);
  for (std::int64_t p = 0; p < a.pairs; ++p) {
    quantized_matmul(
        pair_problem(a, a.lhs[p], a.rhs[p], static_cast<char*>(a.matmul.out) + p * out_bytes));
  }
}

}  // namespace qlinear::kernels::reference
