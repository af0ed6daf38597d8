// gather_qmm on top of a table's quantized_matmul. Defined in a plain translation unit:
// the instruction-set tables pass their own matmul kernel in.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"

namespace qlinear::kernels {

using MatmulKernel = void (*)(const MatmulArgs&);

// The product of x matrix `x_matrix` with weight matrix `w_matrix`, written to out.
MatmulArgs pair_problem(const GatherArgs& a, std::int64_t x_matrix, std::int64_t w_matrix,
                        void* out);

// Every pair with `matmul`, the pairs grouped by expert: the rows of all pairs that use
// one expert are one product, so each selected expert's weights are read once per call.
// With transpose the (expert, block of output columns) products run in parallel, their
// blocks fixed by the shapes and the number of experts used, never by the thread count;
// a pair's result depends only on its rows and on how many rows share its expert.
void gather_by_expert(const GatherArgs& a, MatmulKernel matmul);

}  // namespace qlinear::kernels
