#include <vector>

#include "formats/packing.h"
#include "kernels/float_dispatch.h"
#include "kernels/reference/reference.h"

namespace qlinear::kernels::reference {
namespace {

// Element (row, col) of the dequantized matrix, in float32.
template <class S>
struct AffineMatrix {
  const std::uint32_t* wq;
  const S* scales;
  const S* biases;
  std::int64_t cols;
  int bits, group_size;

  float operator()(std::int64_t row, std::int64_t col) const {
    const auto* packed = reinterpret_cast<const std::uint8_t*>(wq + row * cols * bits / 32);
    const std::int64_t g = row * (cols / group_size) + col / group_size;
    const float q = static_cast<float>(formats::read_code(packed, col, bits));
    return to_float(scales[g]) * q + to_float(biases[g]);
  }
};

// Walks k in ascending order with a float32 accumulator: for float32 inputs this is
// exactly MLX's CPU arithmetic, so the result matches it bit for bit.
template <class X, class S, class O>
void matmul(const MatmulArgs& a) {
  const X* x = static_cast<const X*>(a.x);
  O* out = static_cast<O*>(a.out);
  const AffineMatrix<S> w{a.wq,
                          static_cast<const S*>(a.scales),
                          static_cast<const S*>(a.biases),
                          a.transpose ? a.K : a.N,
                          a.spec.bits,
                          a.spec.group_size};
  std::vector<float> acc(static_cast<std::size_t>(a.N));
  for (std::int64_t m = 0; m < a.M; ++m) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    const X* x_row = x + m * a.K;
    if (a.transpose) {
      for (std::int64_t n = 0; n < a.N; ++n) {
        for (std::int64_t k = 0; k < a.K; ++k) acc[n] = acc[n] + to_float(x_row[k]) * w(n, k);
      }
    } else {
      for (std::int64_t k = 0; k < a.K; ++k) {
        const float xk = to_float(x_row[k]);
        for (std::int64_t n = 0; n < a.N; ++n) acc[n] = acc[n] + xk * w(k, n);
      }
    }
    for (std::int64_t n = 0; n < a.N; ++n) out[m * a.N + n] = from_float<O>(acc[n]);
  }
}

}  // namespace

void quantized_matmul(const MatmulArgs& args) {
  if (args.spec.mode != QuantMode::affine) return quantized_matmul_fp(args);
  with_float_type(args.x_dtype, [&](auto x) {
    with_float_type(args.scale_dtype, [&](auto s) {
      with_float_type(args.out_dtype,
                      [&](auto o) { matmul<decltype(x), decltype(s), decltype(o)>(args); });
    });
  });
}

}  // namespace qlinear::kernels::reference
