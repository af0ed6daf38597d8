#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <string>

#include "core/thread_pool.h"
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

// An element is NaN or infinite when its exponent field is all ones. Returns the first
// such index in [begin, end), or -1.
template <class Bits>
std::int64_t first_non_finite(const void* data, std::int64_t begin, std::int64_t end,
                              Bits exponent_mask) {
  const Bits* bits = static_cast<const Bits*>(data);
  // A branch-free scan first (it vectorizes): finite input, the common case, costs one pass.
  Bits all_ones_seen = 0;
  for (std::int64_t i = begin; i < end; ++i) {
    all_ones_seen |= static_cast<Bits>((bits[i] & exponent_mask) == exponent_mask);
  }
  if (all_ones_seen == 0) return -1;
  for (std::int64_t i = begin;; ++i) {
    if ((bits[i] & exponent_mask) == exponent_mask) return i;
  }
}

std::int64_t first_non_finite(const Tensor& w, std::int64_t begin, std::int64_t end) {
  switch (w.dtype()) {
    case Dtype::float32:
      return first_non_finite<std::uint32_t>(w.data(), begin, end, 0x7F800000u);
    case Dtype::float16:
      return first_non_finite<std::uint16_t>(w.data(), begin, end, 0x7C00u);
    default:
      return first_non_finite<std::uint16_t>(w.data(), begin, end, 0x7F80u);
  }
}

// Runs the kernel over blocks of rows that fit in the L2 cache, each checked for NaN and
// infinity just before (MLX's quantize runs into undefined behaviour on them; we refuse
// them), so the input is read from memory once. Returns the first bad index, or -1.
std::int64_t quantize_checked(const kernels::QuantizeArgs& args, const Tensor& w) {
  constexpr std::int64_t kBlockBytes = 128 << 10;
  const std::int64_t row_bytes = args.cols * static_cast<std::int64_t>(size_of(w.dtype()));
  const std::int64_t block_rows =
      std::max<std::int64_t>(1, kBlockBytes / std::max<std::int64_t>(row_bytes, 1));
  std::atomic<std::int64_t> first_bad{std::numeric_limits<std::int64_t>::max()};
  const auto& kernel = kernels::active_table();
  core::parallel_for(args.rows, block_rows, [&](std::int64_t r0, std::int64_t r1) {
    const std::int64_t bad = first_non_finite(w, r0 * args.cols, r1 * args.cols);
    if (bad >= 0) {
      std::int64_t seen = first_bad.load();
      while (bad < seen && !first_bad.compare_exchange_weak(seen, bad)) {
      }
      return;
    }
    if (first_bad.load(std::memory_order_relaxed) != std::numeric_limits<std::int64_t>::max()) {
      return;  // the call fails anyway
    }
    kernels::QuantizeArgs block = args;
    block.rows = r1 - r0;
    block.w = static_cast<const char*>(args.w) + r0 * row_bytes;
    block.wq += args.spec.packed_words(r0 * args.cols);
    const std::int64_t groups = args.spec.groups(r0 * args.cols);
    const std::size_t scale_size = args.spec.traits().scale_bytes(w.dtype());
    block.scales = static_cast<char*>(args.scales) + groups * scale_size;
    if (args.biases) block.biases = static_cast<char*>(args.biases) + groups * scale_size;
    kernel.quantize(block);  // its own parallel_for runs inline here
  });
  const std::int64_t bad = first_bad.load();
  return bad == std::numeric_limits<std::int64_t>::max() ? -1 : bad;
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

  Shape packed_shape = w.shape();
  packed_shape.back() = spec.packed_words(cols);
  Shape group_shape = w.shape();
  group_shape.back() = spec.groups(cols);
  const ModeTraits& mode_traits = spec.traits();
  const Dtype scale_dtype = mode_traits.scale_dtype(w.dtype());
  Quantized out{Tensor::zeros(packed_shape, Dtype::uint32), Tensor::zeros(group_shape, scale_dtype),
                mode_traits.has_biases() ? std::optional(Tensor::zeros(group_shape, scale_dtype))
                                         : std::nullopt};
  const kernels::QuantizeArgs args{spec,
                                   w.data(),
                                   w.dtype(),
                                   w.size() / std::max<std::int64_t>(cols, 1),
                                   cols,
                                   out.wq.mutable_data<std::uint32_t>(),
                                   out.scales.mutable_data(),
                                   out.biases ? out.biases->mutable_data() : nullptr,
                                   global};
  if (const std::int64_t bad = quantize_checked(args, w); bad >= 0) {
    const float v = w.to_floats()[static_cast<std::size_t>(bad)];
    ops::fail(kOp, "w contains " + std::string(std::isnan(v) ? "NaN" : "infinity") + " at index " +
                       index_string(w.shape(), bad) + "; only finite values can be quantized.");
  }
  return out;
}

}  // namespace qlinear
