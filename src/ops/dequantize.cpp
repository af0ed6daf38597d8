#include <algorithm>

#include "kernels/kernels.h"
#include "ops/checks.h"

namespace qlinear {

Tensor dequantize(const Tensor& wq, const Tensor& scales, const std::optional<Tensor>& biases,
                  std::optional<int> group_size, std::optional<int> bits, std::string_view mode,
                  std::optional<Dtype> dtype, const std::optional<Tensor>& global_scale) {
  constexpr std::string_view kOp = "dequantize";
  const QuantSpec spec = QuantSpec::resolve(kOp, parse_quant_mode(mode, kOp), group_size, bits);
  const std::int64_t cols = ops::check_packed(kOp, spec, wq, scales, biases);
  const float* global = ops::check_global_scale(kOp, spec, global_scale);
  if (dtype && !is_floating(*dtype)) {
    ops::fail(kOp, "The output dtype must be a floating type but is " +
                       std::string(name_of(*dtype)) + ".");
  }
  // affine computes in the scales' dtype; the float modes in the output dtype (float32
  // standing in for float64), except that with a global scale MLX computes and returns
  // float32 whatever dtype asks (we compute in float32 and honour an explicit dtype).
  const Dtype requested = spec.mode == QuantMode::affine ? dtype.value_or(scales.dtype())
                          : global != nullptr            ? dtype.value_or(Dtype::float32)
                                                         : dtype.value_or(Dtype::bfloat16);
  const Dtype compute = spec.mode == QuantMode::affine                     ? scales.dtype()
                        : requested == Dtype::float64 || global != nullptr ? Dtype::float32
                                                                           : requested;
  Shape shape = wq.shape();
  shape.back() = cols;
  Tensor out = Tensor::zeros(shape, compute);
  kernels::active_table().dequantize({spec, wq.data<std::uint32_t>(), scales.data(),
                                      biases ? biases->data() : nullptr, scales.dtype(),
                                      wq.size() / std::max<std::int64_t>(wq.dim(-1), 1), cols,
                                      out.mutable_data(), compute, global});
  return requested != compute ? out.astype(requested) : out;
}

}  // namespace qlinear
