// MatmulPrecision::int8 on the avx512_bf16 kernels (docs/kernels.md, "int8 activations"):
// against a scalar model of its definition, against the exact path within the error the
// quantization of x allows, bit-identical for any thread count and row count and with AMX
// tiles or vpdpbusd, and never used unless asked for.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/random.h"
#include "kernels/isa.h"
#if defined(__x86_64__)
#include "kernels/x86/bf16_units.h"  // x86 only: the AMX switch
#endif
#include "qlinear/ops.h"
#include "qlinear/runtime.h"

namespace qlinear {
namespace {

using testing::isa_supported;
using testing::random_normal;
using testing::unit_roundoff;
using testing::with_isa;

constexpr char kIsa[] = "avx512_bf16";
// Every affine width of the catalogue.
constexpr auto& kBits = modes::kAffineBits;
constexpr int kGroupSizes[] = {32, 64, 128};
constexpr Dtype kFloatTypes[] = {Dtype::float32, Dtype::float16, Dtype::bfloat16};

class Int8Matmul : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!isa_supported(kIsa)) GTEST_SKIP() << "this CPU lacks AVX512-BF16/VNNI/VBMI";
  }
};

struct Case {
  std::int64_t M, K, N;
  int bits, gs;
  Dtype x_dtype = Dtype::float32, scale_dtype = Dtype::float32;
  bool transpose = true;
  std::string mode = "affine";

  std::string name() const {
    return mode + " M=" + std::to_string(M) + " K=" + std::to_string(K) +
           " N=" + std::to_string(N) + " bits=" + std::to_string(bits) +
           " gs=" + std::to_string(gs) + " x=" + std::string(name_of(x_dtype)) +
           " scales=" + std::string(name_of(scale_dtype)) +
           " transpose=" + std::to_string(transpose);
  }
};

struct Inputs {
  Tensor x;
  Quantized q;
};

Inputs make_inputs(const Case& c, std::uint32_t seed) {
  const Shape w_shape = c.transpose ? Shape{c.N, c.K} : Shape{c.K, c.N};
  const Tensor w = random_normal(w_shape, c.scale_dtype, seed);
  return {random_normal({c.M, c.K}, c.x_dtype, seed + 1),
          with_isa("scalar", 1, [&] { return quantize(w, c.gs, c.bits, c.mode); })};
}

Tensor matmul(const Inputs& in, const Case& c, MatmulPrecision precision, int threads,
              const std::string& isa = kIsa) {
  set_matmul_precision(precision);
  const Tensor y = with_isa(isa, threads, [&] {
    return quantized_matmul(in.x, in.q.wq, in.q.scales, in.q.biases, c.transpose, c.gs, c.bits,
                            c.mode);
  });
  set_matmul_precision(MatmulPrecision::exact);
  return y;
}

// The definition, per row r and group g of a transposed W (N, K):
//   d = max|x[r, g]| / 127 (float32), xq = rint(x / d) clamped to +-127 (0 if d == 0),
//   y[r, n] = sum_g s[n, g] d idot[r, n, g] + b[n, g] d sum(xq[r, g])   (= (d xq) . w_hat)
// here with exact integer dots and double sums. `bound` is what float32 arithmetic may
// add: the rounding of s*d and d*sum, of 2 multiply-adds per group (each at most u times
// the sum of the terms' magnitudes), plus the output dtype's rounding.
struct Model {
  std::vector<double> y, bound;
  std::vector<double> quantization_error;  // sum_k |x - d xq| |w_hat|: x's rounding
};

// Row r of x quantized per group as the definition says: xq, d, d * sum(xq) and each
// code's rounding |x - d xq|.
struct RowCodes {
  std::vector<float> xq, d;
  std::vector<double> sum, rounding;
};

