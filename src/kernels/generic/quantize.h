// Affine quantize, bit-exact with the reference: the same float32 min/max, the same
// group parameters (computed by the reference's own function), true divisions and
// round-half-to-even, no fused multiply-add. Threaded over rows.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/thread_pool.h"
#include "kernels/generic/common.h"
#include "kernels/kernels.h"
#include "kernels/reference/reference.h"

namespace qlinear::kernels::generic {

// One group's codes, one per byte, packed into group_size * bits / 8 bytes at out.
template <class Simd, int bits>
void pack_group(const std::uint8_t* codes, int group_size, std::uint8_t* out) {
  for (int j = 0; j < group_size; j += 8) {
    std::uint64_t x;
    std::memcpy(&x, codes + j, sizeof(x));
    x = Simd::template pack_byte_codes<bits>(x);
    std::memcpy(out + j * bits / 8, &x, bits);
  }
}

template <class Simd, class T, int bits>
void quantize_rows(const QuantizeArgs& a, std::int64_t r_begin, std::int64_t r_end) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes;
  const int gs = a.spec.group_size;
  const std::int64_t groups = a.cols / gs;
  const F zero = Simd::zero();
  const F top = Simd::set1(static_cast<float>((1u << bits) - 1u));
  alignas(64) std::uint8_t codes[128];  // one group
  for (std::int64_t r = r_begin; r < r_end; ++r) {
    const T* w = static_cast<const T*>(a.w) + r * a.cols;
    auto* row = reinterpret_cast<std::uint8_t*>(a.wq) + r * a.cols * bits / 8;
    for (std::int64_t g = 0; g < groups; ++g) {
      const T* group = w + g * gs;
      F lo = Simd::load(group);
      F hi = lo;
      for (int v = L; v < gs; v += L) {
        lo = Simd::min(lo, Simd::load(group + v));
        hi = Simd::max(hi, Simd::load(group + v));
      }
      const auto params =
          reference::affine_group_params(Simd::reduce_min(lo), Simd::reduce_max(hi), bits);
      Simd::store_one(static_cast<T*>(a.scales) + r * groups + g, params.scale);
      Simd::store_one(static_cast<T*>(a.biases) + r * groups + g, params.bias);
      const F scale = Simd::set1(params.scale);
      const F bias = Simd::set1(params.bias);
      for (int v = 0; v < gs; v += L) {
        const F q = Simd::round_even(Simd::div(Simd::sub(Simd::load(group + v), bias), scale));
        Simd::store_code_bytes(codes + v, Simd::min(Simd::max(q, zero), top));
      }
      pack_group<Simd, bits>(codes, gs, row + g * gs * bits / 8);
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
