// gather_qmm's semantics: which x matrix meets which expert (index arrays that broadcast,
// omitted ones, every integer type), the output shape and dtype, each pair exactly the
// quantized_matmul of its two matrices under the scalar reference.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/matrices.h"
#include "core/random.h"
#include "kernels/isa.h"
#include "qlinear/ops.h"

namespace qlinear {
namespace {

using testing::matrix;
using testing::random_normal;
using testing::u32_tensor;
using testing::with_isa;

// 5 experts of (N=24, K=128) (or (K, N) untransposed), x of 2 x 3 matrices of M=2 rows.
struct Case {
  bool transpose;
  std::string mode;
  Quantized q;
  Tensor x;

  Case(bool t, std::string m, Dtype dtype = Dtype::float32) : transpose(t), mode(std::move(m)) {
    const Shape w_shape = transpose ? Shape{5, 24, 128} : Shape{5, 128, 64};
    q = quantize(random_normal(w_shape, Dtype::float32, 21), std::nullopt, std::nullopt, mode);
    x = random_normal({2, 3, 2, 128}, dtype, 22);
  }

  Tensor gather(const std::optional<Tensor>& lhs, const std::optional<Tensor>& rhs) const {
    return gather_qmm(x, q.wq, q.scales, q.biases, lhs, rhs, transpose, {}, {}, mode);
  }
  // The product of x matrix i and expert e on its own.
  Tensor pair(std::int64_t i, std::int64_t e) const {
    return quantized_matmul(matrix(x, i), matrix(q.wq, e), matrix(q.scales, e),
                            q.biases ? std::optional(matrix(*q.biases, e)) : std::nullopt,
                            transpose, {}, {}, mode);
  }
};

// Under the scalar reference, y's matrix p equals the product of pair (lhs[p], rhs[p]).
void expect_pairs(const Case& c, const Tensor& y, const std::vector<std::uint32_t>& lhs,
                  const std::vector<std::uint32_t>& rhs, const std::string& what) {
  ASSERT_EQ(y.size() / (y.dim(-2) * y.dim(-1)), static_cast<std::int64_t>(lhs.size())) << what;
  for (std::size_t p = 0; p < lhs.size(); ++p) {
    EXPECT_TRUE(matrix(y, p).bit_equal(c.pair(lhs[p], rhs[p])))
        << what << " pair " << p << " (x " << lhs[p] << ", expert " << rhs[p] << ")";
  }
}

class GatherSemantics : public ::testing::TestWithParam<std::tuple<bool, std::string>> {};

TEST_P(GatherSemantics, IndicesBroadcastAndPickTheirMatrices) {
  const Case c(std::get<0>(GetParam()), std::get<1>(GetParam()));
  const std::int64_t N = c.transpose ? 24 : 64;
  with_isa("scalar", 1, [&] {
    // lhs (3, 1) against rhs (1, 4): 12 pairs, x index along the rows, expert along columns.
    const std::uint32_t lhs_v[] = {5, 0, 3}, rhs_v[] = {4, 1, 1, 0};
    const Tensor y = c.gather(u32_tensor({3, 1}, lhs_v), u32_tensor({1, 4}, rhs_v));
    EXPECT_EQ(y.shape(), (Shape{3, 4, 2, N}));
    std::vector<std::uint32_t> lhs, rhs;
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 4; ++j) {
        lhs.push_back(lhs_v[i]);
        rhs.push_back(rhs_v[j]);
      }
    }
    expect_pairs(c, y, lhs, rhs, "lhs (3, 1), rhs (1, 4)");

    // lhs omitted: every x matrix in order, shaped like x's batch (2, 3); rhs (2, 1).
    const std::uint32_t experts[] = {2, 4};
    const Tensor y2 = c.gather(std::nullopt, u32_tensor({2, 1}, experts));
    EXPECT_EQ(y2.shape(), (Shape{2, 3, 2, N}));
    expect_pairs(c, y2, {0, 1, 2, 3, 4, 5}, {2, 2, 2, 4, 4, 4}, "lhs omitted");

    // rhs omitted: every expert in order, shape (5,); lhs a scalar.
    const std::uint32_t one[] = {4};
    const Tensor y3 = c.gather(u32_tensor({}, one), std::nullopt);
    EXPECT_EQ(y3.shape(), (Shape{5, 2, N}));
    expect_pairs(c, y3, {4, 4, 4, 4, 4}, {0, 1, 2, 3, 4}, "rhs omitted");

    // Any integer type gives the same pairs.
    const std::int64_t lhs64[] = {5, 0, 3};
    const std::uint8_t rhs8[] = {4, 1, 1, 0};
    EXPECT_TRUE(c.gather(Tensor::from_values<std::int64_t>({3, 1}, Dtype::int64, lhs64),
                         Tensor::from_values<std::uint8_t>({1, 4}, Dtype::uint8, rhs8))
                    .bit_equal(y));
    return 0;
  });
}

INSTANTIATE_TEST_SUITE_P(Modes, GatherSemantics,
                         ::testing::Combine(::testing::Bool(),
                                            ::testing::Values("affine", "mxfp4", "mxfp8", "nvfp4")),
                         [](const auto& info) {
                           return std::get<1>(info.param) +
                                  (std::get<0>(info.param) ? "_transposed" : "_untransposed");
                         });

TEST(GatherQmm, WithoutIndicesIsQuantizedMatmul) {
  const Quantized q = quantize(random_normal({5, 24, 128}, Dtype::float32, 27));
  const Tensor x = random_normal({5, 2, 128}, Dtype::float32, 28);
  EXPECT_TRUE(gather_qmm(x, q.wq, q.scales, q.biases)
                  .bit_equal(quantized_matmul(x, q.wq, q.scales, q.biases)));
}

TEST(GatherQmm, ResultDtypeFollowsQuantizedMatmul) {
  const std::uint32_t rhs[] = {0, 1};
  // affine: the promotion of x's and the scales' dtype; float modes: x's dtype.
  const Quantized q = quantize(random_normal({2, 8, 64}, Dtype::bfloat16, 23));
  const Tensor x16 = random_normal({1, 64}, Dtype::float16, 24);
  EXPECT_EQ(gather_qmm(x16, q.wq, q.scales, q.biases, {}, u32_tensor({2}, rhs)).dtype(),
            Dtype::float32);
  const Tensor xb = random_normal({1, 64}, Dtype::bfloat16, 25);
  EXPECT_EQ(gather_qmm(xb, q.wq, q.scales, q.biases, {}, u32_tensor({2}, rhs)).dtype(),
            Dtype::bfloat16);
  const Quantized fp = quantize(random_normal({2, 8, 64}, Dtype::float32, 26), {}, {}, "mxfp4");
  EXPECT_EQ(gather_qmm(x16, fp.wq, fp.scales, std::nullopt, {}, u32_tensor({2}, rhs), true, {}, {},
                       "mxfp4")
                .dtype(),
            Dtype::float16);
}

TEST(GatherQmm, EmptyIndicesGiveAnEmptyResult) {
  const Case c(true, "affine");
  const Tensor y = c.gather(Tensor::zeros({0}, Dtype::uint32), Tensor::zeros({1}, Dtype::uint32));
  EXPECT_EQ(y.shape(), (Shape{0, 2, 24}));
}

}  // namespace
}  // namespace qlinear
