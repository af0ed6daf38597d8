// Float-mode quantize (mxfp4, mxfp8, nvfp4), bit-exact with the reference
// (reference/fp_modes.cpp, formats/fp_modes.h): the same float32 operations in the same
// order, the scales of kLanes groups at once and then each group's codes, through the
// vector encoders of fp_encode.h. Threaded over rows.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/thread_pool.h"
#include "formats/fp_modes.h"
#include "kernels/generic/common.h"
#include "kernels/generic/fp_encode.h"
#include "kernels/kernels.h"
#include "kernels/reference/reference.h"

namespace qlinear::kernels::generic {

// Lane-wise largest magnitudes of the gs elements at group (reduce them for the group's).
// As std::max in the reference, a NaN never replaces the running maximum.
template <class Simd, int gs, class T>
typename Simd::F group_amax(const T* group) {
  using F = typename Simd::F;
  F amax = Simd::zero();
  for (int v = 0; v < gs; v += Simd::kLanes) {
    const F a = Simd::abs(Simd::load(group + v));
    amax = Simd::select(Simd::greater(a, amax), a, amax);
  }
  return amax;
}

// 65520, the midpoint between float16's largest finite 65504 and 2^16, and everything
// above it round to infinity; this is the float32 just below it.
inline constexpr float kLargestRoundingToFiniteFloat16 = std::bit_cast<float>(0x477FEFFFu);

// An element's quotient by its scale, rounded to T as the reference rounds it. Lanes past
// float16's range (float16 weights under a tiny nvfp4 divisor) become infinities by a
// select: the conversion would make them so too, but raise FE_OVERFLOW, which the
// reference's integer rounding does not. Here, not in Simd::round_to: this infinity is an
// intermediate the codes never show, where elsewhere a float16 past its range is the
// op's own result (infinity, as in MLX).
template <class Simd, class T>
typename Simd::F quotient_in(typename Simd::F q) {
  if constexpr (!std::is_same_v<T, float16_t>) {
    return Simd::round_to(q, T{});
  } else {
    using F = typename Simd::F;
    const auto overflows = Simd::greater(Simd::abs(q), Simd::set1(kLargestRoundingToFiniteFloat16));
    const F in_range = Simd::round_to(Simd::select(overflows, Simd::zero(), q), T{});
    // The sign onto infinity by a product with nonzero lanes only (0 * inf is invalid).
    const F infinity = Simd::mul(Simd::select(overflows, q, Simd::set1(1.0f)),
                                 Simd::set1(std::numeric_limits<float>::infinity()));
    return Simd::select(overflows, infinity, in_range);
  }
}

// Rows [r_begin, r_end) as one run of groups (rows, codes and scales are contiguous).
// divisors: the value in T of each scale byte; factor: formats::encode_factor.
template <class Simd, class Mode, class T>
void fp_quantize_rows(const QuantizeArgs& a, const float* divisors, float factor,
                      std::int64_t r_begin, std::int64_t r_end) {
  using F = typename Simd::F;
  using Element = typename Mode::Element;
  constexpr int L = Simd::kLanes;
  constexpr int gs = Mode::kGroupSize;
  constexpr int bits = Mode::kBits;
  const std::int64_t g_begin = r_begin * (a.cols / gs);
  const std::int64_t g_end = r_end * (a.cols / gs);
  const T* w = static_cast<const T*>(a.w);
  auto* wq = reinterpret_cast<std::uint8_t*>(a.wq);
  auto* scales = static_cast<std::uint8_t*>(a.scales);
  alignas(64) std::uint8_t scale_codes[L];
  for (std::int64_t g0 = g_begin; g0 < g_end; g0 += L) {
    const int n = static_cast<int>(std::min<std::int64_t>(L, g_end - g0));
    F amax[L];  // past the last group: an all-zero group's
    for (int i = 0; i < L; ++i) {
      amax[i] = i < n ? group_amax<Simd, gs>(w + (g0 + i) * gs) : Simd::zero();
    }
    const F max = Simd::reduce_each(amax, [](F x, F y) { return Simd::max(x, y); });
    F s = Simd::round_to(Simd::div(max, Simd::set1(Element::kMax)), T{});
    if constexpr (Mode::kHasGlobalScale) s = Simd::mul(s, Simd::set1(factor));
    Simd::store_code_bytes(scale_codes, codes_of<typename Mode::Scale, Simd>(s));
    std::memcpy(scales + g0, scale_codes, static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      const T* group = w + (g0 + i) * gs;
      std::uint8_t* out = wq + (g0 + i) * gs * bits / 8;
      const float divisor = divisors[scale_codes[i]];
      for (int v = 0; v < gs; v += L) {
        // A zero divisor (nvfp4, amax / 6 under E4M3's smallest step): every element
        // encodes as infinity, as in the reference, which does not divide by it either.
        F q = Simd::set1(std::numeric_limits<float>::infinity());
        if (divisor != 0.0f) {
          q = quotient_in<Simd, T>(Simd::div(Simd::load(group + v), Simd::set1(divisor)));
          if constexpr (Mode::kHasGlobalScale) q = Simd::mul(q, Simd::set1(factor));
        }
        if constexpr (bits == 4) {
          Simd::store_code_nibbles(out + v / 2, codes_of<Element, Simd>(q));
        } else {
          Simd::store_code_bytes(out + v, codes_of<Element, Simd>(q));
        }
      }
    }
  }
}

template <class Simd>
void fp_quantize(const QuantizeArgs& a) {
  reference::FpTables divisors;  // without a global scale: the scale bytes' values in T
  reference::fp_tables(a.spec.mode, a.dtype, nullptr, divisors);
  const float factor = reference::fp_encode_factor(a.spec.mode, a.global_scale);
  formats::with_fp_mode(a.spec.mode, [&](auto mode) {
    with_float_type(a.dtype, [&](auto t) {
      core::parallel_for(a.rows, 16, [&](std::int64_t begin, std::int64_t end) {
        fp_quantize_rows<Simd, decltype(mode), decltype(t)>(a, divisors.scales, factor, begin, end);
      });
    });
  });
}

}  // namespace qlinear::kernels::generic
