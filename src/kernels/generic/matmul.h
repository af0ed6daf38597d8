// quantized_matmul entry point of the generic kernels: widens x to float32, picks the
// few-rows or the panel kernel by M alone (so the thread count never changes the
// arithmetic) and narrows the float32 result to the output dtype.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/generic/common.h"
#include "kernels/generic/gemm.h"
#include "kernels/generic/gemv.h"
#include "kernels/generic/problem.h"
#include "kernels/kernels.h"
#include "kernels/scratch.h"

namespace qlinear::kernels::generic {

// Above this many rows the panel kernel wins: dequantizing a panel costs about as much
// as a few passes of the few-rows kernel over the same weights.
template <class Simd>
inline constexpr std::int64_t kPanelMinRows = 2 * Simd::kGemvRows;

template <class Simd>
void quantized_matmul(const MatmulArgs& a) {
  constexpr int PW = GemmShape<Simd>::kPanelWidth;
  const bool panels = a.M > kPanelMinRows<Simd>;

  const float* x = static_cast<const float*>(a.x);
  if (panels) {
    x = pack_rows<Simd>(a.x, a.x_dtype, a.M, a.K);
  } else if (a.x_dtype != Dtype::float32) {
    float* wide = scratch_floats(ScratchSlot::input, static_cast<std::size_t>(a.M * a.K));
    widen<Simd>(a.x, a.x_dtype, wide, a.M * a.K);
    x = wide;
  }
  // The panel kernel writes whole panels: pad the rows of y to a multiple of PW.
  const std::int64_t ldy = panels ? (a.N + PW - 1) / PW * PW : a.N;
  const bool direct = a.out_dtype == Dtype::float32 && ldy == a.N;
  float* y = direct ? static_cast<float*>(a.out)
                    : scratch_floats(ScratchSlot::output, static_cast<std::size_t>(a.M * ldy));

  const Problem p = problem_of(a, x, y, ldy);
  with_bits(a.spec.bits, [&](auto b) {
    constexpr int bits = decltype(b)::value;
    if (panels) {
      gemm<Simd, bits>(p, a.transpose);
      return;
    }
    for (std::int64_t m = 0; m < a.M; m += Simd::kGemvRows) {
      Problem block = p;
      block.x = x + m * a.K;
      block.M = std::min<std::int64_t>(Simd::kGemvRows, a.M - m);
      block.y = y + m * ldy;
      gemv<Simd, bits>(block, a.transpose);
    }
  });
  if (direct) return;
  for (std::int64_t m = 0; m < a.M; ++m) {
    narrow<Simd>(y + m * ldy, static_cast<char*>(a.out) + m * a.N * size_of(a.out_dtype),
                 a.out_dtype, a.N);
  }
}

}  // namespace qlinear::kernels::generic
