// Every instruction set this CPU supports against the scalar reference, on random
// inputs: quantize and dequantize bit for bit, quantized_matmul within an error bound,
// and every path bit-identical for any thread count.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/random.h"
#include "kernels/isa.h"
#include "kernels/roundoff.h"
#include "qlinear/ops.h"
#include "qlinear/quant_spec.h"
#include "qlinear/runtime.h"

namespace qlinear {
namespace {

using testing::fast_isas;
using testing::output_max;
using testing::output_roundoff;
using testing::random_normal;
using testing::with_isa;

// Every affine width of the catalogue.
constexpr auto& kBits = modes::kAffineBits;
constexpr int kGroupSizes[] = {32, 64, 128};
constexpr Dtype kFloatTypes[] = {Dtype::float32, Dtype::float16, Dtype::bfloat16};

class KernelAgreement : public ::testing::TestWithParam<std::string> {};

// Codes, scales and biases of `isa` on 1 and 2 threads equal the scalar table's.
void expect_quantize_bit_exact(const std::string& isa, const Tensor& w, int gs, int bits) {
  const Quantized ref = with_isa("scalar", 1, [&] { return quantize(w, gs, bits); });
  for (int threads : {1, 2}) {
    const Quantized fast = with_isa(isa, threads, [&] { return quantize(w, gs, bits); });
    const std::string what = std::string(name_of(w.dtype())) + " bits " + std::to_string(bits) +
                             " group " + std::to_string(gs) + " threads " + std::to_string(threads);
    EXPECT_TRUE(fast.wq.bit_equal(ref.wq)) << what;
    EXPECT_TRUE(fast.scales.bit_equal(ref.scales)) << what;
    EXPECT_TRUE(fast.biases->bit_equal(*ref.biases)) << what;
  }
}

TEST_P(KernelAgreement, QuantizeIsBitExact) {
  for (Dtype dtype : kFloatTypes) {
    for (int bits : kBits) {
      for (int gs : kGroupSizes) {
        // 37 rows: not a multiple of any chunk; a wide spread exercises both edge signs.
        const Tensor w = random_normal({37, 2 * gs + 128}, dtype, 7u * bits + gs, 3.0f);
        expect_quantize_bit_exact(GetParam(), w, gs, bits);
      }
    }
  }
}

// One group of gs values (as float) whose extremes hit a branch or a rounding corner of
// the group parameters or the codes; `kind` picks which.
std::vector<float> edge_group(int kind, int gs, int bits, std::mt19937& rng) {
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-6, 6);
  const float scale = std::ldexp(1.0f, exponent(rng));
  std::vector<float> g(static_cast<std::size_t>(gs));
  for (float& v : g) v = unit(rng) * scale;
  switch (kind) {
    case 0:  // |min| == |max|: the maximum is the edge, the scale negative
      g[3] = -scale;
      g[gs - 1] = scale;
      break;
    case 1:  // constant (the scale floor), zero included
      std::fill(g.begin(), g.end(), rng() % 4 == 0 ? 0.0f : unit(rng) * scale);
      break;
    case 2:  // all negative
    case 3:  // all positive
      for (float& v : g) v = (kind == 2 ? -1.0f : 1.0f) * (std::fabs(v) + scale / 4);
      break;
    case 4:  // range under the scale floor around zero: q0 == 0, bias 0
      for (float& v : g) v *= 1e-8f / scale;
      break;
    case 5:  // range under the scale floor away from zero: q0 large
      for (float& v : g) v = scale * (1.0f + 1e-7f * v);
      break;
    case 6: {  // integers in [-2^bits, 2^bits - 2] times a power of two: scale exactly 2
               // (times it), bias -2^bits, and every odd integer's code is a .5 tie
      const int top = 1 << bits;
      std::uniform_int_distribution<int> pick(-top, top - 2);
      for (float& v : g) v = static_cast<float>(pick(rng)) * scale;
      g[1] = -static_cast<float>(top) * scale;
      g[gs - 2] = static_cast<float>(top - 2) * scale;
      break;
    }
    case 7:  // zeros of both signs and positives: the 1-bit bias is the first zero
      for (float& v : g) v = rng() % 2 ? std::fabs(v) : rng() % 2 ? -0.0f : 0.0f;
      break;
    default:  // a plain random group
      break;
  }
  return g;
}

// Groups at every corner of the group parameters, shuffled along rows whose group count
// is not a multiple of any vector width, for every dtype, width and group size.
TEST_P(KernelAgreement, QuantizeEdgeGroupsAreBitExact) {
  constexpr int kKinds = 9;
  constexpr std::int64_t kRows = 5, kGroups = 37;
  for (Dtype dtype : kFloatTypes) {
    for (int bits : kBits) {
      for (int gs : kGroupSizes) {
        std::mt19937 rng(static_cast<std::uint32_t>(bits * 1000 + gs));
        std::vector<float> values;
        for (std::int64_t i = 0; i < kRows * kGroups; ++i) {
          const std::vector<float> g = edge_group(static_cast<int>(rng() % kKinds), gs, bits, rng);
          values.insert(values.end(), g.begin(), g.end());
        }
        const Tensor w = Tensor::from_floats({kRows, kGroups * gs}, dtype, values);
        expect_quantize_bit_exact(GetParam(), w, gs, bits);
      }
    }
  }
}

TEST_P(KernelAgreement, DequantizeIsBitExact) {
  for (Dtype dtype : kFloatTypes) {
    for (int bits : kBits) {
      for (int gs : kGroupSizes) {
        const Tensor w = random_normal({19, 3 * gs}, dtype, 11u * bits + gs);
        const Quantized q = with_isa("scalar", 1, [&] { return quantize(w, gs, bits); });
        const Tensor ref =
            with_isa("scalar", 1, [&] { return dequantize(q.wq, q.scales, q.biases, gs, bits); });
        for (int threads : {1, 2}) {
          const Tensor fast = with_isa(
              GetParam(), threads, [&] { return dequantize(q.wq, q.scales, q.biases, gs, bits); });
          EXPECT_TRUE(fast.bit_equal(ref)) << name_of(dtype) << " bits " << bits << " group " << gs;
        }
      }
    }
  }
}

struct MatmulCase {
  std::int64_t M, K, N;
  bool transpose;
  int bits, gs;
  Dtype x_dtype, scale_dtype;
  std::string mode = "affine";  // float modes: no biases, E8M0/E4M3 scales
};

// The fast kernels sum the K products in another order than the reference and use the
// affine identity sum(x*(s*q+b)) = s*sum(x*q) + b*sum(x). Both results lie within
// K * eps32 * B of the exact value, B = sum_k |x_k| (|s_k q_k| + |b_k|) (the standard
// bound for a float32 sum of K terms, with the terms' magnitudes before the bias
// cancels), so they differ by at most 2 K eps32 B, plus one rounding of each to the
// output dtype. We allow 2x that. Where B overflows the output dtype (scales near its
// limit), either result may be infinite or NaN. `edit` may change the quantized W first.
void expect_matmul_agrees(const std::string& isa, const MatmulCase& c,
                          const std::function<void(Quantized&)>& edit = nullptr) {
  const Shape w_shape = c.transpose ? Shape{c.N, c.K} : Shape{c.K, c.N};
  const auto seed = static_cast<std::uint32_t>(c.M * 131 + c.K * 7 + c.N + c.bits * 3 + c.gs);
  const Tensor w = random_normal(w_shape, c.scale_dtype, seed);
  const Tensor x = random_normal({c.M, c.K}, c.x_dtype, seed + 1);
  Quantized q = with_isa("scalar", 1, [&] { return quantize(w, c.gs, c.bits, c.mode); });
  if (edit) edit(q);
  auto run = [&] {
    return quantized_matmul(x, q.wq, q.scales, q.biases, c.transpose, c.gs, c.bits, c.mode);
  };
  const Tensor ref = with_isa("scalar", 1, run);
  const Tensor fast1 = with_isa(isa, 1, run);
  const Tensor fast2 = with_isa(isa, 2, run);
  const Tensor fast3 = with_isa(isa, 3, run);
  const std::string what = isa + " M=" + std::to_string(c.M) + " K=" + std::to_string(c.K) +
                           " N=" + std::to_string(c.N) +
                           " transpose=" + std::to_string(c.transpose) +
                           " bits=" + std::to_string(c.bits) + " gs=" + std::to_string(c.gs) +
                           " x=" + std::string(name_of(c.x_dtype)) +
                           " scales=" + std::string(name_of(c.scale_dtype)) + " mode=" + c.mode;
  ASSERT_TRUE(fast1.bit_equal(fast2)) << "thread count changed the result: " << what;
  ASSERT_TRUE(fast1.bit_equal(fast3)) << "thread count changed the result: " << what;

  const std::vector<float> xs = x.to_floats();
  const std::int64_t groups_per_row = (c.transpose ? c.K : c.N) / c.gs;
  const std::vector<float> biases = q.biases ? q.biases->to_floats()
                                             : std::vector<float>(static_cast<std::size_t>(
                                                   (c.transpose ? c.N : c.K) * groups_per_row));
  const std::vector<float> w_hat =
      with_isa("scalar", 1, [&] {
        return dequantize(q.wq, q.scales, q.biases, c.gs, c.bits, c.mode, Dtype::float32);
      }).to_floats();
  const std::vector<float> got = fast1.to_floats();
  const std::vector<float> want = ref.to_floats();
  const double eps = std::numeric_limits<float>::epsilon() / 2;
  const double out_eps = output_roundoff(fast1.dtype());
  int failures = 0;
  for (std::int64_t m = 0; m < c.M; ++m) {
    for (std::int64_t n = 0; n < c.N; ++n) {
      double bound = 0.0;
      for (std::int64_t k = 0; k < c.K; ++k) {
        const std::int64_t wi = c.transpose ? n * c.K + k : k * c.N + n;
        const std::int64_t gi =
            c.transpose ? n * groups_per_row + k / c.gs : k * groups_per_row + n / c.gs;
        const double s_q = std::fabs(static_cast<double>(w_hat[wi]) - biases[gi]);
        bound += std::fabs(xs[m * c.K + k]) * (s_q + std::fabs(biases[gi]));
      }
      const double r = want[m * c.N + n];
      // Where B passes the output's largest value, a sum in another order may overflow
      // where the other does not.
      const bool may_overflow = !(bound < output_max(fast1.dtype()));
      if (may_overflow && !(std::isfinite(r) && std::isfinite(got[m * c.N + n]))) continue;
      const double tol = 2.0 * (2.0 * c.K * eps * bound + 2.0 * out_eps * std::fabs(r));
      const double err = std::fabs(static_cast<double>(got[m * c.N + n]) - r);
      if (!(err <= tol) && failures++ < 5) {
        ADD_FAILURE() << what << " at (" << m << ", " << n << "): fast " << got[m * c.N + n]
                      << " reference " << r << " error " << err << " > tolerance " << tol;
      }
    }
  }
}

TEST_P(KernelAgreement, MatmulEveryFormatFewRows) {
  for (bool transpose : {true, false}) {
    for (int bits : kBits) {
      for (int gs : kGroupSizes) {
        expect_matmul_agrees(GetParam(), {3, 2 * gs, transpose ? 37 : gs, transpose, bits, gs,
                                          Dtype::float32, Dtype::float16});
      }
    }
  }
}

TEST_P(KernelAgreement, MatmulEveryFormatManyRows) {
  for (bool transpose : {true, false}) {
    for (int bits : kBits) {
      for (int gs : kGroupSizes) {
        expect_matmul_agrees(GetParam(), {33, 3 * gs, transpose ? 45 : 2 * gs, transpose, bits, gs,
                                          Dtype::float32, Dtype::bfloat16});
      }
    }
  }
}

TEST_P(KernelAgreement, MatmulEveryRowCountAndDtype) {
  for (std::int64_t M : {1, 2, 4, 5, 7, 8, 9, 12, 16, 17, 31, 64}) {
    for (Dtype x_dtype : kFloatTypes) {
      for (Dtype scale_dtype : kFloatTypes) {
        for (bool transpose : {true, false}) {
          expect_matmul_agrees(
              GetParam(), {M, 256, transpose ? 67 : 320, transpose, 4, 64, x_dtype, scale_dtype});
        }
      }
    }
  }
}

// The field kernel (rows of whole blocks of lanes) for every width and group size it takes
// (all but 8 bits, whose codes are bytes already).
TEST_P(KernelAgreement, MatmulFieldKernel) {
  for (int bits : kBits) {
    if (bits == 8) continue;
    for (int gs : kGroupSizes) {
      for (std::int64_t M : {1, 2, 3, 5, 6, 7, 8}) {
        expect_matmul_agrees(GetParam(),
                             {M, 1024, 37, true, bits, gs, Dtype::bfloat16, Dtype::float16});
      }
    }
  }
  // One row of x longer than a chunk of x kept in L1 (every tile of rows runs twice), the
  // rows taken from runs of them with a remainder.
  expect_matmul_agrees(GetParam(), {1, 5120, 37, true, 4, 64, Dtype::float32, Dtype::float16});
  // Rows of x in two passes over several spans of W (kPassBytes), the last one short.
  for (int bits : {2, 4}) {
    for (std::int64_t M : {6, 8}) {
      expect_matmul_agrees(GetParam(),
                           {M, 4096, 600, true, bits, 64, Dtype::float32, Dtype::float32});
    }
  }
}

// The one-row kernel by tables over x (1 bit, rows of whole blocks of 16 words, on
// AVX-512; the field kernel below 32 rows): rows on either side of a block of 16 and of
// the threshold, more rows than one task's, group counts that are and are not multiples
// of 16, every group size and scale dtype.
TEST_P(KernelAgreement, MatmulOneRowTables) {
  for (std::int64_t N = 1; N <= 40; ++N) {
    expect_matmul_agrees(GetParam(), {1, 1536, N, true, 1, 64, Dtype::float32, Dtype::float16});
  }
  for (int gs : kGroupSizes) {
    for (Dtype scale_dtype : kFloatTypes) {
      for (std::int64_t K : {1536, 2560}) {
        for (std::int64_t N : {47, 130, 300}) {
          expect_matmul_agrees(GetParam(), {1, K, N, true, 1, gs, Dtype::bfloat16, scale_dtype});
        }
      }
    }
  }
}

// The float modes (every ISA's few-rows kernel for M <= 4, 4 rows at a time for more
// rows): K of 5 and 7 groups (part-blocks of AVX2's 64 FP4 codes: 16, 32 and 48 of them;
// of AVX-512's 128: 32, 80, 96 and 112) and 4096, N not a multiple of the 4 weight rows
// taken at once, both transposes.
TEST_P(KernelAgreement, MatmulFloatModes) {
  for (const ModeTraits& m : kQuantModes) {
    if (m.affine_scales) continue;
    const std::string mode(m.name);
    const int bits = m.default_bits, gs = m.default_group_size;  // the only ones it allows
    for (std::int64_t K : {5 * gs, 7 * gs, 4096}) {
      for (std::int64_t M : {1, 2, 3, 4, 5}) {
        for (Dtype x_dtype : kFloatTypes) {
          MatmulCase c{M, K, 37, true, bits, gs, x_dtype, Dtype::float32, mode};
          expect_matmul_agrees(GetParam(), c);
        }
      }
      expect_matmul_agrees(GetParam(),
                           {2, K, 2 * gs, false, bits, gs, Dtype::float32, Dtype::float16, mode});
    }
  }
}

// Every scale byte of the FP4 modes (row n's groups all take byte n), through the one-row kernels
// and the few-rows ones, for every x dtype (the scales as x's dtype rounds them: mxfp4's leave
// float16's range): K of part-blocks of codes and of scales (gpt-oss's 2880) and whole ones.
TEST_P(KernelAgreement, MatmulFp4EveryScaleByte) {
  for (const char* mode : {"mxfp4", "nvfp4"}) {
    const ModeTraits& m = traits(parse_quant_mode(mode, "test"));
    const int bits = m.default_bits, gs = m.default_group_size;
    for (std::int64_t K : {2880, 2048}) {
      const auto edit = [&](Quantized& q) {
        std::vector<std::uint8_t> scales(q.scales.size());
        for (std::size_t i = 0; i < scales.size(); ++i) {
          scales[i] = static_cast<std::uint8_t>(i / (K / gs));
        }
        q.scales = Tensor::copy_of(q.scales.shape(), Dtype::uint8, scales.data());
      };
      for (std::int64_t M : {1, 3}) {
        for (Dtype x_dtype : kFloatTypes) {
          expect_matmul_agrees(GetParam(),
                               {M, K, 256, true, bits, gs, x_dtype, Dtype::float32, mode}, edit);
        }
      }
    }
  }
}

// The float modes on either side of every kernel switch (the few-rows kernels and the
// panel GEMM) and at many rows: K not a multiple of the panel depth, N not a multiple of
// the panel width (untransposed, nvfp4's groups of 16 leave half a panel on AVX-512) and,
// at many rows, past a task's columns.
TEST_P(KernelAgreement, MatmulFloatModesEveryRowCount) {
  for (const ModeTraits& m : kQuantModes) {
    if (m.affine_scales) continue;
    const std::string mode(m.name);
    const int bits = m.default_bits, gs = m.default_group_size;
    const std::int64_t K = 256 + 3 * gs;
    for (bool transpose : {true, false}) {
      for (std::int64_t M = 1; M <= 40; ++M) {
        expect_matmul_agrees(GetParam(), {M, K, transpose ? 37 : 3 * gs, transpose, bits, gs,
                                          Dtype::float32, Dtype::float32, mode});
      }
      for (std::int64_t M : {64, 130}) {
        expect_matmul_agrees(GetParam(), {M, K, transpose ? 300 : 256 + 3 * gs, transpose, bits, gs,
                                          Dtype::bfloat16, Dtype::float32, mode});
      }
    }
  }
}

// The shapes of attention over a quantized cache: keys rows of one group (the lane sums
// taken kLanes at a time, N not a multiple of the rows taken at once; 8-bit keys on
// AVX-512 with lanes along rows, N not a multiple of 16), values narrow enough for
// register accumulators (N of whole blocks of those and a remainder).
TEST_P(KernelAgreement, MatmulShortRowsAndNarrowColumns) {
  for (int bits : {8, 4, 3}) {
    for (std::int64_t M = 1; M <= 8; ++M) {
      expect_matmul_agrees(GetParam(), {M, 64, 67, true, bits, 64, Dtype::float32, Dtype::float32});
      // Rows of one group over two 64-byte blocks (8 bits: lanes along rows on AVX-512).
      expect_matmul_agrees(GetParam(),
                           {M, 128, 40, true, bits, 128, Dtype::float32, Dtype::float16});
      for (std::int64_t N : {64, 96, 160, 256}) {
        expect_matmul_agrees(GetParam(),
                             {M, 75, N, false, bits, 32, Dtype::float32, Dtype::bfloat16});
      }
    }
  }
}

// Long rows: many panels deep, columns past a task's width.
TEST_P(KernelAgreement, MatmulLargeShapes) {
  for (bool transpose : {true, false}) {
    expect_matmul_agrees(GetParam(), {40, 1024, transpose ? 300 : 384, transpose, 4, 64,
                                      Dtype::float32, Dtype::float32});
    expect_matmul_agrees(GetParam(), {1, 2048, transpose ? 513 : 512, transpose, 3, 128,
                                      Dtype::bfloat16, Dtype::bfloat16});
  }
}

INSTANTIATE_TEST_SUITE_P(SupportedIsas, KernelAgreement, ::testing::ValuesIn(fast_isas()),
                         [](const auto& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(KernelAgreement);

}  // namespace
}  // namespace qlinear
