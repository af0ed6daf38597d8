// The float kernels in plain scalar C++, one output at a time, sums in order.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/float_dispatch.h"
#include "kernels/reference/reference.h"

namespace qlinear::kernels::reference {
namespace {

void rms_norm(const RmsNormArgs& a) {
  for (std::int64_t r = 0; r < a.rows; ++r) {
    const float* x = a.x + r * a.dims;
    float sum = 0.0f;
    for (std::int64_t i = 0; i < a.dims; ++i) sum += x[i] * x[i];
    const float inv = 1.0f / std::sqrt(sum / static_cast<float>(a.dims) + a.eps);
    for (std::int64_t i = 0; i < a.dims; ++i) {
      a.out[r * a.dims + i] = x[i] * inv * (a.weight ? a.weight[i] : 1.0f);
    }
  }
}

void rope(const RopeArgs& a) {
  const std::int64_t half = a.dims / 2;
  for (std::int64_t b = 0; b < a.batch; ++b) {
    for (std::int64_t t = 0; t < a.T; ++t) {
      const float* x = a.x + (b * a.T + t) * a.head_dim;
      float* out = a.out + (b * a.T + t) * a.head_dim;
      const float position = static_cast<float>(a.offset + t) * a.scale;
      for (std::int64_t i = 0; i < half; ++i) {
        const float theta = position * a.inv_freqs[i];
        const float c = std::cos(theta), s = std::sin(theta);
        const std::int64_t i0 = a.traditional ? 2 * i : i;
        const std::int64_t i1 = a.traditional ? 2 * i + 1 : i + half;
        out[i0] = x[i0] * c - x[i1] * s;
        out[i1] = x[i0] * s + x[i1] * c;
      }
      std::copy(x + a.dims, x + a.head_dim, out + a.dims);
    }
  }
}

void softmax_row(const float* x, std::int64_t n, float* out) {
  float max = -INFINITY;
  for (std::int64_t i = 0; i < n; ++i) max = std::max(max, x[i]);
  float sum = 0.0f;
  for (std::int64_t i = 0; i < n; ++i) sum += out[i] = std::exp(x[i] - max);
  for (std::int64_t i = 0; i < n; ++i) out[i] /= sum;
}

void softmax(const SoftmaxArgs& a) {
  for (std::int64_t r = 0; r < a.rows; ++r) softmax_row(a.x + r * a.n, a.n, a.out + r * a.n);
}

void attention(const AttentionArgs& a) {
  const std::int64_t repeats = a.heads / a.kv_heads;
  std::vector<float> scores(static_cast<std::size_t>(a.Tk));
  for (std::int64_t h = 0; h < a.heads; ++h) {
    const float* k = a.k + (h / repeats) * a.kv_stride * a.D;
    const float* v = a.v + (h / repeats) * a.kv_stride * a.D;
    for (std::int64_t i = 0; i < a.Tq; ++i) {
      const float* q = a.q + (h * a.Tq + i) * a.D;
      const std::int64_t seen = a.causal ? std::min(a.Tk, i + a.Tk - a.Tq + 1) : a.Tk;
      for (std::int64_t j = 0; j < seen; ++j) {
        float dot = 0.0f;
        for (std::int64_t d = 0; d < a.D; ++d) dot += q[d] * k[j * a.D + d];
        scores[j] = dot * a.scale;
      }
      softmax_row(scores.data(), seen, scores.data());
      float* out = a.out + (h * a.Tq + i) * a.D;
      for (std::int64_t d = 0; d < a.D; ++d) {
        float sum = 0.0f;
        for (std::int64_t j = 0; j < seen; ++j) sum += scores[j] * v[j * a.D + d];
        out[d] = sum;
      }
    }
  }
}

void silu(const SiluArgs& a) {
  for (std::int64_t i = 0; i < a.n; ++i) {
    const float g = a.gate[i];
    a.out[i] = g / (1.0f + std::exp(-g)) * (a.up ? a.up[i] : 1.0f);
  }
}

void linear(const LinearArgs& a) {
  with_float_type(a.w_dtype, [&](auto tag) {
    const auto* w = static_cast<const decltype(tag)*>(a.w);
    for (std::int64_t m = 0; m < a.M; ++m) {
      for (std::int64_t n = 0; n < a.N; ++n) {
        float sum = 0.0f;
        for (std::int64_t k = 0; k < a.K; ++k) sum += a.x[m * a.K + k] * to_float(w[n * a.K + k]);
        a.out[m * a.N + n] = sum + (a.bias ? a.bias[n] : 0.0f);
      }
    }
  });
}

}  // namespace

const FloatKernels float_kernels{rms_norm, rope, softmax, attention, silu, linear};

}  // namespace qlinear::kernels::reference
