// The float modes in every instruction set this CPU supports, against the scalar
// reference: quantize and dequantize bit for bit (every output dtype, nvfp4 with and
// without a global scale), quantized_matmul within an error bound in both layouts and
// for few and many rows, and each path bit-identical for any thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/random.h"
#include "kernels/isa.h"
#include "qlinear/ops.h"
#include "qlinear/runtime.h"

namespace qlinear {
namespace {

using testing::fast_isas;
using testing::random_normal;
using testing::with_isa;

constexpr const char* kModes[] = {"mxfp4", "mxfp8", "nvfp4"};
constexpr Dtype kFloatTypes[] = {Dtype::float32, Dtype::float16, Dtype::bfloat16};

class FpKernels : public ::testing::TestWithParam<std::string> {};

TEST_P(FpKernels, QuantizeAndDequantizeAreBitExact) {
  const Tensor g = Tensor::from_floats({}, Dtype::float32, std::vector<float>{3.5f});
  for (const std::string mode : kModes) {
    for (Dtype dtype : kFloatTypes) {
      const Tensor w = random_normal({37, 160}, dtype, 3, 2.0f);
      for (const bool global : {false, true}) {
        if (global && mode != "nvfp4") continue;
        const auto gs = global ? std::optional(g) : std::nullopt;
        auto quantize_w = [&] { return quantize(w, std::nullopt, std::nullopt, mode, gs); };
        const Quantized ref = with_isa("scalar", 1, quantize_w);
        for (int threads : {1, 3}) {
          const Quantized fast = with_isa(GetParam(), threads, quantize_w);
          ASSERT_TRUE(fast.wq.bit_equal(ref.wq)) << mode << " " << name_of(dtype);
          ASSERT_TRUE(fast.scales.bit_equal(ref.scales)) << mode << " " << name_of(dtype);
        }
        for (Dtype out : kFloatTypes) {
          auto dequantize_w = [&] {
            return dequantize(ref.wq, ref.scales, std::nullopt, std::nullopt, std::nullopt, mode,
                              out, gs);
          };
          const Tensor expected = with_isa("scalar", 1, dequantize_w);
          for (int threads : {1, 3}) {
            ASSERT_TRUE(with_isa(GetParam(), threads, dequantize_w).bit_equal(expected))
                << mode << " " << name_of(dtype) << " -> " << name_of(out);
          }
        }
      }
    }
  }
}

// |fast - reference| <= 2 (K + 2) u32 sum |x| |w_hat| + 2 u_out |reference|: both sum
// the same products in float32 in different orders, then round to the output dtype.
TEST_P(FpKernels, MatmulAgreesWithinBoundAndIgnoresThreads) {
  for (const std::string mode : kModes) {
    for (Dtype dtype : kFloatTypes) {
      for (const bool transpose : {true, false}) {
        for (const std::int64_t M : {1, 3, 19}) {
          const std::int64_t K = 256, N = 96;
          const Tensor w = random_normal(transpose ? Shape{N, K} : Shape{K, N}, dtype, 5, 2.0f);
          const Tensor x = random_normal({M, K}, dtype, 6, 2.0f);
          const Quantized q = quantize(w, std::nullopt, std::nullopt, mode);
          auto product = [&] {
            return quantized_matmul(x, q.wq, q.scales, std::nullopt, transpose, std::nullopt,
                                    std::nullopt, mode);
          };
          const Tensor ref = with_isa("scalar", 1, product);
          const Tensor one = with_isa(GetParam(), 1, product);
          ASSERT_TRUE(with_isa(GetParam(), 4, product).bit_equal(one)) << mode;
          const auto w_hat = dequantize(q.wq, q.scales, std::nullopt, std::nullopt, std::nullopt,
                                        mode, Dtype::float32)
                                 .to_floats();
          const auto xv = x.to_floats(), rv = ref.to_floats(), fv = one.to_floats();
          const double u_out = dtype == Dtype::float32   ? 0x1p-24
                               : dtype == Dtype::float16 ? 0x1p-11
                                                         : 0x1p-8;
          for (std::int64_t m = 0; m < M; ++m) {
            for (std::int64_t n = 0; n < N; ++n) {
              double magnitude = 0;
              for (std::int64_t k = 0; k < K; ++k) {
                magnitude +=
                    std::fabs(xv[m * K + k] * (transpose ? w_hat[n * K + k] : w_hat[k * N + n]));
              }
              const double r = rv[m * N + n];
              ASSERT_NEAR(fv[m * N + n], r,
                          2 * (K + 2) * 0x1p-24 * magnitude + 2 * u_out * std::fabs(r))
                  << mode << " " << name_of(dtype) << " transpose=" << transpose << " M=" << M
                  << " m=" << m << " n=" << n;
            }
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, FpKernels, ::testing::ValuesIn(fast_isas()),
                         [](const auto& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(FpKernels);

}  // namespace
}  // namespace qlinear
