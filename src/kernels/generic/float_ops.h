// The float kernels of one instruction set: dot products and row updates in Simd
// vectors, rows spread over the thread pool.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/float_dispatch.h"
#include "kernels/generic/dot_rows.h"
#include "kernels/generic/exp.h"
#include "kernels/generic/partial_lanes.h"
#include "kernels/kernels.h"
#include "kernels/scratch.h"

namespace qlinear::kernels::generic {

// sum a[i] * b[i] (rms_norm's sum of squares).
template <class Simd>
float dot(const float* a, const float* b, std::int64_t n) {
  constexpr int L = Simd::kLanes;
  auto s0 = Simd::zero(), s1 = Simd::zero();
  std::int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    s0 = Simd::fmadd(Simd::load(a + i), Simd::load(b + i), s0);
    s1 = Simd::fmadd(Simd::load(a + i + L), Simd::load(b + i + L), s1);
  }
  for (; i + L <= n; i += L) s0 = Simd::fmadd(Simd::load(a + i), Simd::load(b + i), s0);
  float sum = Simd::reduce_add(Simd::add(s0, s1));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// out[i] = x[i] * alpha * (w ? w[i] : 1)
template <class Simd>
void scale_row(const float* x, float alpha, const float* w, std::int64_t n, float* out) {
  constexpr int L = Simd::kLanes;
  const auto va = Simd::set1(alpha);
  std::int64_t i = 0;
  for (; i + L <= n; i += L) {
    const auto y = Simd::mul(Simd::load(x + i), va);
    Simd::store(out + i, w ? Simd::mul(y, Simd::load(w + i)) : y);
  }
  for (; i < n; ++i) out[i] = x[i] * alpha * (w ? w[i] : 1.0f);
}

// Softmax of one row in place (x may equal out). Lanes past the row are -inf: e^-inf adds
// nothing to the sum.
template <class Simd>
void softmax_row(const float* x, std::int64_t n, float* out) {
  constexpr int L = Simd::kLanes;
  auto highest = Simd::set1(-INFINITY);
  for (std::int64_t i = 0; i < n; i += L) {
    highest = Simd::max(highest, load_part<Simd>(x + i, n - i, -INFINITY));
  }
  const auto max = Simd::set1(Simd::reduce_max(highest));
  auto sum = Simd::zero();
  for (std::int64_t i = 0; i < n; i += L) {
    const auto e = exp<Simd>(Simd::sub(load_part<Simd>(x + i, n - i, -INFINITY), max));
    store_part<Simd>(out + i, e, n - i);
    sum = Simd::add(sum, e);
  }
  const auto inv = Simd::set1(1.0f / Simd::reduce_add(sum));
  for (std::int64_t i = 0; i < n; i += L) {
    store_part<Simd>(out + i, Simd::mul(load_part<Simd>(out + i, n - i, 0.0f), inv), n - i);
  }
}

template <class Simd>
void rms_norm(const RmsNormArgs& a) {
  core::parallel_for(a.rows, 4, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r) {
      const float* x = a.x + r * a.dims;
      const float mean = dot<Simd>(x, x, a.dims) / static_cast<float>(a.dims);
      scale_row<Simd>(x, 1.0f / std::sqrt(mean + a.eps), a.weight, a.dims, a.out + r * a.dims);
    }
  });
}