RowCodes quantize_row(const std::vector<float>& x, std::int64_t r, const Case& c) {
  const std::int64_t G = c.K / c.gs;
  RowCodes q{std::vector<float>(c.K), std::vector<float>(G), std::vector<double>(G),
             std::vector<double>(c.K)};
  for (std::int64_t g = 0; g < G; ++g) {
    float max_abs = 0.0f;
    for (int j = 0; j < c.gs; ++j)
      max_abs = std::max(max_abs, std::fabs(x[r * c.K + g * c.gs + j]));
    q.d[g] = max_abs / 127.0f;
    for (int j = 0; j < c.gs; ++j) {
      const float v = x[r * c.K + g * c.gs + j];
      const float code =
          q.d[g] == 0.0f ? 0.0f : std::clamp(std::nearbyint(v / q.d[g]), -127.0f, 127.0f);
      q.xq[g * c.gs + j] = code;
      q.sum[g] += static_cast<double>(q.d[g]) * code;
      q.rounding[g * c.gs + j] = std::fabs(v - static_cast<double>(q.d[g]) * code);
    }
  }
  return q;
}

// One output element's chain: per group a scaled dot product and a bias term, and the
// bound float32 puts on their sum (2 G + 1 roundings of the terms' magnitudes, the
// rounding of d * sum in the bias terms, and the output dtype's).
struct Chain {
  double y = 0.0, terms = 0.0, sums_error = 0.0;
  void add(double scaled, double bias) {
    y += scaled + bias;
    terms += std::fabs(scaled) + std::fabs(bias);
    sums_error += std::fabs(bias) * 0x1p-24;
  }
  void store(Model& m, std::size_t i, std::int64_t groups, double u_out, double q_error) const {
    m.y[i] = y;
    m.bound[i] =
        1.01 * ((2 * groups + 1) * 0x1p-24 * terms + sums_error) + 2 * u_out * std::fabs(y);
    m.quantization_error[i] = q_error;
  }
};

Model model(const Inputs& in, const Case& c, Dtype out_dtype) {
  const std::vector<float> x = in.x.to_floats();
  const std::vector<float> s = in.q.scales.to_floats();
  const std::vector<float> b = in.q.biases->to_floats();
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(in.q.wq.data());
  const std::int64_t G = c.K / c.gs, row_bytes = c.K * c.bits / 8;
  auto code = [&](std::int64_t n, std::int64_t k) {
    const std::int64_t bit = k * c.bits;
    const std::uint8_t* p = bytes + n * row_bytes + bit / 8;
    const unsigned two = p[0] | (bit / 8 + 1 < row_bytes ? p[1] << 8 : 0);
    return static_cast<std::int64_t>((two >> (bit % 8)) & ((1u << c.bits) - 1));
  };
  const double u_out = out_dtype == Dtype::float32 ? 0.0 : unit_roundoff(out_dtype);
  Model m{std::vector<double>(c.M * c.N), std::vector<double>(c.M * c.N),
          std::vector<double>(c.M * c.N)};
  for (std::int64_t r = 0; r < c.M; ++r) {
    const auto [xq, d, sum, rounding] = quantize_row(x, r, c);
    for (std::int64_t n = 0; n < c.N; ++n) {
      Chain chain;
      double q_error = 0.0;
      for (std::int64_t g = 0; g < G; ++g) {
        const double sg = s[n * G + g], bg = b[n * G + g];
        std::int64_t idot = 0;
        for (int j = 0; j < c.gs; ++j) {
          const std::int64_t q = code(n, g * c.gs + j);
          idot += static_cast<std::int64_t>(xq[g * c.gs + j]) * q;
          q_error += rounding[g * c.gs + j] * std::fabs(sg * static_cast<double>(q) + bg);
        }
        chain.add(sg * d[g] * static_cast<double>(idot), bg * sum[g]);
      }
      chain.store(m, r * c.N + n, G, u_out, q_error);
    }
  }
  return m;
}

