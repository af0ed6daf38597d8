#include <algorithm>

#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "ops/broadcast.h"
#include "ops/checks.h"

namespace qlinear {
namespace {

constexpr std::string_view kOp = "quantized_matmul";
// Below this many products per thread, each product threads itself (no imbalance).
constexpr std::int64_t kBatchesPerThread = 4;

}  // namespace

Tensor quantized_matmul(const Tensor& x, const Tensor& wq, const Tensor& scales,
                        const std::optional<Tensor>& biases, bool transpose,
                        std::optional<int> group_size, std::optional<int> bits,
                        std::string_view mode) {
  const QuantSpec spec = QuantSpec::resolve(kOp, parse_quant_mode(mode, kOp), group_size, bits);
  const std::int64_t codes = ops::check_packed(kOp, spec, wq, scales, biases);
  ops::check_compute_dtype(kOp, "x", x);
  if (x.ndim() < 1) ops::fail(kOp, "x must have at least 1 dimension but is a scalar.");
  const std::int64_t K = transpose ? codes : wq.dim(-2);
  const std::int64_t N = transpose ? wq.dim(-2) : codes;
  if (x.dim(-1) != K) {
    ops::fail(kOp, "Last dimension of x with shape " + shape_string(x.shape()) + " must be " +
                       std::to_string(K) + " to match the quantized matrix with shape " +
                       shape_string(wq.shape()) + " (transpose=" + (transpose ? "true" : "false") +
                       ", bits=" + std::to_string(spec.bits) + ").");
  }
  const Dtype out_dtype =
      spec.mode == QuantMode::affine ? promote_types(x.dtype(), scales.dtype()) : x.dtype();

  // With a 2-D weight every leading dim of x is a row; otherwise x is (..., M, K).
  const bool batched_w = wq.ndim() > 2;
  const bool vector_x = x.ndim() == 1;
  const std::int64_t M =
      batched_w && !vector_x ? x.dim(-2) : x.size() / std::max<std::int64_t>(K, 1);
  const Shape x_batch =
      batched_w && !vector_x ? Shape(x.shape().begin(), x.shape().end() - 2) : Shape{};
  const Shape w_batch(wq.shape().begin(), wq.shape().end() - 2);
  const std::optional<Shape> out_batch_or = ops::broadcast_shapes(x_batch, w_batch);
  if (!out_batch_or) {
    ops::fail(kOp, "The batch dimensions of x with shape " + shape_string(x.shape()) +
                       " and of the quantized matrix with shape " + shape_string(wq.shape()) +
                       " cannot be broadcast together.");
  }
  const Shape& out_batch = *out_batch_or;

  Shape out_shape;
  if (batched_w) {
    out_shape = out_batch;
    if (!vector_x) out_shape.push_back(M);
  } else {
    out_shape.assign(x.shape().begin(), x.shape().end() - 1);
  }
  out_shape.push_back(N);
  Tensor out = Tensor::zeros(out_shape, out_dtype);

  const std::int64_t batches = element_count(out_batch);
  const std::size_t x_bytes = static_cast<std::size_t>(M * K) * size_of(x.dtype());
  const std::size_t out_bytes = static_cast<std::size_t>(M * N) * size_of(out_dtype);
  const std::int64_t packed_rows = transpose ? N : K;
  const std::int64_t words = wq.dim(-1) * packed_rows;
  const std::int64_t groups = scales.dim(-1) * packed_rows;
  const std::size_t scale_bytes = static_cast<std::size_t>(groups) * size_of(scales.dtype());
  const auto& kernel = kernels::active_table();
  const MatmulPrecision precision = matmul_precision();
  auto products = [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t b = begin; b < end; ++b) {
      const std::int64_t xb = ops::broadcast_offset(x_batch, out_batch, b);
      const std::int64_t wb = ops::broadcast_offset(w_batch, out_batch, b);
      kernel.quantized_matmul(
          {spec, static_cast<const char*>(x.data()) + xb * x_bytes, x.dtype(), M, K, N, transpose,
           wq.data<std::uint32_t>() + wb * words,
           static_cast<const char*>(scales.data()) + wb * scale_bytes,
           biases ? static_cast<const char*>(biases->data()) + wb * scale_bytes : nullptr,
           scales.dtype(), static_cast<char*>(out.mutable_data()) + b * out_bytes, out_dtype,
           precision});
    }
  };
  // Many products (attention over a KV cache: heads x repeats, a few rows each): whole
  // products per thread, since one small product split over threads costs more in
  // dispatch than it computes. The kernels' arithmetic does not depend on the split.
  if (batches >= kBatchesPerThread * core::num_threads()) {
    core::parallel_for(batches, 1, products);
  } else {
    products(0, batches);
  }
  return out;
}

}  // namespace qlinear
