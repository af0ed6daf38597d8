// The AVX512-BF16 matmul kernel (src/kernels/x86/bf16_matmul.cpp) against the scalar
// reference: bfloat16 x within the float32 summation bound of the exact kernels, float x
// under MatmulPrecision::bfloat16 against the reference run on x rounded to bfloat16, the
// cases it declines bit-identical to the AVX-512 table, and every result independent of
// the thread count and of how many rows come with it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/random.h"
#include "kernels/isa.h"
#include "kernels/roundoff.h"
#include "kernels/x86/bf16_units.h"
#include "qlinear/ops.h"
#include "qlinear/runtime.h"

namespace qlinear {
namespace {

using testing::isa_supported;
using testing::output_roundoff;
using testing::random_normal;
using testing::with_isa;

// Every affine width of the catalogue.
constexpr auto& kBits = modes::kAffineBits;
constexpr int kGroupSizes[] = {32, 64, 128};
constexpr Dtype kFloatTypes[] = {Dtype::float32, Dtype::float16, Dtype::bfloat16};
const std::string kIsa = "avx512_bf16";

struct Case {
  std::int64_t M, K, N;
  bool transpose;
  int bits, gs;
  Dtype x_dtype, scale_dtype;
  MatmulPrecision precision = MatmulPrecision::exact;
};

std::string describe(const Case& c) {
  return "M=" + std::to_string(c.M) + " K=" + std::to_string(c.K) + " N=" + std::to_string(c.N) +
         " transpose=" + std::to_string(c.transpose) + " bits=" + std::to_string(c.bits) +
         " gs=" + std::to_string(c.gs) + " x=" + std::string(name_of(c.x_dtype)) +
         " scales=" + std::string(name_of(c.scale_dtype)) +
         " precision=" + std::string(to_string(c.precision));
}

struct Operands {
  Tensor x;
  Quantized q;
};

Operands make_operands(const Case& c) {
  const auto seed = static_cast<std::uint32_t>(c.M * 131 + c.K * 7 + c.N + c.bits * 3 + c.gs);
  const Shape w_shape = c.transpose ? Shape{c.N, c.K} : Shape{c.K, c.N};
  const Tensor w = random_normal(w_shape, c.scale_dtype, seed);
  return {random_normal({c.M, c.K}, c.x_dtype, seed + 1),
          with_isa("scalar", 1, [&] { return quantize(w, c.gs, c.bits); })};
}

Tensor matmul(const std::string& isa, int threads, const Case& c, const Tensor& x,
              const Quantized& q) {
  return with_isa(isa, threads, [&] {
    const MatmulPrecision saved = matmul_precision();
    set_matmul_precision(c.precision);
    Tensor y = quantized_matmul(x, q.wq, q.scales, q.biases, c.transpose, c.gs, c.bits);
    set_matmul_precision(saved);
    return y;
  });
}

// The kernel multiplies x rounded to bfloat16; the reference gets the same rounded x.
// Both results lie within K * u32 * B of the exact value, B = sum_k |x_k| (|s_k q_k| +
// |b_k|) (the bound kernel_agreement_test.cpp uses), so they differ by at most 2 K u32 B,
// plus one rounding of each to the output dtype, and where the kernel rounds the weights
// too (groups along N) by u_bf16 sum_k |x_k w_k|. We allow 2x that.
void expect_agrees(const Case& c) {
  const std::string what = describe(c);
  const Operands in = make_operands(c);
  const Tensor x_rounded = in.x.astype(Dtype::bfloat16).astype(c.x_dtype);
  const Tensor want = matmul("scalar", 1, c, x_rounded, in.q);
  const Tensor got = matmul(kIsa, 1, c, in.x, in.q);
  for (int threads : {2, 3}) {
    ASSERT_TRUE(got.bit_equal(matmul(kIsa, threads, c, in.x, in.q)))
        << "thread count " << threads << " changed the result: " << what;
  }

  const std::vector<float> xs = x_rounded.to_floats();
  const std::vector<float> biases = in.q.biases->to_floats();
  const std::vector<float> w_hat = with_isa("scalar", 1, [&] {
                                     return dequantize(in.q.wq, in.q.scales, in.q.biases, c.gs,
                                                       c.bits, "affine", Dtype::float32);
                                   }).to_floats();
  const std::vector<float> got_values = got.to_floats();
  const std::vector<float> want_values = want.to_floats();
  const double u32 = std::numeric_limits<float>::epsilon() / 2;
  const double u_weights = c.transpose ? 0.0 : std::ldexp(1.0, -8);
  const double u_out = output_roundoff(got.dtype());
  const std::int64_t groups_per_row = (c.transpose ? c.K : c.N) / c.gs;
  int failures = 0;
  for (std::int64_t m = 0; m < c.M; ++m) {
    for (std::int64_t n = 0; n < c.N; ++n) {
      double terms = 0.0, products = 0.0;
      for (std::int64_t k = 0; k < c.K; ++k) {
        const std::int64_t wi = c.transpose ? n * c.K + k : k * c.N + n;
        const std::int64_t gi =
            c.transpose ? n * groups_per_row + k / c.gs : k * groups_per_row + n / c.gs;
        const double x_abs = std::fabs(xs[m * c.K + k]);
        const double s_q = std::fabs(static_cast<double>(w_hat[wi]) - biases[gi]);
        terms += x_abs * (s_q + std::fabs(biases[gi]));
        products += x_abs * std::fabs(w_hat[wi]);
      }
      const double r = want_values[m * c.N + n];
      const double tol =
          2.0 * (2.0 * c.K * u32 * terms + u_weights * products + 2.0 * u_out * std::fabs(r));
      const double err = std::fabs(static_cast<double>(got_values[m * c.N + n]) - r);
      if (!(err <= tol) && failures++ < 5) {
        ADD_FAILURE() << what << " at (" << m << ", " << n << "): kernel "
                      << got_values[m * c.N + n] << " reference " << r << " error " << err
                      << " > tolerance " << tol;
      }
    }
  }
}

// The kernel declines: the result is the AVX-512 table's, bit for bit.
void expect_falls_back(const Case& c) {
  const Operands in = make_operands(c);
  EXPECT_TRUE(matmul(kIsa, 2, c, in.x, in.q).bit_equal(matmul("avx512", 2, c, in.x, in.q)))
      << describe(c);
}

// Each test runs with the AMX tiles (where the CPU and OS offer them) and with vdpbf16ps
// (forced where this CPU would not choose it, being slower than float32 FMAs).
class Bf16Matmul : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!isa_supported(kIsa)) GTEST_SKIP() << "this CPU has no AVX512-BF16";
    if (GetParam() && !kernels::avx512_bf16::amx_usable()) GTEST_SKIP() << "no AMX here";
    kernels::avx512_bf16::allow_amx(GetParam());
    kernels::avx512_bf16::force_vector_bf16(!GetParam());
  }
  void TearDown() override {
    kernels::avx512_bf16::allow_amx(true);
    kernels::avx512_bf16::force_vector_bf16(false);
  }
};