// mxfp4 and nvfp4 as the kernels compute them: the code 2 v + 12 with scale s / 2 and bias
// -6 s (w_hat = v s, dequantized to float32, where v s is exact), per group
//   y[r, n] += s / 2 d idot + (-6 s) d sum(xq),   idot = xq . (2 v + 12);
// s comes from dequantizing codes of 1.0 with the same scales. The bound is the affine
// model's for that chain.
Model fp4_model(const Inputs& in, const Case& c, Dtype out_dtype) {
  const std::vector<float> x = in.x.to_floats();
  const auto dequantized = [&](const Tensor& wq) {
    return dequantize(wq, in.q.scales, std::nullopt, c.gs, c.bits, c.mode, Dtype::float32)
        .to_floats();
  };
  const std::vector<float> w = dequantized(in.q.wq);
  constexpr std::uint8_t kOnes = 0x22;  // two E2M1 codes of 1.0
  const std::vector<std::uint8_t> ones(in.q.wq.size() * size_of(in.q.wq.dtype()), kOnes);
  const std::vector<float> s =
      dequantized(Tensor::copy_of(in.q.wq.shape(), in.q.wq.dtype(), ones.data()));
  const std::int64_t G = c.K / c.gs;
  const double u_out = out_dtype == Dtype::float32 ? 0.0 : unit_roundoff(out_dtype);
  Model m{std::vector<double>(c.M * c.N), std::vector<double>(c.M * c.N),
          std::vector<double>(c.M * c.N)};
  for (std::int64_t r = 0; r < c.M; ++r) {
    const RowCodes q = quantize_row(x, r, c);
    for (std::int64_t n = 0; n < c.N; ++n) {
      Chain chain;
      double q_error = 0.0;
      for (std::int64_t g = 0; g < G; ++g) {
        const double sg = s[n * c.K + g * c.gs];
        double idot = 0.0;
        for (int j = 0; j < c.gs; ++j) {
          const std::int64_t k = g * c.gs + j;
          idot += static_cast<double>(q.xq[k]) * (2.0 * w[n * c.K + k] / sg + 12.0);
          q_error += q.rounding[k] * std::fabs(w[n * c.K + k]);
        }
        chain.add(sg / 2 * q.d[g] * idot, -6.0 * sg * q.sum[g]);
      }
      chain.store(m, r * c.N + n, G, u_out, q_error);
    }
  }
  return m;
}

Model model_of(const Inputs& in, const Case& c, Dtype out_dtype) {
  return c.mode == "affine" ? model(in, c, out_dtype) : fp4_model(in, c, out_dtype);
}

// mxfp4's groups of 32 and nvfp4's of 16 (its global scale, a dequantize-only factor,
// plays no part in quantized_matmul).
Case fp4_case(std::string mode, std::int64_t M, std::int64_t K, std::int64_t N,
              Dtype x_dtype = Dtype::float32) {
  return {M, K, N, 4, mode == "nvfp4" ? 16 : 32, x_dtype, Dtype::float32, true, std::move(mode)};
}

constexpr const char* kFp4Modes[] = {"mxfp4", "nvfp4"};
// The rows of x the int8 kernels take FP4 W for (one or two rows, and nvfp4 past 64, go to
// the exact path), and the most that take the lane kernel (int8_fp4.h; mxfp4 then the panels,
// whose float chain rounds differently).
constexpr std::int64_t kFp4MinRows = 3;
std::int64_t fp4_max_rows(const std::string& mode) {
  return mode == "nvfp4" ? 64 : std::numeric_limits<std::int64_t>::max();
}
std::int64_t fp4_lane_rows(const std::string& mode) {
  return mode == "nvfp4" ? 64 : 8;
}

void expect_matches_model(const Case& c) {
  const Inputs in =
      make_inputs(c, static_cast<std::uint32_t>(c.M * 131 + c.K * 7 + c.bits * 3 + c.gs));
  const Tensor y = matmul(in, c, MatmulPrecision::int8, 2);
  const Model m = model_of(in, c, y.dtype());
  const std::vector<float> got = y.to_floats();
  int failures = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(got[i] - m.y[i]);
    if (!(err <= m.bound[i]) && failures++ < 5) {
      ADD_FAILURE() << c.name() << " at " << i << ": got " << got[i] << " model " << m.y[i]
                    << " error " << err << " > " << m.bound[i];
    }
  }
}

