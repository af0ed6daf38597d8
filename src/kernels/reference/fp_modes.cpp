// The float modes (mxfp4, mxfp8, nvfp4) in plain scalar code, step by step as MLX's
// fp_quantize / fp_dequantize / quantized_matmul do it (formats/fp_modes.h).
#include <algorithm>
#include <cfenv>
#include <cmath>
#include <cstring>
#include <vector>

#include "formats/fp_modes.h"
#include "formats/packing.h"
#include "kernels/float_dispatch.h"
#include "kernels/reference/reference.h"

namespace qlinear::kernels::reference {
namespace {

template <class Mode, class T>
void quantize_rows(const QuantizeArgs& a) {
  constexpr int G = Mode::kGroupSize;
  const float factor = formats::encode_factor<Mode>(a.global_scale);
  const std::int64_t groups = a.cols / G;
  const std::int64_t words = formats::packed_words(a.cols, Mode::kBits);
  const T* w = static_cast<const T*>(a.w);
  auto* scales = static_cast<std::uint8_t*>(a.scales);
  for (std::int64_t r = 0; r < a.rows; ++r) {
    auto* row = reinterpret_cast<std::uint8_t*>(a.wq + r * words);
    std::memset(row, 0, static_cast<std::size_t>(words) * 4);
    for (std::int64_t g = 0; g < groups; ++g) {
      const T* group = w + r * a.cols + g * G;
      float amax = 0.0f;
      for (int j = 0; j < G; ++j) amax = std::max(amax, std::fabs(to_float(group[j])));
      const auto scale = formats::group_scale<Mode, T>(amax, factor);
      scales[r * groups + g] = scale.code;
      for (int j = 0; j < G; ++j) {
        formats::write_code(row, g * G + j, Mode::kBits,
                            formats::element_code<Mode, T>(to_float(group[j]), scale, factor));
      }
    }
  }
}

template <class Mode, class O>
void dequantize_rows(const DequantizeArgs& a) {
  constexpr int G = Mode::kGroupSize;
  const float factor = formats::decode_factor<Mode>(a.global_scale);
  const std::int64_t groups = a.cols / G;
  const std::int64_t words = formats::packed_words(a.cols, Mode::kBits);
  const auto* scales = static_cast<const std::uint8_t*>(a.scales);
  O* out = static_cast<O*>(a.out);
  for (std::int64_t r = 0; r < a.rows; ++r) {
    const auto* row = reinterpret_cast<const std::uint8_t*>(a.wq + r * words);
    for (std::int64_t j = 0; j < a.cols; ++j) {
      const float scale = formats::scale_value<Mode, O>(scales[r * groups + j / G], factor);
      const auto code = static_cast<std::uint8_t>(formats::read_code(row, j, Mode::kBits));
      out[r * a.cols + j] = from_float<O>(Mode::Element::decode(code) * scale);
    }
  }
}

// MLX's CPU order with a float32 accumulator: with transpose, each group's products are
// summed first and the sum scaled; without, every term is (x * scale) * value. For
// float32 inputs this is MLX's arithmetic exactly.
template <class Mode, class X, class O>
void matmul(const MatmulArgs& a) {
  constexpr int G = Mode::kGroupSize;
  const std::int64_t cols = a.transpose ? a.K : a.N;
  const std::int64_t words = formats::packed_words(cols, Mode::kBits);
  const auto* scales = static_cast<const std::uint8_t*>(a.scales);
  const X* x = static_cast<const X*>(a.x);
  O* out = static_cast<O*>(a.out);
  auto value = [&](std::int64_t row, std::int64_t col) {
    const auto* packed = reinterpret_cast<const std::uint8_t*>(a.wq + row * words);
    return Mode::Element::decode(
        static_cast<std::uint8_t>(formats::read_code(packed, col, Mode::kBits)));
  };
  auto scale = [&](std::int64_t row, std::int64_t col) {
    return formats::scale_value<Mode, X>(scales[row * (cols / G) + col / G], 1.0f);
  };
  std::vector<float> acc(static_cast<std::size_t>(a.N));
  for (std::int64_t m = 0; m < a.M; ++m) {
    const X* x_row = x + m * a.K;
    std::fill(acc.begin(), acc.end(), 0.0f);
    if (a.transpose) {
      for (std::int64_t n = 0; n < a.N; ++n) {
        for (std::int64_t k0 = 0; k0 < a.K; k0 += G) {
          float group_sum = 0.0f;
          for (std::int64_t k = k0; k < k0 + G; ++k) {
            group_sum = group_sum + to_float(x_row[k]) * value(n, k);
          }
          acc[n] = acc[n] + scale(n, k0) * group_sum;
        }
      }
    } else {
      for (std::int64_t k = 0; k < a.K; ++k) {
        const float xk = to_float(x_row[k]);
        for (std::int64_t n = 0; n < a.N; ++n) acc[n] = acc[n] + xk * scale(k, n) * value(k, n);
      }
    }
    for (std::int64_t n = 0; n < a.N; ++n) out[m * a.N + n] = from_float<O>(acc[n]);
  }
}

}  // namespace

void quantize_fp(const QuantizeArgs& args) {
  formats::with_fp_mode(args.spec.mode, [&](auto mode) {
    with_float_type(args.dtype, [&](auto t) { quantize_rows<decltype(mode), decltype(t)>(args); });
  });
}

float fp_encode_factor(QuantMode mode, const float* global_scale) {
  return formats::with_fp_mode(
      mode, [&](auto m) { return formats::encode_factor<decltype(m)>(global_scale); });
}

void fp_tables(QuantMode mode, Dtype dtype, const float* global_scale, FpTables& tables) {
  formats::with_fp_mode(mode, [&](auto m) {
    using Mode = decltype(m);
    tables.values = Mode::Element::kValues.data();
    const float factor = formats::decode_factor<Mode>(global_scale);
    // Scale bytes no group uses may overflow dtype (2^127 as float16 is inf, as it would be
    // in a dequantize that met it); computing them must not raise FE_OVERFLOW in the
    // caller's floating-point state, nor trap: exceptions are held and discarded.
    fenv_t caller;
    feholdexcept(&caller);
    with_float_type(dtype, [&](auto o) {
      for (int code = 0; code < 256; ++code) {
        tables.scales[code] =
            formats::scale_value<Mode, decltype(o)>(static_cast<std::uint8_t>(code), factor);
      }
    });
    fesetenv(&caller);
  });
}

void dequantize_fp(const DequantizeArgs& args) {
  formats::with_fp_mode(args.spec.mode, [&](auto mode) {
    with_float_type(args.out_dtype,
                    [&](auto o) { dequantize_rows<decltype(mode), decltype(o)>(args); });
  });
}

void quantized_matmul_fp(const MatmulArgs& args) {
  formats::with_fp_mode(args.spec.mode, [&](auto mode) {
    with_float_type(args.x_dtype, [&](auto x) {
      with_float_type(args.out_dtype,
                      [&](auto o) { matmul<decltype(mode), decltype(x), decltype(o)>(args); });
    });
  });
}

}  // namespace qlinear::kernels::reference
