#include <cmath>
#include <string>

#include "kernels/kernels.h"
#include "ops/checks.h"

namespace qlinear {
namespace {

constexpr std::string_view kOp = "quantize";

// Position of flat element i in `shape`, as "(r, c)".
std::string index_string(const Shape& shape, std::int64_t i) {
  std::string s;
  for (std::size_t a = shape.size(); a-- > 0;) {
    s = std::to_string(i % shape[a]) + (s.empty() ? "" : ", ") + s;
    i /= shape[a];
  }
  return "(" + s + ")";
}

// MLX's quantize runs into undefined behaviour on NaN and infinity; refuse them instead.
// An element is NaN or infinite when its exponent field is all ones.
template <class Bits>
std::int64_t first_non_finite(const Bits* data, std::int64_t n, Bits exponent_mask) {
  // A branch-free scan first (it vectorizes): finite input, the common case, costs one pass.
  Bits all_ones_seen = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    all_ones_seen |= static_cast<Bits>((data[i] & exponent_mask) == exponent_mask);
  }
  if (all_ones_seen == 0) return -1;
  for (std::int64_t i = 0;; ++i) {
    if ((data[i] & exponent_mask) == exponent_mask) return i;
  }
}

void check_finite(const Tensor& w) {
  const std::int64_t bad =
      w.dtype() == Dtype::float32
          ? first_non_finite<std::uint32_t>(w.data<std::uint32_t>(), w.size(), 0x7F800000u)
          : first_non_finite<std::uint16_t>(w.data<std::uint16_t>(), w.size(),
                                            w.dtype() == Dtype::float16 ? 0x7C00u : 0x7F80u);
  if (bad < 0) return;
  const float v = w.to_floats()[static_cast<std::size_t>(bad)];
  ops::fail(kOp, "w contains " + std::string(std::isnan(v) ? "NaN" : "infinity") + " at index " +
                     index_string(w.shape(), bad) + "; only finite values can be quantized.");
}

}  // namespace

Quantized quantize(const Tensor& w, std::optional<int> group_size, std::optional<int> bits,
                   std::string_view mode, const std::optional<Tensor>& global_scale) {
  const QuantSpec spec = QuantSpec::resolve(kOp, parse_quant_mode(mode, kOp), group_size, bits);
  const float* global = ops::check_global_scale(kOp, spec, global_scale);
  if (w.defined() && !is_floating(w.dtype())) {
    ops::fail(kOp, "Only real floating types can be quantized but w has type " +
                       std::string(name_of(w.dtype())) + ".");
  }
  ops::check_compute_dtype(kOp, "w", w);
  if (w.ndim() < 2) {
    ops::fail(kOp,
              "The matrix to be quantized must have at least 2 dimensions but it has "
              "shape " +
                  shape_string(w.shape()) + ".");
  }
  const std::int64_t cols = w.dim(-1);
  if (cols % spec.group_size != 0) {
    ops::fail(kOp,
              "The last dimension of the matrix needs to be divisible by the quantization "
              "group size " +
                  std::to_string(spec.group_size) + ". However the provided matrix has shape " +
                  shape_string(w.shape()) + ".");
  }
  check_finite(w);

  Shape packed_shape = w.shape();
  packed_shape.back() = cols * spec.bits / 32;
  Shape group_shape = w.shape();
  group_shape.back() = cols / spec.group_size;
  const bool affine = spec.mode == QuantMode::affine;
  Quantized out{Tensor::zeros(packed_shape, Dtype::uint32),
                Tensor::zeros(group_shape, affine ? w.dtype() : Dtype::uint8),
                affine ? std::optional(Tensor::zeros(group_shape, w.dtype())) : std::nullopt};
  kernels::active_table().quantize({spec, w.data(), w.dtype(),
                                    w.size() / std::max<std::int64_t>(cols, 1), cols,
                                    out.wq.mutable_data<std::uint32_t>(), out.scales.mutable_data(),
                                    affine ? out.biases->mutable_data() : nullptr, global});
  return out;
}

}  // namespace qlinear