TEST_F(Int8Matmul, MatchesDefinitionEveryFormat) {
  int i = 0;
  for (int bits : kBits) {
    for (int gs : kGroupSizes) {
      for (std::int64_t K : {64, 320, 4096}) {
        if (K % gs != 0) continue;
        for (std::int64_t M : {1, 9}) {
          // Every pairing of x and scale dtypes comes round as the loops go.
          ++i;
          expect_matches_model({M, K, 100, bits, gs, kFloatTypes[i % 3], kFloatTypes[i / 3 % 3]});
        }
      }
    }
  }
}

TEST_F(Int8Matmul, MatchesDefinitionEveryRowCountAndDtype) {
  for (std::int64_t M : {1, 3, 8, 9, 33, 512}) {
    for (Dtype x_dtype : kFloatTypes) {
      for (Dtype scale_dtype : kFloatTypes) {
        if (M == 512 && x_dtype != scale_dtype) continue;  // the row count is what matters
        expect_matches_model({M, 320, 100, 4, 64, x_dtype, scale_dtype});
      }
    }
  }
}

// K = 320 leaves a block of 16 groups part-filled; mxfp4 from 9 rows on takes the panels
// (AMX tiles where K allows).
TEST_F(Int8Matmul, Fp4MatchesDefinition) {
  for (const char* mode : kFp4Modes) {
    for (std::int64_t K : {64, 320, 4096}) {
      for (std::int64_t M : {3, 4, 8, 9, 17, 100}) {
        if (M <= fp4_max_rows(mode)) expect_matches_model(fp4_case(mode, M, K, 100));
      }
    }
    for (Dtype x_dtype : {Dtype::float16, Dtype::bfloat16})
      expect_matches_model(fp4_case(mode, 5, 512, 40, x_dtype));
  }
}

// The rounding of x, sum_k |x - d xq| |w_hat| <= sum_g d/2 sum_k |w_hat| (documented),
// bounds the distance from the exact path, with both paths' float32 rounding on top.
void expect_within_quantization_error(const Case& c) {
  const Inputs in = make_inputs(c, static_cast<std::uint32_t>(c.bits * 17 + c.gs + c.M));
  const Model m = model_of(in, c, Dtype::float32);
  const std::vector<float> fast = matmul(in, c, MatmulPrecision::int8, 1).to_floats();
  const std::vector<float> exact = matmul(in, c, MatmulPrecision::exact, 1).to_floats();
  for (std::size_t i = 0; i < fast.size(); ++i) {
    const double tol = m.quantization_error[i] + 2 * m.bound[i] + 1e-6 * std::fabs(m.y[i]);
    ASSERT_LE(std::fabs(fast[i] - exact[i]), tol) << c.name() << " at " << i;
  }
}

TEST_F(Int8Matmul, WithinQuantizationErrorOfExactPath) {
  for (std::int64_t M : {1, 33}) {
    for (int bits : {2, 4, 8}) {
      for (int gs : kGroupSizes) expect_within_quantization_error({M, 512, 100, bits, gs});
    }
  }
  for (const char* mode : kFp4Modes) {
    expect_within_quantization_error(
        fp4_case(mode, std::min<std::int64_t>(33, fp4_max_rows(mode)), 512, 100));
  }
}

// Row counts outside fp4_max_rows get the exact path's bits.
TEST_F(Int8Matmul, Fp4RowCountsThatStayExact) {
  for (const char* mode : kFp4Modes) {
    for (std::int64_t M : {1, 2, 3, 8, 9, 65}) {
      const Case c = fp4_case(mode, M, 256, 40);
      const Inputs in = make_inputs(c, 13u);
      const bool exact = M < kFp4MinRows || M > fp4_max_rows(mode);
      EXPECT_EQ(matmul(in, c, MatmulPrecision::int8, 2)
                    .bit_equal(matmul(in, c, MatmulPrecision::exact, 2)),
                exact)
          << c.name();
    }
  }
}