TEST_P(Bf16Matmul, EveryFormat) {
  for (int bits : kBits) {
    for (int gs : kGroupSizes) {
      for (Dtype scale_dtype : kFloatTypes) {
        // K of 5 groups: a partial k-block for every group size.
        expect_agrees({33, 5 * gs, 100, true, bits, gs, Dtype::bfloat16, scale_dtype});
      }
    }
  }
}

TEST_P(Bf16Matmul, RowCountsAndDepths) {
  for (std::int64_t M : {17, 33, 100, 512}) {
    for (std::int64_t K : {64, 320, 4096}) {
      expect_agrees({M, K, 100, true, 4, 64, Dtype::bfloat16, kFloatTypes[M % 3]});
    }
  }
}

TEST_P(Bf16Matmul, BfloatPrecisionRoundsFloatX) {
  for (Dtype x_dtype : {Dtype::float32, Dtype::float16}) {
    for (int bits : {3, 4, 8}) {
      expect_agrees(
          {40, 320, 100, true, bits, 64, x_dtype, Dtype::float32, MatmulPrecision::bfloat16});
      // Groups along N round the weights; an odd K leaves half a pair.
      expect_agrees(
          {40, 101, 128, false, bits, 64, x_dtype, Dtype::bfloat16, MatmulPrecision::bfloat16});
      expect_agrees(
          {100, 600, 256, false, bits, 32, x_dtype, Dtype::float16, MatmulPrecision::bfloat16});
    }
  }
  // bfloat16 x with groups along N rounds only the weights.
  expect_agrees(
      {33, 320, 128, false, 4, 64, Dtype::bfloat16, Dtype::bfloat16, MatmulPrecision::bfloat16});
}

