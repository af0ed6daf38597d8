#include <limits>
#include <vector>

#include "kernels/kernels.h"
#include "ops/broadcast.h"
#include "ops/checks.h"

namespace qlinear {
namespace {

constexpr std::string_view kOp = "gather_qmm";

// The batch of matrices of an operand: every dim but the last two.
Shape batch_of(const Tensor& t) {
  return Shape(t.shape().begin(), t.shape().end() - 2);
}

// An index array with its values checked against the batch it indexes, or, when absent,
// every matrix of that batch in order (shaped like the batch), as MLX's default.
struct Indices {
  Shape shape;
  std::vector<std::int64_t> values;
};

Indices indices_or_default(const std::optional<Tensor>& given, const Tensor& operand,
                           std::string_view name, std::string_view operand_name) {
  if (operand.ndim() < 2) {
    ops::fail(kOp, "Input must have at least two dimensions but got input with shape " +
                       shape_string(operand.shape()) + ".");
  }
  const Shape batch = batch_of(operand);
  const std::int64_t matrices = element_count(batch);
  if (!given) {
    std::vector<std::int64_t> all(static_cast<std::size_t>(matrices));
    for (std::int64_t i = 0; i < matrices; ++i) all[i] = i;
    return {batch, std::move(all)};
  }
  if (!given->defined()) ops::fail(kOp, std::string(name) + " is an empty tensor handle.");
  Indices indices{given->shape(), ops::index_values(kOp, *given)};
  for (std::size_t i = 0; i < indices.values.size(); ++i) {
    const std::int64_t v = indices.values[i];
    if (v < 0 || v >= matrices) {
      const std::string value = v < 0 && given->dtype() == Dtype::uint64
                                    ? std::to_string(given->data<std::uint64_t>()[i])
                                    : std::to_string(v);
      ops::fail(kOp, std::string(name) + " holds " + value + " at flat position " +
                         std::to_string(i) + ", outside the " + std::to_string(matrices) +
                         " matrices of " + std::string(operand_name) + " with shape " +
                         shape_string(operand.shape()) + ".");
    }
  }
  return indices;
}

}  // namespace

Tensor gather_qmm(const Tensor& x, const Tensor& w, const Tensor& scales,
                  const std::optional<Tensor>& biases, const std::optional<Tensor>& lhs_indices,
                  const std::optional<Tensor>& rhs_indices, bool transpose,
                  std::optional<int> group_size, std::optional<int> bits, std::string_view mode,
                  bool /*sorted_indices: the kernels group pairs by expert in any case*/) {
  if (!lhs_indices && !rhs_indices) {
    return quantized_matmul(x, w, scales, biases, transpose, group_size, bits, mode);
  }
  const QuantSpec spec = QuantSpec::resolve(kOp, parse_quant_mode(mode, kOp), group_size, bits);
  const std::int64_t codes = ops::check_packed(kOp, spec, w, scales, biases);
  ops::check_compute_dtype(kOp, "x", x);
  const std::int64_t K = transpose ? codes : w.dim(-2);
  const std::int64_t N = transpose ? w.dim(-2) : codes;
  if (x.ndim() < 1 || x.dim(-1) != K) {
    ops::fail(kOp, "Last dimension of first input with shape " + shape_string(x.shape()) +
                       " does not match the expanded quantized matrix (" + std::to_string(K) +
                       ", " + std::to_string(N) + ") computed from shape " +
                       shape_string(w.shape()) + " with group_size=" +
                       std::to_string(spec.group_size) + ", bits=" + std::to_string(spec.bits) +
                       " and transpose=" + (transpose ? "true" : "false") + ".");
  }
  const Indices lhs = indices_or_default(lhs_indices, x, "lhs_indices", "x");
  const Indices rhs = indices_or_default(rhs_indices, w, "rhs_indices", "w");
  const std::optional<Shape> pair_shape = ops::broadcast_shapes(lhs.shape, rhs.shape);
  if (!pair_shape) {
    ops::fail(kOp, "The shapes of lhs_indices " + shape_string(lhs.shape) + " and rhs_indices " +
                       shape_string(rhs.shape) + " cannot be broadcast.");
  }

  // One (x matrix, weight matrix) pair per element of the broadcast index shape.
  const std::int64_t pairs = element_count(*pair_shape);
  std::vector<std::uint32_t> lhs_of(static_cast<std::size_t>(pairs)),
      rhs_of(static_cast<std::size_t>(pairs));
  for (std::int64_t p = 0; p < pairs; ++p) {
    lhs_of[p] =
        static_cast<std::uint32_t>(lhs.values[ops::broadcast_offset(lhs.shape, *pair_shape, p)]);
    rhs_of[p] =
        static_cast<std::uint32_t>(rhs.values[ops::broadcast_offset(rhs.shape, *pair_shape, p)]);
  }

  const std::int64_t M = x.dim(-2);
  Shape out_shape = *pair_shape;
  out_shape.push_back(M);
  out_shape.push_back(N);
  const Dtype out_dtype =
      spec.mode == QuantMode::affine ? promote_types(x.dtype(), scales.dtype()) : x.dtype();
  Tensor out = Tensor::zeros(out_shape, out_dtype);
  const kernels::MatmulArgs matmul{spec,
                                   x.data(),
                                   x.dtype(),
                                   M,
                                   K,
                                   N,
                                   transpose,
                                   w.data<std::uint32_t>(),
                                   scales.data(),
                                   biases ? biases->data() : nullptr,
                                   scales.dtype(),
                                   out.mutable_data(),
                                   out_dtype,
                                   matmul_precision()};
  kernels::active_table().gather_qmm(
      {matmul, pairs, lhs_of.data(), rhs_of.data(), element_count(batch_of(w))});
  return out;
}

}  // namespace qlinear