// Rows alone or in twos to eights are compared where they take the batch's kernel: from
// `min_rows` (FP4: 3) to `max_rows`.
void expect_bit_identical_for_any_thread_and_row_count(const Case& c, std::int64_t min_rows = 1,
                                                       std::int64_t max_rows = 8) {
  const Inputs in = make_inputs(c, 5u + c.bits + c.gs);
  const Tensor y1 = matmul(in, c, MatmulPrecision::int8, 1);
  EXPECT_TRUE(y1.bit_equal(matmul(in, c, MatmulPrecision::int8, 2))) << c.name();
  EXPECT_TRUE(y1.bit_equal(matmul(in, c, MatmulPrecision::int8, 3))) << c.name();
  // Rows alone and in twos to eights (the few-rows kernels) give the same bits as in
  // the batch.
  const std::vector<float> batch = y1.to_floats();
  const std::vector<float> xs = in.x.to_floats();
  for (auto [first, rows] : {std::pair<std::int64_t, std::int64_t>{0, 1},
                             {7, 1},
                             {32, 1},
                             {7, 2},
                             {30, 3},
                             {0, 4},
                             {28, 5},
                             {9, 6},
                             {25, 8}}) {
    if (rows < min_rows || rows > max_rows || first + rows > c.M) continue;
    Inputs part{Tensor::from_floats({rows, c.K}, c.x_dtype,
                                    std::vector<float>(xs.begin() + first * c.K,
                                                       xs.begin() + (first + rows) * c.K)),
                in.q};
    Case some = c;
    some.M = rows;
    const std::vector<float> got = matmul(part, some, MatmulPrecision::int8, 2).to_floats();
    EXPECT_TRUE(std::equal(got.begin(), got.end(), batch.begin() + first * c.N))
        << c.name() << " rows " << first << " + " << rows;
  }
}

TEST_F(Int8Matmul, BitIdenticalForAnyThreadAndRowCount) {
  // 1 to 6 bits and FP4 have their own few-rows kernel; K leaves a block of groups
  // part-filled.
  for (int bits : {1, 2, 3, 4, 5, 6, 8}) {
    for (int gs : kGroupSizes) {
      expect_bit_identical_for_any_thread_and_row_count(
          {33, 1024 + 3 * gs, 100, bits, gs, Dtype::bfloat16, Dtype::float16});
    }
  }
  // FP4: the lane kernel's rows against its own batch (nvfp4 33 rows, mxfp4 8); mxfp4's 33
  // rows (the panels) for thread counts only.
  for (const char* mode : kFp4Modes) {
    const std::int64_t lane_rows = std::min<std::int64_t>(33, fp4_lane_rows(mode));
    expect_bit_identical_for_any_thread_and_row_count(
        fp4_case(mode, lane_rows, 1024 + 3 * 32, 100, Dtype::bfloat16), kFp4MinRows);
  }
  expect_bit_identical_for_any_thread_and_row_count(
      fp4_case("mxfp4", 33, 1024 + 3 * 32, 100, Dtype::bfloat16), kFp4MinRows, 0);
  // ... which differ in rounding from the lane kernel's: 9 rows are not the 8-row bits.
  const Case nine = fp4_case("mxfp4", 9, 1024, 100);
  const Inputs in = make_inputs(nine, 17u);
  const std::vector<float> xs = in.x.to_floats();
  Case eight = nine;
  eight.M = 8;
  const Inputs first{Tensor::from_floats({8, nine.K}, nine.x_dtype,
                                         std::vector<float>(xs.begin(), xs.begin() + 8 * nine.K)),
                     in.q};
  const std::vector<float> panels = matmul(in, nine, MatmulPrecision::int8, 2).to_floats();
  const std::vector<float> lanes = matmul(first, eight, MatmulPrecision::int8, 2).to_floats();
  EXPECT_FALSE(std::equal(lanes.begin(), lanes.end(), panels.begin()));
}

#if defined(__x86_64__)
// Many rows run on AMX tiles where the CPU has AMX-INT8 (K a multiple of 64), else on
// vpdpbusd; both must give the same bits. allow_amx(false) selects vpdpbusd.
class Int8MatmulAmx : public Int8Matmul {
 protected:
  void SetUp() override {
    Int8Matmul::SetUp();
    if (IsSkipped()) return;
    if (!kernels::avx512_bf16::amx_usable()) GTEST_SKIP() << "no AMX here";
  }
  void TearDown() override { kernels::avx512_bf16::allow_amx(true); }

