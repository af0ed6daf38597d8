// MLX 0.32.4's gather_qmm files (tests/data/golden/mlx-0.32.4/README.md): mlx-lm's
// unsorted top-k pattern, its sorted pattern, both index arrays and transpose=false, for
// every format there, through every instruction set: within the golden bound per pair,
// float32 bit for bit through the scalar reference, and the sorted rows bit-identical to
// the unsorted ones.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/matrices.h"
#include "golden/golden_checks.h"
#include "golden/golden_files.h"
#include "kernels/isa.h"

namespace qlinear {
namespace {

using testing::expect_bit_equal;
using testing::expect_matmul_close;
using testing::golden_files;
using testing::GoldenFile;
using testing::matrix;
using testing::u32_tensor;
using testing::u32_values;
using testing::with_isa;

// The gather files; only the float32 ones when float32_only.
std::vector<std::string> gather_files(bool float32_only = false) {
  std::vector<std::string> files;
  for (const std::string& f : golden_files(testing::kRelease + "gather_")) {
    if (!float32_only || f.ends_with("_f32")) files.push_back(f);
  }
  return files;
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  return info.param.substr(info.param.find('/') + 1);
}

// Pair p of y is x matrix lhs[p] times expert rhs[p] of w_hat: within the golden bound.
void expect_pairs_close(const Tensor& y, const Tensor& golden, const Tensor& x, const Tensor& w_hat,
                        const std::vector<std::uint32_t>& lhs,
                        const std::vector<std::uint32_t>& rhs, bool transpose,
                        const std::string& what) {
  ASSERT_EQ(y.shape(), golden.shape()) << what;
  ASSERT_EQ(y.size() / (y.dim(-2) * y.dim(-1)), static_cast<std::int64_t>(lhs.size())) << what;
  for (std::size_t p = 0; p < lhs.size(); ++p) {
    expect_matmul_close(matrix(y, p), matrix(golden, p), matrix(x, lhs[p]), matrix(w_hat, rhs[p]),
                        transpose, what + " pair " + std::to_string(p));
  }
}

// The four products of a file, under the active instruction set.
struct GatherResults {
  Tensor unsorted, sorted, both, untransposed;
};

GatherResults run_file(const GoldenFile& g) {
  const std::string mode(mode_name(g.spec.mode));
  const int gs = g.spec.group_size, bits = g.spec.bits;
  const Tensor& x = g["x"];
  const std::int64_t T = x.dim(0), K = x.dim(1), topk = g["indices"].dim(1);
  const Tensor x4 = x.reshape({T, 1, 1, K});
  // mlx-lm's sorted path: x rows x[order // topk], experts indices.flat[order].
  const std::vector<std::uint32_t> order = u32_values(g["order"]);
  const std::vector<std::uint32_t> flat = u32_values(g["indices"]);
  Tensor x_sorted = Tensor::zeros({T * topk, 1, K}, x.dtype());
  std::vector<std::uint32_t> experts_sorted;
  const std::size_t row_bytes = K * size_of(x.dtype());
  for (std::size_t i = 0; i < order.size(); ++i) {
    std::memcpy(static_cast<char*>(x_sorted.mutable_data()) + i * row_bytes,
                static_cast<const char*>(x.data()) + order[i] / topk * row_bytes, row_bytes);
    experts_sorted.push_back(flat[order[i]]);
  }
  const Tensor rhs_sorted = u32_tensor({T * topk}, experts_sorted);
  return {
      gather_qmm(x4, g["wq"], g["scales"], g.maybe("biases"), std::nullopt, g["indices"], true, gs,
                 bits, mode),
      gather_qmm(x_sorted, g["wq"], g["scales"], g.maybe("biases"), std::nullopt, rhs_sorted, true,
                 gs, bits, mode, /*sorted_indices=*/true),
      gather_qmm(g["x_batch"], g["wq"], g["scales"], g.maybe("biases"), g["lhs_indices"],
                 g["rhs_indices"], true, gs, bits, mode),
      gather_qmm(x4, g["wq_nt"], g["scales_nt"], g.maybe("biases_nt"), std::nullopt, g["indices"],
                 false, gs, bits, mode),
  };
}

class GatherGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(GatherGolden, EveryIsaWithinTheGoldenBound) {
  const GoldenFile g(GetParam());
  const std::string mode(mode_name(g.spec.mode));
  const int gs = g.spec.group_size, bits = g.spec.bits;
  auto w_hat = [&](const std::string& s) {
    return dequantize(g["wq" + s], g["scales" + s], g.maybe("biases" + s), gs, bits, mode,
                      Dtype::float32);
  };
  const Tensor w_hat_t = w_hat(""), w_hat_nt = w_hat("_nt");
  const std::int64_t T = g["x"].dim(0), topk = g["indices"].dim(1);
  std::vector<std::uint32_t> tokens, order_tokens;
  for (std::int64_t p = 0; p < T * topk; ++p)
    tokens.push_back(static_cast<std::uint32_t>(p / topk));
  const std::vector<std::uint32_t> order = u32_values(g["order"]), flat = u32_values(g["indices"]);
  std::vector<std::uint32_t> experts_sorted;
  for (std::uint32_t o : order) {
    order_tokens.push_back(static_cast<std::uint32_t>(o / topk));
    experts_sorted.push_back(flat[o]);
  }
  const Tensor x3 = g["x"].reshape({T, 1, g["x"].dim(1)});

