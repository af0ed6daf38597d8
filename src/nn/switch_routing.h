// The index bookkeeping of the expert layers: which x matrix meets which expert, the
// per-expert bias, and mlx-lm's sort of token-expert pairs by expert.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "qlinear/tensor.h"

namespace qlinear::nn::detail {

// The (x matrix, expert) pairs of a gather product: x's batch (every dim but the last
// two) in order, broadcast against `indices` (any integer dtype, each < num_experts).
struct ExpertPairs {
  Shape shape;                    // broadcast(x.shape[:-2], indices.shape)
  std::vector<std::int64_t> lhs;  // x matrix of each pair, flat
  std::vector<std::int64_t> rhs;  // expert of each pair
};
ExpertPairs expert_pairs(std::string_view op, const Tensor& x, const Tensor& indices,
                         std::int64_t num_experts);

// y (pairs..., M, N) + bias[indices] broadcast over the pairs and the M rows, rounded
// once to the promoted dtype (mlx-lm's y + expand_dims(bias[indices], -2)).
Tensor add_expert_bias(std::string_view op, const Tensor& y, const Tensor& bias,
                       const Tensor& indices);

// mlx-lm's _gather_sort: the pairs of tokens x (T, 1, D) rows and indices (T, k) ordered
// by expert (a stable order: equal experts keep their token order).
struct SortedPairs {
  Tensor x;                           // (T * k, 1, D): each pair's token row
  Tensor indices;                     // (T * k) int64, sorted
  std::vector<std::int64_t> inverse;  // position of pair i in the sorted order
};
SortedPairs sort_by_expert(const Tensor& x, const std::vector<std::int64_t>& indices,
                           std::int64_t k);

// mlx-lm's _scatter_unsort: y's rows (T * k, ...) back to pair order.
Tensor unsort_rows(const Tensor& y, const std::vector<std::int64_t>& inverse);

}  // namespace qlinear::nn::detail
