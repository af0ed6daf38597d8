#include "ops/float_ops.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "kernels/kernels.h"
#include "ops/checks.h"

namespace qlinear {
namespace {

const kernels::FloatKernels& float_kernels() {
  return *kernels::active_table().floats;
}

std::string dims_of(const Tensor& t) {
  return shape_string(t.shape());
}

// A float32 result of `shape`, returned in `dtype`.
Tensor in_dtype(Tensor out, Dtype dtype) {
  return dtype == Dtype::float32 ? out : out.astype(dtype);
}

void check_float(std::string_view op, std::string_view what, const Tensor& t, int min_ndim) {
  ops::check_compute_dtype(op, what, t);
  if (t.ndim() < min_ndim) {
    ops::fail(op, std::string(what) + " must have at least " + std::to_string(min_ndim) +
                      " dimensions but has shape " + dims_of(t) + ".");
  }
}

void check_vector(std::string_view op, std::string_view what, const Tensor& t, std::int64_t n) {
  ops::check_compute_dtype(op, what, t);
  if (t.ndim() != 1 || t.dim(0) != n) {
    ops::fail(op, std::string(what) + " must have shape (" + std::to_string(n) +
                      ",) but has shape " + dims_of(t) + ".");
  }
}

}  // namespace

namespace ops {

Tensor float32_of(const Tensor& t) {
  return t.dtype() == Dtype::float32 ? t : t.astype(Dtype::float32);
}

Tensor linear(std::string_view op, const Tensor& x, const Tensor& weight, const Tensor* bias) {
  check_float(op, "x", x, 1);
  check_float(op, "weight", weight, 2);
  if (weight.ndim() != 2) fail(op, "weight must be 2-D but has shape " + dims_of(weight) + ".");
  const std::int64_t N = weight.dim(0), K = weight.dim(1);
  if (x.dim(-1) != K) {
    fail(op, "Last dimension of x with shape " + dims_of(x) + " must be " + std::to_string(K) +
                 " to match the weight with shape " + dims_of(weight) + ".");
  }
  if (bias) check_vector(op, "bias", *bias, N);
  const Tensor xf = float32_of(x);
  const Tensor bf = bias ? float32_of(*bias) : Tensor();
  Shape shape(x.shape().begin(), x.shape().end() - 1);
  shape.push_back(N);
  Tensor out = Tensor::zeros(std::move(shape), Dtype::float32);
  float_kernels().linear(
      {xf.data<float>(), weight.data(), weight.dtype(), bias ? bf.data<float>() : nullptr,
       x.size() / std::max<std::int64_t>(K, 1), K, N, out.mutable_data<float>()});
  Dtype dtype = promote_types(x.dtype(), weight.dtype());
  if (bias) dtype = promote_types(dtype, bias->dtype());
  return in_dtype(std::move(out), dtype);
}

Tensor attention_prefix(std::string_view op, const Tensor& q, const Tensor& k, const Tensor& v,
                        std::int64_t kv_length, float scale, bool causal) {
  const std::int64_t B = q.dim(0), heads = q.dim(1), Tq = q.dim(2), D = q.dim(3);
  const std::int64_t kv_heads = k.dim(1), capacity = k.dim(2);
  if (causal && kv_length < Tq) {
    fail(op, "A causal mask needs at least as many keys as queries, got " +
                 std::to_string(kv_length) + " keys for " + std::to_string(Tq) + " queries.");
  }
  Tensor out = Tensor::zeros(q.shape(), Dtype::float32);
  const std::int64_t q_block = heads * Tq * D, kv_block = kv_heads * capacity * D;
  for (std::int64_t b = 0; b < B; ++b) {
    float_kernels().attention({q.data<float>() + b * q_block, k.data<float>() + b * kv_block,
                               v.data<float>() + b * kv_block, heads, kv_heads, Tq, kv_length,
                               capacity, D, scale, causal,
                               out.mutable_data<float>() + b * q_block});
  }
  return out;
}

}  // namespace ops

Tensor rms_norm(const Tensor& x, const std::optional<Tensor>& weight, float eps) {
  constexpr std::string_view kOp = "rms_norm";
  check_float(kOp, "x", x, 1);
  const std::int64_t dims = x.dim(-1);
  if (weight) check_vector(kOp, "weight", *weight, dims);
  const Tensor xf = ops::float32_of(x);
  const Tensor wf = weight ? ops::float32_of(*weight) : Tensor();
  Tensor out = Tensor::zeros(x.shape(), Dtype::float32);
  float_kernels().rms_norm({xf.data<float>(), weight ? wf.data<float>() : nullptr, eps,
                            x.size() / std::max<std::int64_t>(dims, 1), dims,
                            out.mutable_data<float>()});
  return in_dtype(std::move(out), x.dtype());
}

Tensor rope(const Tensor& x, int dims, bool traditional, std::optional<float> base, float scale,
            std::int64_t offset, const std::optional<Tensor>& freqs) {
  constexpr std::string_view kOp = "rope";
  check_float(kOp, "x", x, 2);
  const std::int64_t head_dim = x.dim(-1);
  if (dims <= 0 || dims % 2 != 0 || dims > head_dim) {
    ops::fail(kOp, "dims must be even, positive and at most the last dimension " +
                       std::to_string(head_dim) + " of x, got " + std::to_string(dims) + ".");
  }
  if (freqs.has_value() == base.has_value()) {
    ops::fail(kOp, "Exactly one of base and freqs must be given.");
  }
  const std::int64_t half = dims / 2;
  Tensor inv_freqs = Tensor::zeros({half}, Dtype::float32);
  float* inv = inv_freqs.mutable_data<float>();
  if (freqs) {
    check_vector(kOp, "freqs", *freqs, half);
    const std::vector<float> f = freqs->to_floats();
    for (std::int64_t i = 0; i < half; ++i) inv[i] = 1.0f / f[i];
  } else {
    for (std::int64_t i = 0; i < half; ++i) {
      inv[i] = static_cast<float>(std::pow(static_cast<double>(*base), -2.0 * i / dims));
    }
  }
  const std::int64_t T = x.dim(-2);
  const Tensor xf = ops::float32_of(x);
  Tensor out = Tensor::zeros(x.shape(), Dtype::float32);
  float_kernels().rope({xf.data<float>(), x.size() / std::max<std::int64_t>(T * head_dim, 1), T,
                        head_dim, dims, traditional, inv, scale, offset,
                        out.mutable_data<float>()});
  return in_dtype(std::move(out), x.dtype());
}

Tensor softmax(const Tensor& x) {
  check_float("softmax", "x", x, 1);
  const Tensor xf = ops::float32_of(x);
  Tensor out = Tensor::zeros(x.shape(), Dtype::float32);
  const std::int64_t n = x.dim(-1);
  float_kernels().softmax(
      {xf.data<float>(), x.size() / std::max<std::int64_t>(n, 1), n, out.mutable_data<float>()});
  return in_dtype(std::move(out), x.dtype());
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, float scale,
                                    std::string_view mask) {
  constexpr std::string_view kOp = "scaled_dot_product_attention";
  for (const auto& [name, t] : {std::pair{"queries", &q}, {"keys", &k}, {"values", &v}}) {
    ops::check_compute_dtype(kOp, name, *t);
    if (t->ndim() != 4) {
      ops::fail(kOp, std::string(name) + " must have 4 dimensions (B, heads, T, D) but has shape " +
                         dims_of(*t) + ".");
    }
  }
  if (k.shape() != v.shape() || k.dim(0) != q.dim(0) || k.dim(3) != q.dim(3) || k.dim(1) == 0 ||
      q.dim(1) % k.dim(1) != 0) {
    ops::fail(kOp, "Shapes of queries " + dims_of(q) + ", keys " + dims_of(k) + " and values " +
                       dims_of(v) +
                       " do not fit: keys and values must match, share B and D with the "
                       "queries, and their heads must divide the query heads.");
  }
  if (mask != "" && mask != "causal") {
    ops::fail(kOp, "mask must be \"\" or \"causal\", got \"" + std::string(mask) + "\".");
  }
  Tensor out = ops::attention_prefix(kOp, ops::float32_of(q), ops::float32_of(k),
                                     ops::float32_of(v), k.dim(2), scale, mask == "causal");
  return in_dtype(std::move(out), q.dtype());
}

namespace {

Tensor silu_of(std::string_view op, const Tensor& gate, const Tensor* up) {
  check_float(op, "x", gate, 0);
  if (up && up->shape() != gate.shape()) {
    ops::fail(op, "gate with shape " + dims_of(gate) + " and up with shape " + dims_of(*up) +
                      " must have the same shape.");
  }
  if (up) ops::check_compute_dtype(op, "up", *up);
  const Tensor gf = ops::float32_of(gate);
  const Tensor uf = up ? ops::float32_of(*up) : Tensor();
  Tensor out = Tensor::zeros(gate.shape(), Dtype::float32);
  float_kernels().silu(
      {gf.data<float>(), up ? uf.data<float>() : nullptr, gate.size(), out.mutable_data<float>()});
  return in_dtype(std::move(out), up ? promote_types(gate.dtype(), up->dtype()) : gate.dtype());
}

}  // namespace

Tensor silu(const Tensor& x) {
  return silu_of("silu", x, nullptr);
}

Tensor swiglu(const Tensor& gate, const Tensor& up) {
  return silu_of("swiglu", gate, &up);
}

Tensor linear(const Tensor& x, const Tensor& weight, const std::optional<Tensor>& bias) {
  return ops::linear("linear", x, weight, bias ? &*bias : nullptr);
}

}  // namespace qlinear