TEST_P(Bf16Matmul, DeclinesWhatItCannotDoExactly) {
  for (Dtype x_dtype : {Dtype::float32, Dtype::float16}) {
    expect_falls_back({33, 320, 100, true, 4, 64, x_dtype, Dtype::float32});
  }
  expect_falls_back({33, 320, 128, false, 4, 64, Dtype::bfloat16, Dtype::bfloat16});
  expect_falls_back({16, 320, 100, true, 4, 64, Dtype::bfloat16, Dtype::bfloat16});
}

TEST_P(Bf16Matmul, RowsDoNotDependOnTheirCompany) {
  const Case all{512, 320, 100, true, 4, 64, Dtype::bfloat16, Dtype::float32};
  const Operands in = make_operands(all);
  const std::vector<float> y = matmul(kIsa, 2, all, in.x, in.q).to_floats();
  const std::vector<float> xs = in.x.to_floats();
  for (std::int64_t M : {17, 100}) {
    const Tensor x = Tensor::from_floats({M, all.K}, Dtype::bfloat16,
                                         std::span<const float>(xs.data(), M * all.K));
    const std::vector<float> part = matmul(kIsa, 2, all, x, in.q).to_floats();
    EXPECT_TRUE(std::equal(part.begin(), part.end(), y.begin())) << "first " << M << " rows";
  }
}

// Without AMX the vdpbf16ps path runs only where it multiplies faster than float32 FMAs
// (measured: about 0.5x on Intel's cores, 2x on AMD Zen 4/5); elsewhere the table hands
// bfloat16 x, and the bfloat16 precision, to the exact AVX-512 kernels.
TEST(Bf16Selection, VectorPathOnlyWhereItIsFaster) {
  if (!isa_supported(kIsa)) GTEST_SKIP() << "this CPU has no AVX512-BF16";
  const double speedup = kernels::avx512_bf16::vector_bf16_speedup();
  ASSERT_TRUE(speedup > 0.1 && speedup < 10.0) << "vdpbf16ps / FMA rate " << speedup;
  EXPECT_EQ(speedup, kernels::avx512_bf16::vector_bf16_speedup()) << "measured once";
  kernels::avx512_bf16::allow_amx(false);
  const Case cases[] = {
      {33, 320, 100, true, 4, 64, Dtype::bfloat16, Dtype::float32},
      {40, 320, 100, true, 4, 64, Dtype::float32, Dtype::float32, MatmulPrecision::bfloat16},
      {40, 101, 128, false, 4, 64, Dtype::float16, Dtype::bfloat16, MatmulPrecision::bfloat16}};
  for (const Case& c : cases) {
    if (speedup > 1.0) {
      expect_agrees(c);
    } else {
      expect_falls_back(c);
    }
  }
  kernels::avx512_bf16::allow_amx(true);
}

INSTANTIATE_TEST_SUITE_P(Tiles, Bf16Matmul, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "amx" : "vdpbf16ps"; });

}  // namespace
}  // namespace qlinear
