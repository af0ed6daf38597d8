#include "ops/quantized_attention.h"

#include <algorithm>
#include <limits>
#include <span>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "ops/checks.h"
#include "ops/float_ops.h"
#include "qlinear/lm.h"
#include "qlinear/runtime.h"

namespace qlinear::ops {

Tensor quantized_attention_prefix(std::string_view op, const Tensor& q, const Quantized& keys,
                                  const Quantized& values, const QuantSpec& spec,
                                  std::int64_t kv_length, float scale, bool causal) {
  const std::int64_t heads = q.dim(1), Tq = q.dim(2), D = q.dim(3);
  const std::int64_t kv_heads = keys.wq.dim(1), capacity = keys.wq.dim(2);
  if (causal && kv_length < Tq) {
    fail(op, "A causal mask needs at least as many keys as queries, got " +
                 std::to_string(kv_length) + " keys for " + std::to_string(Tq) + " queries.");
  }
  // mlx-lm scales the queries first (queries *= scale).
  Tensor scaled = q.copy();
  for (float& v : std::span(scaled.mutable_data<float>(), scaled.size())) v *= scale;

  const std::int64_t rows = heads / kv_heads * Tq;  // one kv head's query rows
  const std::int64_t words = spec.packed_words(D), groups = D / spec.group_size;
  Tensor out = Tensor::zeros(q.shape(), Dtype::float32);
  const auto& table = kernels::active_table();
  const MatmulPrecision precision = matmul_precision();
  auto head_products = [&](std::int64_t begin, std::int64_t end) {
    std::vector<float> scores(static_cast<std::size_t>(rows * kv_length));
    for (std::int64_t g = begin; g < end; ++g) {
      const std::int64_t words_at = g * capacity * words, groups_at = g * capacity * groups;
      const float* x = scaled.data<float>() + g * rows * D;
      table.quantized_matmul({spec, x, Dtype::float32, rows, D, kv_length, true,
                              keys.wq.data<std::uint32_t>() + words_at,
                              keys.scales.data<float>() + groups_at,
                              keys.biases->data<float>() + groups_at, Dtype::float32, scores.data(),
                              Dtype::float32, precision});
      if (causal) {
        for (std::int64_t r = 0; r < rows; ++r) {
          const std::int64_t visible = r % Tq + kv_length - Tq + 1;
          std::fill(scores.begin() + r * kv_length + visible, scores.begin() + (r + 1) * kv_length,
                    std::numeric_limits<float>::lowest());
        }
      }
      table.floats->softmax({scores.data(), rows, kv_length, scores.data()});
      table.quantized_matmul({spec, scores.data(), Dtype::float32, rows, kv_length, D, false,
                              values.wq.data<std::uint32_t>() + words_at,
                              values.scales.data<float>() + groups_at,
                              values.biases->data<float>() + groups_at, Dtype::float32,
                              out.mutable_data<float>() + g * rows * D, Dtype::float32, precision});
    }
  };
  // One kv head per thread when there are enough of them (the value product, N = D, is
  // too narrow to split); else each product threads itself. Same arithmetic either way.
  if (kv_heads >= core::num_threads()) {
    core::parallel_for(kv_heads, 1, head_products);
  } else {
    head_products(0, kv_heads);
  }
  return out;
}

}  // namespace qlinear::ops

namespace qlinear::lm {

Tensor quantized_scaled_dot_product_attention(const Tensor& q, const Quantized& keys,
                                              const Quantized& values, float scale,
                                              std::string_view mask, int group_size, int bits) {
  constexpr std::string_view kOp = "quantized_scaled_dot_product_attention";
  const QuantSpec spec = QuantSpec::resolve(kOp, QuantMode::affine, group_size, bits);
  ops::check_compute_dtype(kOp, "queries", q);
  const std::int64_t D = q.ndim() == 4 ? q.dim(3) : 0;
  for (const auto& [what, t] : {std::pair{"keys", &keys}, std::pair{"values", &values}}) {
    const std::int64_t codes = ops::check_packed(kOp, spec, t->wq, t->scales, t->biases);
    if (q.ndim() != 4 || q.dim(0) != 1 || t->wq.ndim() != 4 || t->wq.dim(0) != 1 || codes != D ||
        t->wq.shape() != keys.wq.shape() || q.dim(1) % t->wq.dim(1) != 0) {
      ops::fail(kOp, "queries (1, heads, L, D) with shape " + shape_string(q.shape()) +
                         " do not fit the quantized " + what + " with shape " +
                         shape_string(t->wq.shape()) + " (1, kv_heads, T, D * bits / 32), heads " +
                         "a multiple of kv_heads, bits=" + std::to_string(spec.bits) + ".");
    }
  }
  if (mask != "" && mask != "causal") {
    ops::fail(kOp, "mask must be \"\" or \"causal\", not \"" + std::string(mask) + "\".");
  }
  auto float32_scales = [](const Quantized& t) {
    return Quantized{t.wq, ops::float32_of(t.scales), ops::float32_of(*t.biases)};
  };
  return ops::quantized_attention_prefix(kOp, ops::float32_of(q), float32_scales(keys),
                                         float32_scales(values), spec, keys.wq.dim(2), scale,
                                         mask == "causal");
}

}  // namespace qlinear::lm
