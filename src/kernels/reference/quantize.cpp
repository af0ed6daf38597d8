#include <algorithm>
#include <cstring>

#include "formats/affine.h"
#include "formats/packing.h"
#include "kernels/float_dispatch.h"
#include "kernels/reference/reference.h"

namespace qlinear::kernels::reference {
namespace {

template <class T>
void quantize_affine(const QuantizeArgs& a) {
  const int bits = a.spec.bits;
  const int group_size = a.spec.group_size;
  const std::int64_t groups = a.cols / group_size;
  const std::int64_t words = formats::packed_words(a.cols, bits);
  const T* w = static_cast<const T*>(a.w);
  T* scales = static_cast<T*>(a.scales);
  T* biases = static_cast<T*>(a.biases);
  for (std::int64_t r = 0; r < a.rows; ++r) {
    auto* row = reinterpret_cast<std::uint8_t*>(a.wq + r * words);
    std::memset(row, 0, static_cast<std::size_t>(words) * 4);
    for (std::int64_t g = 0; g < groups; ++g) {
      const T* group = w + r * a.cols + g * group_size;
      float w_min = to_float(group[0]);
      float w_max = w_min;
      for (int j = 1; j < group_size; ++j) {
        w_min = std::min(w_min, to_float(group[j]));
        w_max = std::max(w_max, to_float(group[j]));
      }
      const auto params = formats::affine::group_params(w_min, w_max, bits);
      scales[r * groups + g] = from_float<T>(params.scale);
      biases[r * groups + g] = from_float<T>(params.bias);
      for (int j = 0; j < group_size; ++j) {
        formats::write_code(row, g * group_size + j, bits,
                            formats::affine::code_of(to_float(group[j]), params, bits));
      }
    }
  }
}

}  // namespace

void quantize(const QuantizeArgs& args) {
  if (args.spec.mode != QuantMode::affine) return quantize_fp(args);
  with_float_type(args.dtype, [&](auto t) { quantize_affine<decltype(t)>(args); });
}

}  // namespace qlinear::kernels::reference