  static void expect_amx_equals_vnni(const Case& c) {
    const Inputs in =
        make_inputs(c, static_cast<std::uint32_t>(c.M * 7 + c.N * 5 + c.bits * 3 + c.gs));
    for (int threads : {1, 2}) {
      kernels::avx512_bf16::allow_amx(false);
      const Tensor vnni = matmul(in, c, MatmulPrecision::int8, threads);
      kernels::avx512_bf16::allow_amx(true);
      const Tensor amx = matmul(in, c, MatmulPrecision::int8, threads);
      EXPECT_TRUE(amx.bit_equal(vnni)) << c.name() << " threads=" << threads;
    }
  }
};

TEST_F(Int8MatmulAmx, BitIdenticalToVnniEveryFormat) {
  for (int bits : kBits) {
    for (int gs : kGroupSizes) {
      // Several groups; for groups of 32 also K = 7 * 32, which AMX leaves to vpdpbusd.
      for (std::int64_t K : {gs == 128 ? 384 : 320, gs == 32 ? 224 : 4 * gs}) {
        for (std::int64_t M : {9, 33, 64, 100}) {
          for (std::int64_t N : {200, 64}) expect_amx_equals_vnni({M, K, N, bits, gs});
        }
      }
    }
  }
}

TEST_F(Int8MatmulAmx, BitIdenticalToVnniMxfp4) {
  for (std::int64_t M : {9, 33, 100}) {
    for (Dtype x_dtype : kFloatTypes)
      expect_amx_equals_vnni(fp4_case("mxfp4", M, 320 + 64, 200, x_dtype));
  }
}

TEST_F(Int8MatmulAmx, BitIdenticalToVnniEveryDtype) {
  for (Dtype x_dtype : kFloatTypes) {
    for (Dtype scale_dtype : kFloatTypes) {
      expect_amx_equals_vnni({40, 1024, 200, 4, 64, x_dtype, scale_dtype});
      expect_amx_equals_vnni({512, 256, 72, 5, 128, x_dtype, scale_dtype});
    }
  }
}
#endif  // __x86_64__

// Without the setting the results are the AVX-512 kernels' bit for bit (bfloat16 x is left
// out: avx512_bf16 has its own exact kernel for it). Untransposed W, which the int8 path
// declines, gets what MatmulPrecision::bfloat16 gets (int8 permits that rounding too).
TEST_F(Int8Matmul, ExactUnlessAskedAndUntransposedFallsBack) {
  for (Dtype x_dtype : {Dtype::float32, Dtype::float16}) {
    for (std::int64_t M : {1, 33}) {
      const Case c{M, 256, 100, 4, 64, x_dtype};
      const Inputs in = make_inputs(c, 3u);
      const Tensor plain = matmul(in, c, MatmulPrecision::exact, 2, "avx512");
      EXPECT_TRUE(matmul(in, c, MatmulPrecision::exact, 2).bit_equal(plain)) << c.name();
      Case untransposed = c;
      untransposed.transpose = false;
      untransposed.N = 128;
      const Inputs in_t = make_inputs(untransposed, 4u);
      EXPECT_TRUE(matmul(in_t, untransposed, MatmulPrecision::int8, 2)
                      .bit_equal(matmul(in_t, untransposed, MatmulPrecision::bfloat16, 2)))
          << untransposed.name();
    }
  }
}

