#include "formats/packing.h"
#include "kernels/float_dispatch.h"
#include "kernels/reference/reference.h"

namespace qlinear::kernels::reference {
namespace {

// MLX computes scale * q + bias in the scales' dtype, rounding after the multiply and
// again after the add (no fused multiply-add); round_to<T> reproduces that.
template <class T>
void dequantize_affine(const DequantizeArgs& a) {
  const int bits = a.spec.bits;
  const int group_size = a.spec.group_size;
  const std::int64_t groups = a.cols / group_size;
  const std::int64_t words = formats::packed_words(a.cols, bits);
  const T* scales = static_cast<const T*>(a.scales);
  const T* biases = static_cast<const T*>(a.biases);
  T* out = static_cast<T*>(a.out);
  for (std::int64_t r = 0; r < a.rows; ++r) {
    const auto* row = reinterpret_cast<const std::uint8_t*>(a.wq + r * words);
    for (std::int64_t j = 0; j < a.cols; ++j) {
      const std::int64_t g = r * groups + j / group_size;
      const float q = static_cast<float>(formats::read_code(row, j, bits));
      const float scaled = round_to<T>(to_float(scales[g]) * q);
      out[r * a.cols + j] = from_float<T>(scaled + to_float(biases[g]));
    }
  }
}

}  // namespace

void dequantize(const DequantizeArgs& args) {
  if (args.spec.mode != QuantMode::affine) return dequantize_fp(args);
  with_float_type(args.scale_dtype, [&](auto t) { dequantize_affine<decltype(t)>(args); });
}

}  // namespace qlinear::kernels::reference
