// The float ops (RMSNorm, RoPE, softmax, attention, SiLU, Linear) on every instruction set
// against the scalar reference, within error bounds from the sums' lengths, and
// bit-identical for 1 and 2 threads; the reference against a double-precision evaluation
// of the definitions; and the ops' argument errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/random.h"
#include "kernels/isa.h"
#include "qlinear/float_ops.h"
#include "qlinear/runtime.h"

namespace qlinear {
namespace {

using testing::fast_isas;
using testing::random_normal;
using testing::with_isa;

constexpr double kU = 0x1p-24;  // float32 unit roundoff

// |fast - ref| <= bound[i] everywhere, and the fast result the same for 1 and 2 threads.
void expect_agreement(const std::string& isa, const std::function<Tensor()>& op,
                      const std::function<double(std::size_t)>& bound) {
  const Tensor ref = with_isa("scalar", 1, op);
  const Tensor one = with_isa(isa, 1, op);
  const Tensor two = with_isa(isa, 2, op);
  EXPECT_TRUE(one.bit_equal(two)) << isa << ": the result depends on the thread count";
  const std::vector<float> r = ref.to_floats(), f = one.to_floats();
  ASSERT_EQ(r.size(), f.size());
  for (std::size_t i = 0; i < r.size(); ++i) {
    ASSERT_LE(std::abs(double(f[i]) - r[i]), bound(i)) << isa << " element " << i;
  }
}

class FloatOps : public ::testing::TestWithParam<std::string> {};

TEST_P(FloatOps, LinearAgreesWithReference) {
  for (Dtype wdtype : {Dtype::float32, Dtype::float16, Dtype::bfloat16}) {
    for (auto [M, K, N] : {std::tuple{1, 67, 33}, {5, 128, 40}, {33, 257, 17}}) {
      const Tensor x = random_normal({M, K}, Dtype::float32, 1);
      const Tensor w = random_normal({N, K}, wdtype, 2);
      const Tensor b = random_normal({N}, Dtype::float32, 3);
      const std::vector<float> xs = x.to_floats(), ws = w.to_floats();
      expect_agreement(
          GetParam(), [&] { return linear(x, w, b); },
          [&](std::size_t i) {
            double abs_sum = 0;
            for (int k = 0; k < K; ++k) abs_sum += std::abs(xs[i / N * K + k] * ws[i % N * K + k]);
            return 2.0 * (K + 1) * kU * (abs_sum + 4.0);
          });
    }
  }
}

TEST_P(FloatOps, RmsNormSoftmaxSiluAgreeWithReference) {
  for (int dims : {1, 31, 64, 1000}) {
    const Tensor x = random_normal({3, dims}, Dtype::float32, 4, 3.0f);
    const Tensor w = random_normal({dims}, Dtype::float32, 5);
    const Tensor up = random_normal({3, dims}, Dtype::float32, 6);
    const std::vector<float> rn =
        with_isa("scalar", 1, [&] { return rms_norm(x, w, 1e-5f); }).to_floats();
    const std::vector<float> sm = with_isa("scalar", 1, [&] { return softmax(x); }).to_floats();
    const std::vector<float> sw = with_isa("scalar", 1, [&] { return swiglu(x, up); }).to_floats();
    const double n = dims + 8;
    expect_agreement(
        GetParam(), [&] { return rms_norm(x, w, 1e-5f); },
        [&](std::size_t i) { return 2 * n * kU * std::abs(rn[i]); });
    expect_agreement(
        GetParam(), [&] { return softmax(x); }, [&](std::size_t i) { return 2 * n * kU * sm[i]; });
    expect_agreement(
        GetParam(), [&] { return swiglu(x, up); },
        [&](std::size_t i) { return 4 * kU * std::abs(sw[i]); });
  }
}

// The vector exp behind softmax and SiLU over float32's whole range of e^x, against the
// definitions in double: a few units of roundoff relative, and e^x correctly rounded
// where it is subnormal or overflows (NaN stays NaN).
TEST_P(FloatOps, SoftmaxAndSiluHoldOverTheWholeRangeOfExp) {
  std::vector<float> ts;
  for (double t = -110; t <= 95; t += 0.0173) ts.push_back(static_cast<float>(t));
  const auto n = static_cast<std::int64_t>(ts.size());
  std::vector<float> pairs;  // softmax rows (0, t): weights 1 / (1 + e^t), e^t / (1 + e^t)
  for (float t : ts) pairs.insert(pairs.end(), {0.0f, t});
  const std::vector<float> sm =
      with_isa(GetParam(), 1, [&] {
        return softmax(Tensor::from_floats({n, 2}, Dtype::float32, pairs));
      }).to_floats();
  const std::vector<float> sl = with_isa(GetParam(), 1, [&] {
                                  return silu(Tensor::from_floats({n}, Dtype::float32, ts));
                                }).to_floats();
  constexpr double kSmallest = 0x1p-149;
  for (std::int64_t i = 0; i < n; ++i) {
    const double t = ts[i], e = std::exp(t);
    for (const auto& [got, want] :
         {std::pair{sm[2 * i], 1 / (1 + e)}, {sm[2 * i + 1], e / (1 + e)}}) {
      ASSERT_LE(std::abs(got - want), 8 * kU * want + kSmallest) << "softmax of (0, " << t << ")";
    }
    // Below t = -88.7, e^-t overflows in float32 and t / (1 + e^-t) is -0 (in the
    // reference too): off by at most 88.7 e^-88.7 < 3e-37.
    const double want = t / (1 + std::exp(-t));
    ASSERT_LE(std::abs(sl[i] - want), 8 * kU * std::abs(want) + 3e-37) << "silu(" << t << ")";
  }
  const float inf = INFINITY;
  const std::vector<float> special =
      with_isa(GetParam(), 1, [&] {
        return silu(
            Tensor::from_floats({4}, Dtype::float32, std::vector<float>{0.0f, inf, -inf, NAN}));
      }).to_floats();
  EXPECT_EQ(special[0], 0.0f);
  EXPECT_EQ(special[1], inf);
  EXPECT_TRUE(std::isnan(special[2]));  // -inf / (1 + inf), as the definition gives
  EXPECT_TRUE(std::isnan(special[3]));
}

TEST_P(FloatOps, RopeAgreesWithReference) {
  const Tensor x = random_normal({2, 3, 7, 20}, Dtype::float32, 7);
  const std::vector<float> xs = x.to_floats();
  for (bool traditional : {false, true}) {
    for (int dims : {20, 12}) {
      expect_agreement(
          GetParam(), [&] { return rope(x, dims, traditional, 10000.0f, 1.0f, 5); },
          [&](std::size_t i) {
            const std::size_t row = i / 20 * 20;
            double m = 0;
            for (int d = 0; d < 20; ++d) m = std::max(m, double(std::abs(xs[row + d])));
            return 4 * kU * m;
          });
    }
  }
}

TEST_P(FloatOps, AttentionAgreesWithReference) {
  for (auto [heads, kv_heads, Tq, Tk, D] :
       {std::tuple{4, 2, 1, 37, 64}, {6, 3, 9, 9, 20}, {2, 1, 5, 12, 128}}) {
    const Tensor q = random_normal({2, heads, Tq, D}, Dtype::float32, 8);
    const Tensor k = random_normal({2, kv_heads, Tk, D}, Dtype::float32, 9);
    const Tensor v = random_normal({2, kv_heads, Tk, D}, Dtype::float32, 10);
    const float scale = 1.0f / std::sqrt(float(D));
    // Score errors of 2 D u sum|q||k| scale move each weight by that factor; the weighted
    // sum of values adds Tk roundings.
    double max_qk = 0, max_v = 0;
    for (float a : q.to_floats()) max_qk = std::max(max_qk, double(std::abs(a)));
    for (float a : k.to_floats()) max_qk = std::max(max_qk, double(std::abs(a)));
    for (float a : v.to_floats()) max_v = std::max(max_v, double(std::abs(a)));
    const double score_error = 2.0 * D * kU * D * max_qk * max_qk * scale + 8 * Tk * kU;
    const double bound = (4 * score_error + 2 * (Tk + 2) * kU) * max_v;
    for (const char* mask : {"", "causal"}) {
      expect_agreement(
          GetParam(), [&] { return scaled_dot_product_attention(q, k, v, scale, mask); },
          [&](std::size_t) { return bound; });
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, FloatOps, ::testing::ValuesIn(fast_isas()),
                         [](const auto& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(FloatOps);

// The reference against the definitions, evaluated in double.
TEST(FloatOpsReference, AttentionIsCausalGroupedSoftmax) {
  const int heads = 4, kv_heads = 2, Tq = 3, Tk = 5, D = 8;
  const Tensor q = random_normal({1, heads, Tq, D}, Dtype::float32, 11);
  const Tensor k = random_normal({1, kv_heads, Tk, D}, Dtype::float32, 12);
  const Tensor v = random_normal({1, kv_heads, Tk, D}, Dtype::float32, 13);
  const std::vector<float> qs = q.to_floats(), ks = k.to_floats(), vs = v.to_floats();
  const std::vector<float> out = with_isa("scalar", 1, [&] {
                                   return scaled_dot_product_attention(q, k, v, 0.5f, "causal");
                                 }).to_floats();
  for (int h = 0; h < heads; ++h) {
    const int g = h / (heads / kv_heads);
    for (int i = 0; i < Tq; ++i) {
      std::vector<double> p;
      for (int j = 0; j <= i + Tk - Tq; ++j) {
        double s = 0;
        for (int d = 0; d < D; ++d)
          s += double(qs[(h * Tq + i) * D + d]) * ks[(g * Tk + j) * D + d];
        p.push_back(std::exp(0.5 * s));
      }
      double total = 0;
      for (double e : p) total += e;
      for (int d = 0; d < D; ++d) {
        double o = 0;
        for (std::size_t j = 0; j < p.size(); ++j) o += p[j] / total * vs[(g * Tk + j) * D + d];
        EXPECT_NEAR(out[(h * Tq + i) * D + d], o, 1e-5) << h << " " << i << " " << d;
      }
    }
  }
}

TEST(FloatOpsReference, RopeRotatesPairsByPositionTimesFrequency) {
  const Tensor x = random_normal({1, 4, 8}, Dtype::float32, 14);
  const std::vector<float> xs = x.to_floats();
  for (bool traditional : {false, true}) {
    const std::vector<float> out =
        with_isa("scalar", 1, [&] { return rope(x, 6, traditional, 100.0f, 0.5f, 3); }).to_floats();
    for (int t = 0; t < 4; ++t) {
      for (int i = 0; i < 3; ++i) {
        const double theta = (3 + t) * 0.5 * std::pow(100.0, -2.0 * i / 6);
        const int i0 = traditional ? 2 * i : i, i1 = traditional ? 2 * i + 1 : i + 3;
        const double x0 = xs[t * 8 + i0], x1 = xs[t * 8 + i1];
        EXPECT_NEAR(out[t * 8 + i0], x0 * std::cos(theta) - x1 * std::sin(theta), 1e-5);
        EXPECT_NEAR(out[t * 8 + i1], x0 * std::sin(theta) + x1 * std::cos(theta), 1e-5);
      }
      for (int d = 6; d < 8; ++d) EXPECT_EQ(out[t * 8 + d], xs[t * 8 + d]);
    }
  }
}

TEST(FloatOpsReference, RmsNormAndSiluFollowTheirDefinitions) {
  const std::vector<float> xs = {1.0f, -2.0f, 3.0f, 0.5f};
  const Tensor x = Tensor::from_floats({1, 4}, Dtype::float32, xs);
  const Tensor w = Tensor::from_floats({4}, Dtype::float32, std::vector<float>{1, 2, 3, 4});
  const std::vector<float> rn = rms_norm(x, w, 0.25f).to_floats();
  const double inv = 1 / std::sqrt((1 + 4 + 9 + 0.25) / 4 + 0.25);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(rn[i], xs[i] * inv * (i + 1), 1e-6);
  const std::vector<float> s = silu(x).to_floats();
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(s[i], xs[i] / (1 + std::exp(-double(xs[i]))), 1e-6);
}

void expect_error(const std::function<void()>& fn, const std::string& message) {
  try {
    fn();
    ADD_FAILURE() << "no error, expected: " << message;
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
}

TEST(FloatOpsErrors, NameTheOpAndTheValues) {
  const Tensor x = random_normal({2, 3, 8}, Dtype::float32, 1);
  const Tensor ids = Tensor::zeros({2, 3, 8}, Dtype::int32);
  expect_error([&] { rms_norm(x, random_normal({7}, Dtype::float32, 1), 1e-5f); },
               "[rms_norm] weight must have shape (8,) but has shape (7,).");
  expect_error([&] { rms_norm(ids, std::nullopt, 1e-5f); },
               "[rms_norm] Only float32, float16 and bfloat16 are supported for x but it has "
               "type int32.");
  expect_error([&] { rope(x, 9, false, 10000.0f, 1.0f, 0); },
               "[rope] dims must be even, positive and at most the last dimension 8 of x, got 9.");
  expect_error([&] { rope(x, 8, false, std::nullopt, 1.0f, 0); },
               "[rope] Exactly one of base and freqs must be given.");
  const Tensor q = random_normal({1, 3, 2, 8}, Dtype::float32, 1);
  const Tensor kv = random_normal({1, 2, 2, 8}, Dtype::float32, 1);
  expect_error([&] { scaled_dot_product_attention(q, kv, kv, 1.0f); },
               "[scaled_dot_product_attention] Shapes of queries (1, 3, 2, 8), keys (1, 2, 2, 8) "
               "and values (1, 2, 2, 8) do not fit: keys and values must match, share B and D "
               "with the queries, and their heads must divide the query heads.");
  expect_error([&] { scaled_dot_product_attention(x, x, x, 1.0f); },
               "[scaled_dot_product_attention] queries must have 4 dimensions (B, heads, T, D) "
               "but has shape (2, 3, 8).");
  const Tensor short_kv = random_normal({1, 1, 1, 8}, Dtype::float32, 1);
  expect_error([&] { scaled_dot_product_attention(q, short_kv, short_kv, 1.0f, "causal"); },
               "[scaled_dot_product_attention] A causal mask needs at least as many keys as "
               "queries, got 1 keys for 2 queries.");
  expect_error(
      [&] {
        linear(x, random_normal({4, 7}, Dtype::float32, 1), std::nullopt);
      },
      "[linear] Last dimension of x with shape (2, 3, 8) must be 7 to match the weight "
      "with shape (4, 7).");
  expect_error([&] { swiglu(x, q); },
               "[swiglu] gate with shape (2, 3, 8) and up with shape (1, 3, 2, 8) must have the "
               "same shape.");
}

}  // namespace
}  // namespace qlinear
