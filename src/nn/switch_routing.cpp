#include "nn/switch_routing.h"

#include <algorithm>
#include <numeric>

#include "ops/broadcast.h"
#include "ops/checks.h"

namespace qlinear::nn::detail {

ExpertPairs expert_pairs(std::string_view op, const Tensor& x, const Tensor& indices,
                         std::int64_t num_experts) {
  const std::vector<std::int64_t> experts = ops::index_values(op, indices);
  for (std::size_t i = 0; i < experts.size(); ++i) {
    if (experts[i] < 0 || experts[i] >= num_experts) {
      ops::fail(op, "indices hold " + std::to_string(experts[i]) + " at flat position " +
                        std::to_string(i) + ", outside the " + std::to_string(num_experts) +
                        " experts.");
    }
  }
  const Shape batch(x.shape().begin(), x.shape().end() - 2);
  const std::optional<Shape> shape = ops::broadcast_shapes(batch, indices.shape());
  if (!shape) {
    ops::fail(op, "The batch shape " + shape_string(batch) + " of x and the indices' shape " +
                      shape_string(indices.shape()) + " cannot be broadcast.");
  }
  ExpertPairs pairs{*shape, {}, {}};
  const std::int64_t count = element_count(*shape);
  pairs.lhs.resize(static_cast<std::size_t>(count));
  pairs.rhs.resize(static_cast<std::size_t>(count));
  for (std::int64_t p = 0; p < count; ++p) {
    pairs.lhs[p] = ops::broadcast_offset(batch, *shape, p);
    pairs.rhs[p] = experts[ops::broadcast_offset(indices.shape(), *shape, p)];
  }
  return pairs;
}

Tensor add_expert_bias(std::string_view op, const Tensor& y, const Tensor& bias,
                       const Tensor& indices) {
  const std::vector<std::int64_t> experts = ops::index_values(op, indices);
  const std::int64_t N = bias.dim(1), rows_per_pair = y.dim(-2);
  const Shape pair_shape(y.shape().begin(), y.shape().end() - 2);
  std::vector<float> values = y.to_floats();
  const std::vector<float> bs = bias.to_floats();
  for (std::int64_t p = 0; p < element_count(pair_shape); ++p) {
    const float* row =
        bs.data() + experts[ops::broadcast_offset(indices.shape(), pair_shape, p)] * N;
    float* out = values.data() + p * rows_per_pair * N;
    for (std::int64_t i = 0; i < rows_per_pair * N; ++i) out[i] += row[i % N];
  }
  return Tensor::from_floats(y.shape(), promote_types(y.dtype(), bias.dtype()), values);
}

SortedPairs sort_by_expert(const Tensor& x, const std::vector<std::int64_t>& indices,
                           std::int64_t k) {
  const std::int64_t pairs = static_cast<std::int64_t>(indices.size());
  std::vector<std::int64_t> order(indices.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::int64_t a, std::int64_t b) { return indices[a] < indices[b]; });
  const std::int64_t D = x.dim(-1);
  const std::size_t row_bytes = static_cast<std::size_t>(D) * size_of(x.dtype());
  SortedPairs sorted{Tensor::zeros({pairs, 1, D}, x.dtype()), Tensor::zeros({pairs}, Dtype::int64),
                     std::vector<std::int64_t>(indices.size())};
  const auto* src = static_cast<const char*>(x.data());
  auto* dst = static_cast<char*>(sorted.x.mutable_data());
  std::int64_t* experts = sorted.indices.mutable_data<std::int64_t>();
  for (std::int64_t i = 0; i < pairs; ++i) {
    std::copy_n(src + (order[i] / k) * row_bytes, row_bytes, dst + i * row_bytes);
    experts[i] = indices[order[i]];
    sorted.inverse[order[i]] = i;
  }
  return sorted;
}

Tensor unsort_rows(const Tensor& y, const std::vector<std::int64_t>& inverse) {
  Tensor out = Tensor::zeros(y.shape(), y.dtype());
  const std::size_t row_bytes = y.nbytes() / std::max<std::size_t>(inverse.size(), 1);
  const auto* src = static_cast<const char*>(y.data());
  auto* dst = static_cast<char*>(out.mutable_data());
  for (std::size_t i = 0; i < inverse.size(); ++i) {
    std::copy_n(src + inverse[i] * row_bytes, row_bytes, dst + i * row_bytes);
  }
  return out;
}

}  // namespace qlinear::nn::detail
