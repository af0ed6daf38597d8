// Affine quantize, bit-exact with the reference: the same float32 min/max, the same
// group parameters (formats::affine::group_params, lane for lane), true divisions and
// round-half-to-even, no fused multiply-add. Threaded over rows.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/thread_pool.h"
#include "formats/affine.h"
#include "kernels/generic/common.h"
#include "kernels/kernels.h"

namespace qlinear::kernels::generic {

// n codes (a multiple of 8), one per byte, packed into n * bits / 8 bytes at out.
template <class Simd, int bits>
void pack_codes(const std::uint8_t* codes, int n, std::uint8_t* out) {
  for (int j = 0; j < n; j += 8, out += bits) {
    std::uint64_t x;
    std::memcpy(&x, codes + j, sizeof(x));
    x = Simd::template pack_byte_codes<bits>(x);
    std::memcpy(out, &x, bits);
  }
}

template <class Simd>
struct GroupParamsV {
  typename Simd::F scale;
  typename Simd::F bias;
};

// formats::affine::group_params for kLanes groups at once: the same float32 operations
// in the same order, its branches as selects.
template <class Simd, int bits>
GroupParamsV<Simd> group_params(typename Simd::F w_min, typename Simd::F w_max) {
  using F = typename Simd::F;
  const F zero = Simd::zero();
  const auto min_is_edge = Simd::greater(Simd::abs(w_min), Simd::abs(w_max));
  F scale = Simd::div(Simd::sub(w_max, w_min),
                      Simd::set1(static_cast<float>(formats::affine::max_code(bits))));
  scale = Simd::max(scale, Simd::set1(formats::affine::kScaleFloor));
  scale = Simd::select(min_is_edge, scale, Simd::sub(zero, scale));  // exact: scale > 0
  const F edge = Simd::select(min_is_edge, w_min, w_max);
  const F q0 = Simd::round_even(Simd::div(edge, scale));
  // Lanes with q0 == 0 divide by zero here and are replaced.
  const auto q0_is_zero = Simd::equal(q0, zero);
  return {Simd::select(q0_is_zero, scale, Simd::div(edge, q0)),
          Simd::select(q0_is_zero, zero, edge)};
}

template <class Simd, class T, int bits>
void quantize_rows(const QuantizeArgs& a, std::int64_t r_begin, std::int64_t r_end) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes;
  const int gs = a.spec.group_size;
  const std::int64_t groups = a.cols / gs;
  const F zero = Simd::zero();
  const F top = Simd::set1(static_cast<float>(formats::affine::max_code(bits)));
  alignas(64) float scale[L];
  alignas(64) float bias[L];
  alignas(64) T stored[L];
  alignas(64) std::uint8_t codes[L * 128];  // kLanes groups
  for (std::int64_t r = r_begin; r < r_end; ++r) {
    const T* w = static_cast<const T*>(a.w) + r * a.cols;
    auto* row = reinterpret_cast<std::uint8_t*>(a.wq) + r * a.cols * bits / 8;
    T* scales = static_cast<T*>(a.scales) + r * groups;
    T* biases = static_cast<T*>(a.biases) + r * groups;
    // kLanes groups at a time; the last block's unused lanes see an all-zero group.
    for (std::int64_t g0 = 0; g0 < groups; g0 += L) {
      const int n = static_cast<int>(std::min<std::int64_t>(L, groups - g0));
      F lo[L], hi[L];
      for (int i = 0; i < n; ++i) {
        const T* group = w + (g0 + i) * gs;
        lo[i] = hi[i] = Simd::load(group);
        for (int v = L; v < gs; v += L) {
          lo[i] = Simd::min(lo[i], Simd::load(group + v));
          hi[i] = Simd::max(hi[i], Simd::load(group + v));
        }
      }
      for (int i = n; i < L; ++i) lo[i] = hi[i] = zero;
      const auto params =
          group_params<Simd, bits>(Simd::reduce_each(lo, [](F x, F y) { return Simd::min(x, y); }),
                                   Simd::reduce_each(hi, [](F x, F y) { return Simd::max(x, y); }));
      // The codes use the float32 parameters; only the stored ones are rounded to T.
      Simd::store(scale, params.scale);
      Simd::store(bias, params.bias);
      Simd::store(stored, params.scale);
      std::memcpy(scales + g0, stored, n * sizeof(T));
      Simd::store(stored, params.bias);
      std::memcpy(biases + g0, stored, n * sizeof(T));
      for (int i = 0; i < n; ++i) {
        const F s = Simd::set1(scale[i]);
        const F b = Simd::set1(bias[i]);
        for (int v = i * gs; v < (i + 1) * gs; v += L) {
          const F q = Simd::round_even(Simd::div(Simd::sub(Simd::load(w + g0 * gs + v), b), s));
          Simd::store_code_bytes(codes + v, Simd::min(Simd::max(q, zero), top));
        }
      }
      pack_codes<Simd, bits>(codes, n * gs, row + g0 * gs * bits / 8);
    }
  }
}

template <class Simd>
void quantize(const QuantizeArgs& a) {
  with_float_type(a.dtype, [&](auto t) {
    with_bits(a.spec.bits, [&](auto b) {
      core::parallel_for(a.rows, 16, [&](std::int64_t begin, std::int64_t end) {
        quantize_rows<Simd, decltype(t), decltype(b)::value>(a, begin, end);
      });
    });
  });
}

}  // namespace qlinear::kernels::generic