template <class Simd>
void rope(const RopeArgs& a) {
  const std::int64_t half = a.dims / 2;
  // Each position's angles once, applied to every row of the batch at that position.
  core::parallel_for(a.T, 1, [&](std::int64_t begin, std::int64_t end) {
    float* cs = scratch_floats(ScratchSlot::sums, static_cast<std::size_t>(2 * half));
    for (std::int64_t t = begin; t < end; ++t) {
      const float position = static_cast<float>(a.offset + t) * a.scale;
      for (std::int64_t i = 0; i < half; ++i) {
        const float theta = position * a.inv_freqs[i];
        cs[i] = std::cos(theta);
        cs[half + i] = std::sin(theta);
      }
      for (std::int64_t b = 0; b < a.batch; ++b) {
        const float* x = a.x + (b * a.T + t) * a.head_dim;
        float* out = a.out + (b * a.T + t) * a.head_dim;
        for (std::int64_t i = 0; i < half; ++i) {
          const std::int64_t i0 = a.traditional ? 2 * i : i;
          const std::int64_t i1 = a.traditional ? 2 * i + 1 : i + half;
          const float x0 = x[i0], x1 = x[i1];
          out[i0] = x0 * cs[i] - x1 * cs[half + i];
          out[i1] = x0 * cs[half + i] + x1 * cs[i];
        }
        for (std::int64_t i = a.dims; i < a.head_dim; ++i) out[i] = x[i];
      }
    }
  });
}

template <class Simd>
void softmax(const SoftmaxArgs& a) {
  core::parallel_for(a.rows, 4, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r)
      softmax_row<Simd>(a.x + r * a.n, a.n, a.out + r * a.n);
  });
}

// One task per kv head and query position: the heads that share the kv head (the GQA
// repeat) are the rows of x of both products, so their keys and values are read once.
template <class Simd>
void attention(const AttentionArgs& a) {
  const std::int64_t repeats = a.heads / a.kv_heads;
  const std::int64_t ld = a.Tq * a.D;  // from one head's query row to the next head's
  core::parallel_for(a.kv_heads * a.Tq, 1, [&](std::int64_t begin, std::int64_t end) {
    float* scores = scratch_floats(ScratchSlot::sums, static_cast<std::size_t>(repeats * a.Tk));
    for (std::int64_t unit = begin; unit < end; ++unit) {
      const std::int64_t kv = unit / a.Tq, i = unit % a.Tq;
      const float* k = a.k + kv * a.kv_stride * a.D;
      const float* v = a.v + kv * a.kv_stride * a.D;
      const std::int64_t first_row = (kv * repeats * a.Tq + i) * a.D;
      const std::int64_t seen = a.causal ? std::min(a.Tk, i + a.Tk - a.Tq + 1) : a.Tk;
      dot_rows<Simd>(a.q + first_row, ld, repeats, k, seen, a.D, a.scale, scores, seen);
      for (std::int64_t r = 0; r < repeats; ++r) {
        softmax_row<Simd>(scores + r * seen, seen, scores + r * seen);
      }
      weighted_rows<Simd>(scores, seen, repeats, v, seen, a.D, a.out + first_row, ld);
    }
  });
}

template <class Simd>
void silu(const SiluArgs& a) {
  constexpr int L = Simd::kLanes;
  const auto one = Simd::set1(1.0f);
  core::parallel_for(a.n, 4096, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; i += L) {
      const auto g = load_part<Simd>(a.gate + i, end - i, 0.0f);
      auto y = Simd::div(g, Simd::add(one, exp<Simd>(Simd::sub(Simd::zero(), g))));
      if (a.up) y = Simd::mul(y, load_part<Simd>(a.up + i, end - i, 0.0f));
      store_part<Simd>(a.out + i, y, end - i);
    }
  });
}

template <class Simd>
void linear(const LinearArgs& a) {
  with_float_type(a.w_dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto* w = static_cast<const T*>(a.w);
    // Chunks of weight rows: each row is read once from memory and reused for every x row.
    core::parallel_for(a.N, 16, [&](std::int64_t begin, std::int64_t end) {
      dot_rows<Simd>(a.x, a.K, a.M, w + begin * a.K, end - begin, a.K, 1.0f, a.out + begin, a.N);
      if (!a.bias) return;
      for (std::int64_t m = 0; m < a.M; ++m) {
        for (std::int64_t n = begin; n < end; ++n) a.out[m * a.N + n] += a.bias[n];
      }
    });
  });
}

template <class Simd>
inline constexpr FloatKernels kFloatKernels{rms_norm<Simd>,  rope<Simd>, softmax<Simd>,
                                            attention<Simd>, silu<Simd>, linear<Simd>};

}  // namespace qlinear::kernels::generic
