// gather_qmm of every instruction set against the scalar reference, for every format and
// both transposes: within the golden bound per pair, bit-identical for any thread count,
// and bit-identical whether the pairs come sorted by expert or not.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/matrices.h"
#include "core/random.h"
#include "golden/golden_checks.h"
#include "kernels/isa.h"
#include "qlinear/ops.h"
#include "qlinear/quant_spec.h"

namespace qlinear {
namespace {

using testing::expect_matmul_close;
using testing::fast_isas;
using testing::matrix;
using testing::random_normal;
using testing::u32_tensor;
using testing::with_isa;

struct Format {
  std::string mode;
  int bits, group_size;
};

std::vector<Format> formats() {
  std::vector<Format> all;
  for (int bits : modes::kAffineBits) all.push_back({"affine", bits, 64});
  all.push_back({"affine", 4, 32});
  all.push_back({"affine", 3, 128});
  all.push_back({"mxfp4", 4, 32});
  all.push_back({"mxfp8", 8, 32});
  all.push_back({"nvfp4", 4, 16});
  return all;
}

// `tokens` rows of x (bfloat16), each sent to `top_k` distinct experts of `experts`
// (random, unsorted), as mlx-lm's SwitchGLU calls gather_qmm with few tokens.
struct Routing {
  Tensor x;                          // (tokens, 1, 1, K)
  Tensor rhs;                        // (tokens, top_k)
  Tensor x_sorted;                   // (tokens * top_k, 1, K): the rows in expert order
  Tensor rhs_sorted;                 // (tokens * top_k)
  std::vector<std::uint32_t> order;  // sorted pair i is unsorted pair order[i]

  Routing(std::int64_t tokens, int top_k, int experts, std::int64_t K, Dtype dtype,
          std::uint32_t seed) {
    x = random_normal({tokens, 1, 1, K}, dtype, seed);
    std::mt19937 rng(seed);
    std::vector<std::uint32_t> chosen, all(experts);
    std::iota(all.begin(), all.end(), 0u);
    for (std::int64_t t = 0; t < tokens; ++t) {
      std::shuffle(all.begin(), all.end(), rng);
      chosen.insert(chosen.end(), all.begin(), all.begin() + top_k);
    }
    rhs = u32_tensor({tokens, top_k}, chosen);
    order.resize(chosen.size());
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::uint32_t a, std::uint32_t b) { return chosen[a] < chosen[b]; });
    // Reverse each run of equal experts: the rows of an expert come in another order.
    for (std::size_t i = 0; i < order.size();) {
      std::size_t j = i;
      while (j < order.size() && chosen[order[j]] == chosen[order[i]]) ++j;
      std::reverse(order.begin() + i, order.begin() + j);
      i = j;
    }
    x_sorted = Tensor::zeros({tokens * top_k, 1, K}, dtype);
    std::vector<std::uint32_t> experts_sorted;
    const std::size_t row = K * size_of(dtype);
    for (std::size_t i = 0; i < order.size(); ++i) {
      std::memcpy(static_cast<char*>(x_sorted.mutable_data()) + i * row,
                  static_cast<const char*>(x.data()) + order[i] / top_k * row, row);
      experts_sorted.push_back(chosen[order[i]]);
    }
    rhs_sorted = u32_tensor({tokens * top_k}, experts_sorted);
  }
};

void expect_gather_agrees(const std::string& isa, const Format& f, std::int64_t tokens, int top_k,
                          int experts, bool transpose) {
  const std::int64_t K = 2 * 128, N = transpose ? 200 : 256;
  const Shape w_shape = transpose ? Shape{experts, N, K} : Shape{experts, K, N};
  const Quantized q =
      quantize(random_normal(w_shape, Dtype::float32, 31 + f.bits), f.group_size, f.bits, f.mode);
  const Routing r(tokens, top_k, experts, K, Dtype::bfloat16, 32);
  const std::string what = isa + " " + f.mode + " bits " + std::to_string(f.bits) + " g" +
                           std::to_string(f.group_size) + " tokens " + std::to_string(tokens) +
                           (transpose ? "" : " transpose=false");
  auto run = [&](const Tensor& x, const Tensor& rhs, bool sorted) {
    return gather_qmm(x, q.wq, q.scales, q.biases, std::nullopt, rhs, transpose, f.group_size,
                      f.bits, f.mode, sorted);
  };
  const Tensor ref = with_isa("scalar", 1, [&] { return run(r.x, r.rhs, false); });
  const Tensor fast = with_isa(isa, 1, [&] { return run(r.x, r.rhs, false); });
  const Tensor w_hat =
      dequantize(q.wq, q.scales, q.biases, f.group_size, f.bits, f.mode, Dtype::float32);
  const std::uint32_t* rhs = r.rhs.data<std::uint32_t>();
  for (std::int64_t p = 0; p < tokens * top_k; ++p) {
    expect_matmul_close(matrix(fast, p), matrix(ref, p), matrix(r.x, p / top_k),
                        matrix(w_hat, rhs[p]), transpose, what + " pair " + std::to_string(p));
  }
  for (int threads : {2, 3}) {
    EXPECT_TRUE(with_isa(isa, threads, [&] { return run(r.x, r.rhs, false); }).bit_equal(fast))
        << what << " threads " << threads;
  }
  const Tensor sorted = with_isa(isa, 2, [&] { return run(r.x_sorted, r.rhs_sorted, true); });
  const std::int64_t row = N * size_of(fast.dtype());
  for (std::size_t i = 0; i < r.order.size(); ++i) {
    EXPECT_EQ(std::memcmp(static_cast<const char*>(sorted.data()) + i * row,
                          static_cast<const char*>(fast.data()) + r.order[i] * row, row),
              0)
        << what << " sorted row " << i;
  }
}

class GatherAgreement : public ::testing::TestWithParam<std::string> {};

// Decode: one token, top 4 of 16 experts: one row per expert, many column blocks.
TEST_P(GatherAgreement, OneTokenEveryFormat) {
  for (const Format& f : formats()) {
    for (bool transpose : {true, false}) expect_gather_agrees(GetParam(), f, 1, 4, 16, transpose);
  }
}

// Prefill: 48 tokens, top 2 of 5 experts: about 19 rows per expert (the many-rows kernels),
// a few with fewer.
TEST_P(GatherAgreement, ManyTokensEveryFormat) {
  for (const Format& f : formats()) {
    for (bool transpose : {true, false}) expect_gather_agrees(GetParam(), f, 48, 2, 5, transpose);
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, GatherAgreement, ::testing::ValuesIn(fast_isas()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace qlinear
