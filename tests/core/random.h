// Seeded random tensors and rounding constants for property tests.
#pragma once

#include "qlinear/random.h"
#include "qlinear/tensor.h"

namespace qlinear::testing {

using qlinear::random_normal;

// Unit roundoff of a float dtype: half the distance from 1 to the next value.
inline double unit_roundoff(Dtype dtype) {
  switch (dtype) {
    case Dtype::float16:
      return 0x1p-11;
    case Dtype::bfloat16:
      return 0x1p-8;
    default:
      return 0x1p-24;
  }
}

}  // namespace qlinear::testing
