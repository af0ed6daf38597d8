// A quantized_matmul problem as the generic kernels see it: x already widened to
// float32 and the result written as float32.
#pragma once

#include <cstdint>

#include "qlinear/dtype.h"

namespace qlinear::kernels::generic {

struct Problem {
  const float* x;  // (M, K), row-major
  std::int64_t M, K, N;
  const std::uint8_t* w;   // packed codes, rows of row_bytes
  std::int64_t row_bytes;  // bytes per packed row: K*bits/8 (transposed) or N*bits/8
  const void* scales;      // (packed rows, groups)
  const void* biases;
  Dtype scale_dtype;
  int group_size;
  std::int64_t groups;  // groups per packed row
  float* y;             // (M, ldy)
  std::int64_t ldy;
};

}  // namespace qlinear::kernels::generic
