// The kernel table an op runs a spec on: the active instruction set's, except for the
// float modes, which only the reference kernels implement so far.
#pragma once

#include "kernels/kernels.h"

namespace qlinear::ops {

inline const kernels::KernelTable& kernel_table(const QuantSpec& spec) {
  return spec.mode == QuantMode::affine ? kernels::active_table() : kernels::reference_table();
}

}  // namespace qlinear::ops
