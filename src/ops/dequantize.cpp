#include <algorithm>

#include "kernels/kernels.h"
#include "ops/checks.h"

namespace qlinear {

Tensor dequantize(const Tensor& wq, const Tensor& scales, const std::optional<Tensor>& biases,
                  std::optional<int> group_size, std::optional<int> bits, std::string_view mode,
                  std::optional<Dtype> dtype) {
  constexpr std::string_view kOp = "dequantize";
  const QuantSpec spec = QuantSpec::resolve(kOp, parse_quant_mode(mode, kOp), group_size, bits);
  const std::int64_t cols = ops::check_packed(kOp, spec, wq, scales, biases);
  if (dtype && !is_floating(*dtype)) {
    ops::fail(kOp, "The output dtype must be a floating type but is " +
                       std::string(name_of(*dtype)) + ".");
  }
  Shape shape = wq.shape();
  shape.back() = cols;
  Tensor out = Tensor::zeros(shape, scales.dtype());
  kernels::active_table().dequantize({spec, wq.data<std::uint32_t>(), scales.data(),
                                      biases ? biases->data() : nullptr, scales.dtype(),
                                      wq.size() / std::max<std::int64_t>(wq.dim(-1), 1), cols,
                                      out.mutable_data()});
  return dtype && *dtype != out.dtype() ? out.astype(*dtype) : out;
}

}  // namespace qlinear