TEST_F(Int8Matmul, ZeroRowsAndOneHugeValue) {
  const Case c{4, 256, 100, 4, 64};
  Inputs in = make_inputs(c, 9u);
  std::vector<float> xs = in.x.to_floats();
  std::fill(xs.begin(), xs.begin() + c.K, 0.0f);                     // row 0: zeros
  xs[c.K + 5] = 1e30f;                                               // row 1: one huge value
  std::fill(xs.begin() + 2 * c.K, xs.begin() + 2 * c.K + 64, 0.0f);  // row 2: a zero group
  xs[3 * c.K + 70] = 1e-44f;                                         // row 3: d underflows to 0
  std::fill(xs.begin() + 3 * c.K + 64, xs.begin() + 3 * c.K + 70, 0.0f);
  std::fill(xs.begin() + 3 * c.K + 71, xs.begin() + 3 * c.K + 128, 0.0f);
  in.x = Tensor::from_floats({c.M, c.K}, c.x_dtype, xs);
  const Tensor y = matmul(in, c, MatmulPrecision::int8, 2);
  const std::vector<float> got = y.to_floats();
  for (std::int64_t n = 0; n < c.N; ++n) ASSERT_EQ(got[n], 0.0f) << "zero row, column " << n;
  const Model m = model(in, c, y.dtype());
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << i;
    ASSERT_LE(std::fabs(got[i] - m.y[i]), m.bound[i]) << i;
  }
}

// MoE experts in mxfp4 (gpt-oss's) under int8: gather_qmm gives each pair the bits that
// quantized_matmul gives the rows routed to its expert (3 each: the int8 kernel).
TEST_F(Int8Matmul, Fp4GatherQmmTakesTheSameKernelPerExpert) {
  constexpr std::int64_t kTokens = 6, kExperts = 3, K = 256, N = 40;
  const Tensor w = random_normal({kExperts, N, K}, Dtype::float32, 21u);
  const Quantized q = with_isa("scalar", 1, [&] { return quantize(w, 32, 4, "mxfp4"); });
  const Tensor x = random_normal({kTokens, 1, K}, Dtype::float32, 22u);
  const std::uint32_t experts[kTokens] = {0, 0, 2, 0, 2, 2};
  const Tensor rhs = Tensor::from_values<std::uint32_t>({kTokens}, Dtype::uint32, experts);
  set_matmul_precision(MatmulPrecision::int8);
  const std::vector<float> got =
      with_isa(kIsa, 2, [&] {
        return gather_qmm(x, q.wq, q.scales, std::nullopt, std::nullopt, rhs, true, 32, 4, "mxfp4");
      }).to_floats();
  const std::vector<float> xs = x.to_floats();
  for (std::uint32_t e : {0u, 2u}) {
    std::vector<float> rows;
    std::vector<std::int64_t> tokens;
    for (std::int64_t t = 0; t < kTokens; ++t) {
      if (experts[t] != e) continue;
      tokens.push_back(t);
      rows.insert(rows.end(), xs.begin() + t * K, xs.begin() + (t + 1) * K);
    }
    const std::int64_t packed = q.wq.shape().back(), groups = q.scales.shape().back();
    const Tensor expert_w = Tensor::copy_of(
        {N, packed}, q.wq.dtype(),
        static_cast<const char*>(q.wq.data()) + e * N * packed * size_of(q.wq.dtype()));
    const Tensor expert_s =
        Tensor::copy_of({N, groups}, Dtype::uint8,
                        static_cast<const std::uint8_t*>(q.scales.data()) + e * N * groups);
    const std::vector<float> want =
        with_isa(kIsa, 1, [&] {
          return quantized_matmul(Tensor::from_floats({static_cast<std::int64_t>(tokens.size()), K},
                                                      Dtype::float32, rows),
                                  expert_w, expert_s, std::nullopt, true, 32, 4, "mxfp4");
        }).to_floats();
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      EXPECT_TRUE(
          std::equal(want.begin() + i * N, want.begin() + (i + 1) * N, got.begin() + tokens[i] * N))
          << "expert " << e << " token " << tokens[i];
    }
  }
  set_matmul_precision(MatmulPrecision::exact);
}

