// The affine quantized_matmul of the generic kernels: picks the few-rows or the panel
// kernel by M alone (so the thread count never changes the arithmetic), with x and y as
// float32 around it (with_float_operands, shared with the float modes).
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/generic/common.h"
#include "kernels/generic/decoders.h"
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

// Runs kernel(p) on x as the chosen kernel reads it (packed by pack_rows for the panel
// kernel, else widened to float32) and y as it writes it (float32, rows padded to whole
// panels for the panel kernel), then narrows y to the output dtype.
template <class Simd, class Kernel>
void with_float_operands(const MatmulArgs& a, bool panels, Kernel&& kernel) {
  constexpr int PW = GemmShape<Simd>::kPanelWidth;
  const float* x = static_cast<const float*>(a.x);
  if (panels) {
    x = pack_rows<Simd>(a.x, a.x_dtype, a.M, a.K);
  } else if (a.x_dtype != Dtype::float32) {
    float* wide = scratch_floats(ScratchSlot::input, static_cast<std::size_t>(a.M * a.K));
    widen<Simd>(a.x, a.x_dtype, wide, a.M * a.K);
    x = wide;
  }
  const std::int64_t ldy = panels ? (a.N + PW - 1) / PW * PW : a.N;
  const bool direct = a.out_dtype == Dtype::float32 && ldy == a.N;
  float* y = direct ? static_cast<float*>(a.out)
                    : scratch_floats(ScratchSlot::output, static_cast<std::size_t>(a.M * ldy));
  kernel(problem_of(a, x, y, ldy));
  if (direct) return;
  for (std::int64_t m = 0; m < a.M; ++m) {
    narrow<Simd>(y + m * ldy, static_cast<char*>(a.out) + m * a.N * size_of(a.out_dtype),
                 a.out_dtype, a.N);
  }
}

template <class Simd>
void quantized_matmul(const MatmulArgs& a) {
  const bool panels = a.M > kPanelMinRows<Simd>;
  with_float_operands<Simd>(a, panels, [&](const Problem& p) {
    with_bits(a.spec.bits, [&](auto b) {
      constexpr int bits = decltype(b)::value;
      if (panels) {
        gemm<Simd>(p, AffineDecoder<Simd, bits>{p.scales, p.biases, p.scale_dtype}, a.transpose);
        return;
      }
      for (std::int64_t m = 0; m < a.M; m += Simd::kGemvRows) {
        Problem block = p;
        block.x = p.x + m * a.K;
        block.M = std::min<std::int64_t>(Simd::kGemvRows, a.M - m);
        block.y = p.y + m * p.ldy;
        gemv<Simd, bits>(block, a.transpose);
      }
    });
  });
}

}  // namespace qlinear::kernels::generic
