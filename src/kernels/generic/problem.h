// A quantized_matmul problem as the generic kernels see it: x already widened to
// float32 and the result written as float32.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"
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

// The problem of a matmul call, with x and y (leading dimension ldy) as the kernel has them.
inline Problem problem_of(const MatmulArgs& a, const float* x, float* y, std::int64_t ldy) {
  const std::int64_t cols = a.transpose ? a.K : a.N;  // codes per packed row
  return {x,
          a.M,
          a.K,
          a.N,
          reinterpret_cast<const std::uint8_t*>(a.wq),
          cols * a.spec.bits / 8,
          a.scales,
          a.biases,
          a.scale_dtype,
          a.spec.group_size,
          cols / a.spec.group_size,
          y,
          ldy};
}

}  // namespace qlinear::kernels::generic
