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

// The first element equal to zero (-0.0 or 0.0) of a group that holds one, as float.
template <class Simd, class T>
float first_zero(const T* group) {
  while (Simd::to_float(*group) != 0.0f) ++group;
  return Simd::to_float(*group);
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
  if constexpr (bits == 1) {
    return {Simd::max(Simd::sub(w_max, w_min), Simd::set1(formats::affine::kScaleFloor)), w_min};
  }
  const auto min_is_edge = Simd::greater(Simd::abs(w_min), Simd::abs(w_max));
  F scale = Simd::div(Simd::sub(w_max, w_min),
                      Simd::set1(static_cast<float>(formats::affine::max_code(bits))));
  scale = Simd::max(scale, Simd::set1(formats::affine::kScaleFloor));
  scale = Simd::select(min_is_edge, scale, Simd::sub(zero, scale));  // exact: scale > 0
  const F edge = Simd::select(min_is_edge, w_min, w_max);
  const F q0 = Simd::round_even(Simd::div(edge, scale));
  // Lanes with q0 == 0 keep scale; they divide by 1, not 0, so that no lane raises a
  // floating-point exception the scalar branch does not.
  const auto q0_is_zero = Simd::equal(q0, zero);
  const F divisor = Simd::select(q0_is_zero, Simd::set1(1.0f), q0);
  return {Simd::select(q0_is_zero, scale, Simd::div(edge, divisor)),
          Simd::select(q0_is_zero, zero, edge)};
}

// Rows [r_begin, r_end) as one run of groups (rows, scales and codes are contiguous),
// kLanes groups at a time. Each group's extremes are taken while the previous block's
// codes are computed, so that loads overlap the divisions.
template <class Simd, class T, int bits>
void quantize_rows(const QuantizeArgs& a, std::int64_t r_begin, std::int64_t r_end) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes;
  const int gs = a.spec.group_size;
  const std::int64_t g_begin = r_begin * (a.cols / gs);
  const std::int64_t g_end = r_end * (a.cols / gs);
  const T* w = static_cast<const T*>(a.w);
  auto* wq = reinterpret_cast<std::uint8_t*>(a.wq);
  const F zero = Simd::zero();
  const F top = Simd::set1(static_cast<float>(formats::affine::max_code(bits)));
  F lo[L], hi[L];
  alignas(64) float scale[L];
  alignas(64) float bias[L];
  alignas(64) T stored[L];
  alignas(64) std::uint8_t codes[128];  // one group
  // Lane i of lo/hi <- the extremes of group first + i, or of an all-zero group when
  // i >= count (past the last group).
  auto extremes = [&](std::int64_t first, int count, int i) {
    if (i >= count) {
      lo[i] = hi[i] = zero;
      return;
    }
    const T* group = w + (first + i) * gs;
    lo[i] = hi[i] = Simd::load(group);
    for (int v = L; v < gs; v += L) {
      lo[i] = Simd::min(lo[i], Simd::load(group + v));
      hi[i] = Simd::max(hi[i], Simd::load(group + v));
    }
  };
  auto block_size = [&](std::int64_t g) {
    return static_cast<int>(std::clamp<std::int64_t>(g_end - g, 0, L));
  };
  int n = block_size(g_begin);
  for (int i = 0; i < L; ++i) extremes(g_begin, n, i);
  for (std::int64_t g0 = g_begin; g0 < g_end; g0 += L) {
    auto params =
        group_params<Simd, bits>(Simd::reduce_each(lo, [](F x, F y) { return Simd::min(x, y); }),
                                 Simd::reduce_each(hi, [](F x, F y) { return Simd::max(x, y); }));
    // The codes use the float32 parameters; only the stored ones are rounded to T.
    Simd::store(scale, params.scale);
    Simd::store(bias, params.bias);
    if constexpr (bits == 1) {
      // The 1-bit bias is the minimum itself, and a vector minimum may pick either zero of
      // a group holding -0.0 and 0.0: the reference keeps the first zero (see group_params).
      for (int i = 0; i < n; ++i) {
        if (bias[i] == 0.0f) bias[i] = first_zero<Simd>(w + (g0 + i) * gs);
      }
      params.bias = Simd::load(bias);
    }
    Simd::store(stored, params.scale);
    std::memcpy(static_cast<T*>(a.scales) + g0, stored, n * sizeof(T));
    Simd::store(stored, params.bias);
    std::memcpy(static_cast<T*>(a.biases) + g0, stored, n * sizeof(T));
    const int next_n = block_size(g0 + L);  // only the last block is short: next_n <= n
    for (int i = 0; i < n; ++i) {
      const T* group = w + (g0 + i) * gs;
      const F s = Simd::set1(scale[i]);
      const F b = Simd::set1(bias[i]);
      for (int v = 0; v < gs; v += L) {
        const F q = Simd::round_even(Simd::div(Simd::sub(Simd::load(group + v), b), s));
        Simd::store_code_bytes(codes + v, Simd::min(Simd::max(q, zero), top));
      }
      pack_codes<Simd, bits>(codes, gs, wq + (g0 + i) * gs * bits / 8);
      extremes(g0 + L, next_n, i);
    }
    n = next_n;
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
