// Affine dequantize, bit-exact with the reference: scale * q rounded to the scales'
// dtype, then + bias rounded again (no fused multiply-add). Threaded over rows.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/generic/common.h"
#include "kernels/kernels.h"

namespace qlinear::kernels::generic {

template <class Simd, class T, int bits>
void dequantize_rows(const DequantizeArgs& a, std::int64_t r_begin, std::int64_t r_end) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes;
  const int gs = a.spec.group_size;
  const std::int64_t groups = a.cols / gs;
  const T* scales = static_cast<const T*>(a.scales);
  const T* biases = static_cast<const T*>(a.biases);
  for (std::int64_t r = r_begin; r < r_end; ++r) {
    const auto* row = reinterpret_cast<const std::uint8_t*>(a.wq) + r * a.cols * bits / 8;
    T* out = static_cast<T*>(a.out) + r * a.cols;
    for (std::int64_t g = 0; g < groups; ++g) {
      const F scale = Simd::set1(Simd::to_float(scales[r * groups + g]));
      const F bias = Simd::set1(Simd::to_float(biases[r * groups + g]));
      for (int v = 0; v < gs; v += L) {
        const std::int64_t j = g * gs + v;
        const F scaled = Simd::round_to(Simd::mul(scale, codes_at<Simd, bits>(row, j)), T{});
        Simd::store(out + j, Simd::add(scaled, bias));
      }
    }
  }
}

template <class Simd>
void dequantize(const DequantizeArgs& a) {
  with_float_type(a.scale_dtype, [&](auto t) {
    with_bits(a.spec.bits, [&](auto b) {
      core::parallel_for(a.rows, 16, [&](std::int64_t begin, std::int64_t end) {
        dequantize_rows<Simd, decltype(t), decltype(b)::value>(a, begin, end);
      });
    });
  });
}

}  // namespace qlinear::kernels::generic