// mxfp4's scale byte 255 (+infinity, as MLX decodes it) makes its column NaN in every row,
// as on the exact path, and touches no other column; nvfp4's 0x7F (OCP's NaN pattern,
// 480 in MLX) is a large finite scale. A zero row of x gives zeros elsewhere.
void expect_special_scales_and_zero_row(const Case& c) {
  Inputs in = make_inputs(c, 11u);
  std::vector<std::uint8_t> scales(in.q.scales.size());
  std::memcpy(scales.data(), in.q.scales.data(), scales.size());
  const std::int64_t column = 5, groups = c.K / c.gs;
  scales[column * groups + 2] = c.mode == "mxfp4" ? 0xFF : 0x7F;
  in.q.scales = Tensor::copy_of(in.q.scales.shape(), Dtype::uint8, scales.data());
  std::vector<float> xs = in.x.to_floats();
  std::fill(xs.begin(), xs.begin() + c.K, 0.0f);
  in.x = Tensor::from_floats({c.M, c.K}, c.x_dtype, xs);
  const std::vector<float> got = matmul(in, c, MatmulPrecision::int8, 2).to_floats();
  const std::vector<float> exact = matmul(in, c, MatmulPrecision::exact, 2).to_floats();
  const Model m = fp4_model(in, c, Dtype::float32);
  for (std::int64_t r = 0; r < c.M; ++r) {
    for (std::int64_t n = 0; n < c.N; ++n) {
      const std::size_t i = r * c.N + n;
      if (n == column && c.mode == "mxfp4") {
        EXPECT_TRUE(std::isnan(got[i]) && std::isnan(exact[i])) << c.name() << " row " << r;
      } else if (r == 0) {
        EXPECT_EQ(got[i], 0.0f) << c.name() << " column " << n;
      } else {
        EXPECT_LE(std::fabs(got[i] - m.y[i]), m.bound[i]) << c.name() << " at " << i;
      }
    }
  }
}

TEST_F(Int8Matmul, Fp4SpecialScalesAndZeroRow) {
  for (const char* mode : kFp4Modes) expect_special_scales_and_zero_row(fp4_case(mode, 3, 256, 40));
  expect_special_scales_and_zero_row(fp4_case("mxfp4", 20, 256, 40));  // the panels
}

// The figures of docs/kernels.md: normal x with a few outlier columns (20 sigma), normal
// weights; error of int8 against exact, relative to the largest |y|, and RMS relative.
void print_error_on_realistic_data(const Case& c) {
  Inputs in = make_inputs(c, static_cast<std::uint32_t>(100 + c.bits * 7 + c.gs));
  std::vector<float> xs = in.x.to_floats();
  for (std::int64_t r = 0; r < c.M; ++r) {
    for (std::int64_t k : {17, 1000, 2222, 4000}) xs[r * c.K + k] *= 20.0f;
  }
  in.x = Tensor::from_floats({c.M, c.K}, c.x_dtype, xs);
  const std::vector<float> fast = matmul(in, c, MatmulPrecision::int8, 2).to_floats();
  const std::vector<float> exact = matmul(in, c, MatmulPrecision::exact, 2).to_floats();
  double max_err = 0, max_y = 0, err2 = 0, y2 = 0;
  for (std::size_t i = 0; i < fast.size(); ++i) {
    const double e = fast[i] - exact[i];
    max_err = std::max(max_err, std::fabs(e));
    max_y = std::max(max_y, std::fabs(static_cast<double>(exact[i])));
    err2 += e * e;
    y2 += static_cast<double>(exact[i]) * exact[i];
  }
  std::printf("%6s %4d %5d  %14.2e  %14.2e\n", c.mode.c_str(), c.bits, c.gs, max_err / max_y,
              std::sqrt(err2 / y2));
  EXPECT_LT(std::sqrt(err2 / y2), 0.03) << c.name();
}

TEST_F(Int8Matmul, ErrorOnRealisticData) {
  std::printf("  mode bits group  max|dy|/max|y|  rms(dy)/rms(y)\n");
  for (int bits : {1, 2, 3, 4, 8}) {
    for (int gs : kGroupSizes) print_error_on_realistic_data({16, 4096, 256, bits, gs});
  }
  for (const char* mode : kFp4Modes) {
    print_error_on_realistic_data(
        fp4_case(mode, std::min<std::int64_t>(16, fp4_max_rows(mode)), 4096, 256));
  }
}

}  // namespace
}  // namespace qlinear
