// Unit roundoffs for the kernel tests' error bounds.
#pragma once

#include <cmath>
#include <limits>

#include "qlinear/dtype.h"

namespace qlinear::testing {

// Unit roundoff of a result dtype (0 for float32: no rounding beyond the sum's).
inline double output_roundoff(Dtype dtype) {
  switch (dtype) {
    case Dtype::float16:
      return std::ldexp(1.0, -11);
    case Dtype::bfloat16:
      return std::ldexp(1.0, -8);
    default:
      return 0.0;
  }
}

// The largest finite value of a float output dtype.
inline double output_max(Dtype dtype) {
  return dtype == Dtype::float16 ? 65504.0 : std::numeric_limits<float>::max();
}

}  // namespace qlinear::testing