  for (const std::string& isa : supported_isas()) {
    for (int threads : {1, 2}) {
      const std::string what = isa + " threads " + std::to_string(threads);
      const GatherResults r = with_isa(isa, threads, [&] { return run_file(g); });
      expect_pairs_close(r.unsorted, g["y_unsorted"], x3, w_hat_t, tokens, flat, true,
                         what + " unsorted");
      expect_pairs_close(r.sorted, g["y_sorted"], x3, w_hat_t, order_tokens, experts_sorted, true,
                         what + " sorted");
      expect_pairs_close(r.both, g["y_both"], g["x_batch"], w_hat_t, u32_values(g["lhs_indices"]),
                         u32_values(g["rhs_indices"]), true, what + " both indices");
      expect_pairs_close(r.untransposed, g["y_nt"], x3, w_hat_nt, tokens, flat, false,
                         what + " transpose=false");

      // The sorted call computes the same rows as the unsorted one, bit for bit.
      const std::int64_t N = r.unsorted.dim(-1);
      const Tensor unsorted_rows = r.unsorted.reshape({T * topk, 1, N});
      for (std::size_t i = 0; i < order.size(); ++i) {
        EXPECT_EQ(std::memcmp(matrix(r.sorted, i).data(), matrix(unsorted_rows, order[i]).data(),
                              N * size_of(r.sorted.dtype())),
                  0)
            << what << " sorted row " << i;
      }
    }
  }
}

// For float32 the scalar reference is MLX's CPU arithmetic: every output bit for bit.
class GatherGoldenFloat32 : public ::testing::TestWithParam<std::string> {};

TEST_P(GatherGoldenFloat32, ReferenceIsBitExact) {
  const GoldenFile g(GetParam());
  const GatherResults r = with_isa("scalar", 1, [&] { return run_file(g); });
  expect_bit_equal(r.unsorted, g["y_unsorted"], "y_unsorted");
  expect_bit_equal(r.sorted, g["y_sorted"], "y_sorted");
  expect_bit_equal(r.both, g["y_both"], "y_both");
  expect_bit_equal(r.untransposed, g["y_nt"], "y_nt");
}

INSTANTIATE_TEST_SUITE_P(Mlx, GatherGolden, ::testing::ValuesIn(gather_files()), test_name);
INSTANTIATE_TEST_SUITE_P(Mlx, GatherGoldenFloat32, ::testing::ValuesIn(gather_files(true)),
                         test_name);

TEST(GatherGoldenFiles, AllElevenArePresent) {
  EXPECT_EQ(gather_files().size(), 11u);  // two of them 1-bit
}

}  // namespace
}  // namespace qlinear
