// The sharded layers on every rank of the group (ctest: alone, and under mpirun with 2
// and 3 ranks). Every rank builds the same unsharded layer from the same seed; its shard
// must reproduce the unsharded output: all-to-sharded bit for bit (each output is the
// same dot product), sharded-to-all within the float32 summation bound below.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "nn/test_util.h"
#include "qlinear/nn.h"
#include "qlinear/ops.h"

namespace qlinear::nn {
namespace {

using distributed::Group;
using testing::random_floats;

constexpr std::int64_t kRows = 3;     // rows of x
constexpr std::int64_t kOutput = 18;  // 3 segments of 6: whole for 1, 2 and 3 ranks
constexpr int kGroupsPerRank = 6;     // input groups per rank for 1, 2 and 3 ranks: 6 groups

// Columns [first, first + count) of a 2-D float tensor, as float32.
Tensor columns(const Tensor& t, std::int64_t first, std::int64_t count) {
  const std::vector<float> values = t.to_floats();
  std::vector<float> kept;
  for (std::int64_t r = 0; r < t.dim(0); ++r)
    for (std::int64_t c = first; c < first + count; ++c)
      kept.push_back(values[static_cast<std::size_t>(r * t.dim(1) + c)]);
  return Tensor::from_floats({t.dim(0), count}, t.dtype(), kept);
}

// The columns rank r keeps of each of `segments` equal segments of y's last axis.
Tensor sharded_columns(const Tensor& y, int segments, const Group& group) {
  const std::int64_t segment = y.dim(1) / segments, part = segment / group.size();
  std::vector<float> kept;
  for (int s = 0; s < segments; ++s) {
    const Tensor piece = columns(y, s * segment + group.rank() * part, part);
    for (float v : piece.to_floats()) kept.push_back(v);
  }
  // Reorder: piece s holds (rows, part); concatenate along the columns.
  std::vector<float> joined;
  const std::int64_t rows = y.dim(0);
  for (std::int64_t r = 0; r < rows; ++r)
    for (int s = 0; s < segments; ++s)
      for (std::int64_t c = 0; c < part; ++c)
        joined.push_back(kept[static_cast<std::size_t>((s * rows + r) * part + c)]);
  return Tensor::from_floats({rows, part * segments}, y.dtype(), joined);
}

// |sharded - unsharded| <= 2 * (K + N + 1) * u * (sum_k |w_nk| |x_mk| + |bias_n|), u = 2^-24:
// both are float32 sums of the same K products (the sharded one in N partial sums added
// by all_sum) plus one bias addition, each within gamma_(K + N + 1) of the exact value
// (Higham, Accuracy and Stability, 3.1). |w| is the dequantized magnitude (affine:
// |scale| q + |bias|, which bounds the terms of the kernels' scale * sum(q x) + bias *
// sum(x) form too).
void expect_within_sum_bound(const Tensor& sharded, const Tensor& unsharded, const Tensor& x,
                             const Tensor& w_magnitude, const Tensor* bias, int ranks) {
  ASSERT_EQ(sharded.shape(), unsharded.shape());
  const std::int64_t K = x.dim(1), N = unsharded.dim(1);
  const auto xs = x.to_floats(), ws = w_magnitude.to_floats(), a = sharded.to_floats(),
             b = unsharded.to_floats();
  const auto bs = bias ? bias->to_floats() : std::vector<float>(static_cast<std::size_t>(N), 0.0f);
  const double u = std::ldexp(1.0, -24);
  for (std::int64_t m = 0; m < x.dim(0); ++m) {
    for (std::int64_t n = 0; n < N; ++n) {
      double magnitude = std::abs(bs[static_cast<std::size_t>(n)]);
      for (std::int64_t k = 0; k < K; ++k)
        magnitude += std::abs(double(ws[static_cast<std::size_t>(n * K + k)]) *
                              xs[static_cast<std::size_t>(m * K + k)]);
      const std::size_t i = static_cast<std::size_t>(m * N + n);
      EXPECT_LE(std::abs(double(a[i]) - b[i]), 2.0 * double(K + ranks + 1) * u * magnitude)
          << "at " << m << ", " << n;
    }
  }
}

// The dequantized weight's magnitudes as the bound above needs them.
Tensor weight_magnitude(const QuantizedLinear& layer) {
  const QuantSpec spec = *layer.quant_spec();
  const auto abs_of = [](const Tensor& t) {
    std::vector<float> v = t.to_floats();
    for (float& f : v) f = std::abs(f);
    return Tensor::from_floats(t.shape(), t.dtype(), v);
  };
  if (!spec.traits().has_biases())
    return abs_of(dequantize(layer.parameter("weight"), layer.parameter("scales"), std::nullopt,
                             spec.group_size, spec.bits, mode_name(spec.mode)));
  return dequantize(layer.parameter("weight"), abs_of(layer.parameter("scales")),
                    abs_of(layer.parameter("biases")), spec.group_size, spec.bits, "affine");
}

std::vector<QuantSpec> every_setting() {
  std::vector<QuantSpec> specs;
  for (const ModeTraits& mode : kQuantModes) {
    for (int bits : mode.bits) {
      QuantSpec spec = QuantSpec::defaults(mode.mode);
      spec.bits = bits;
      specs.push_back(spec);
    }
  }
  return specs;
}

std::string describe(const QuantSpec& spec) {
  return std::string(mode_name(spec.mode)) + " " + std::to_string(spec.bits) + "-bit g" +
         std::to_string(spec.group_size);
}

class ShardedLayers : public ::testing::Test {
 protected:
  const Group group = distributed::init();
  const int ranks = group.size();
};

TEST_F(ShardedLayers, FloatAllToShardedIsLinearsRowsBitForBit) {
  seed(11);
  const Linear linear(64, kOutput);
  const Tensor x = random_floats({kRows, 64}, 12);
  for (int segments : {1, 3}) {
    const auto sharded = AllToShardedLinear::from_linear(linear, segments);
    EXPECT_EQ(sharded->parameter("weight").shape(), (Shape{kOutput / ranks, 64}));
    EXPECT_TRUE((*sharded)(x).bit_equal(sharded_columns(linear(x), segments, group)));
    EXPECT_EQ(sharded->extra_repr(), "input_dims=64, output_dims=18, bias=True");
  }
}

TEST_F(ShardedLayers, FloatShardedToAllSumsToLinearsOutput) {
  seed(13);
  const Linear linear(60, kOutput);
  const Tensor x = random_floats({kRows, 60}, 14);
  const auto sharded = ShardedToAllLinear::from_linear(linear);
  const std::int64_t width = 60 / ranks;
  EXPECT_EQ(sharded->parameter("weight").shape(), (Shape{kOutput, width}));
  EXPECT_EQ(sharded->parameter("bias").shape(), (Shape{kOutput}));  // added once, after the sum
  const Tensor y = (*sharded)(columns(x, group.rank() * width, width));
  const Tensor bias = linear.parameter("bias");
  expect_within_sum_bound(y, linear(x), x, linear.parameter("weight"), &bias, ranks);
  EXPECT_EQ(sharded->type_name(), "ShardedToAllLinear");
}

TEST_F(ShardedLayers, QuantizedAllToShardedIsBitForBitInEveryMode) {
  for (const QuantSpec& spec : every_setting()) {
    SCOPED_TRACE(describe(spec));
    seed(21);
    const std::int64_t K = 2 * spec.group_size;
    const auto layer = QuantizedLinear::from_linear(Linear(K, kOutput), spec);
    const Tensor x = random_floats({kRows, K}, 22);
    for (int segments : {1, 3}) {
      const auto sharded = QuantizedAllToShardedLinear::from_quantized_linear(*layer, segments);
      ASSERT_EQ(sharded->quant_spec(), spec);  // the mode travels with the shard
      EXPECT_TRUE((*sharded)(x).bit_equal(sharded_columns((*layer)(x), segments, group)));
      EXPECT_TRUE(sharded->is_frozen("weight") && sharded->is_frozen("scales"));
    }
  }
}

TEST_F(ShardedLayers, QuantizedShardedToAllSumsToTheLayersOutputInEveryMode) {
  for (const QuantSpec& spec : every_setting()) {
    SCOPED_TRACE(describe(spec));
    seed(31);
    const std::int64_t K = kGroupsPerRank * spec.group_size;
    const auto layer = QuantizedLinear::from_linear(Linear(K, kOutput), spec);
    const Tensor bias = random_floats({kOutput}, 32);
    const auto with_bias = QuantizedLinear::from_quantized(
        spec,
        {layer->parameter("weight"), layer->parameter("scales"),
         layer->has_parameter("biases") ? std::optional(layer->parameter("biases")) : std::nullopt},
        bias);
    const Tensor x = random_floats({kRows, K}, 33);
    const auto sharded = QuantizedShardedToAllLinear::from_quantized_linear(*with_bias);
    ASSERT_EQ(sharded->quant_spec(), spec);
    EXPECT_EQ(sharded->input_dims(), K);
    const std::int64_t width = K / ranks;
    const Tensor y = (*sharded)(columns(x, group.rank() * width, width));
    expect_within_sum_bound(y, (*with_bias)(x), x, weight_magnitude(*with_bias), &bias, ranks);
  }
}

TEST_F(ShardedLayers, ShardLinearPicksTheLayerAndShardInplaceKeepsTheType) {
  seed(41);
  const Linear linear(192, kOutput);
  const auto quantized =
      QuantizedLinear::from_linear(linear, QuantSpec::defaults(QuantMode::mxfp8));
  EXPECT_EQ(shard_linear(linear, Sharding::all_to_sharded)->type_name(), "AllToShardedLinear");
  EXPECT_EQ(shard_linear(linear, Sharding::sharded_to_all)->type_name(), "ShardedToAllLinear");
  EXPECT_EQ(shard_linear(*quantized, Sharding::all_to_sharded)->type_name(),
            "QuantizedAllToShardedLinear");
  const ModulePtr to_all =
      shard_linear(*quantized, parse_sharding("shard_linear", "sharded-to-all"));
  EXPECT_EQ(to_all->repr(),
            "QuantizedShardedToAllLinear(input_dims=192, output_dims=18, "
            "bias=True, group_size=32, bits=8, mode=mxfp8)");

  // In place, with segments given as fractions: the same rows as three equal segments.
  const Tensor x = random_floats({kRows, 192}, 42);
  const Tensor expected = sharded_columns(linear(x), 3, group);
  seed(41);
  Linear in_place(192, kOutput);
  shard_inplace(in_place, Sharding::all_to_sharded, Segments(std::vector{1.0 / 3, 2.0 / 3}));
  EXPECT_EQ(in_place.type_name(), "Linear");
  EXPECT_TRUE(in_place(x).bit_equal(expected));
}

TEST_F(ShardedLayers, ConstructorsDrawThisRanksShapes) {
  const AllToShardedLinear to_sharded(64, kOutput);
  EXPECT_EQ(to_sharded.parameter("weight").shape(), (Shape{kOutput / ranks, 64}));
  EXPECT_EQ(to_sharded.parameter("bias").shape(), (Shape{kOutput / ranks}));
  const ShardedToAllLinear to_all(384, kOutput, /*bias=*/false);
  EXPECT_EQ(to_all.parameter("weight").shape(), (Shape{kOutput, 384 / ranks}));
  EXPECT_FALSE(to_all.has_bias());
  const QuantizedShardedToAllLinear quantized(384, kOutput, true,
                                              QuantSpec::defaults(QuantMode::nvfp4));
  EXPECT_EQ(quantized.parameter("weight").shape(), (Shape{kOutput, 384 / ranks / 8}));
  EXPECT_EQ(quantized.parameter("scales").shape(), (Shape{kOutput, 384 / ranks / 16}));
  EXPECT_TRUE(quantized.is_frozen("weight") && quantized.is_frozen("bias"));
  EXPECT_EQ(quantized.input_dims(), 384);
}

TEST_F(ShardedLayers, DimensionsThatDoNotSplitAreRefused) {
  seed(51);
  const Linear linear(64, kOutput);
  EXPECT_THROW(shard_linear(Embedding(4, 8), Sharding::all_to_sharded), std::invalid_argument);
  EXPECT_THROW(parse_sharding("shard_linear", "rows"), std::invalid_argument);
  if (ranks == 1) return;
  const std::string n = std::to_string(ranks);
  const std::string odd = std::to_string(ranks + 1);
  try {
    AllToShardedLinear::from_linear(Linear(8, ranks + 1));
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "[AllToShardedLinear] Cannot shard the output of size " + odd +
                                         " across " + n + " devices.");
  }
  try {  // ranks + 1 groups of 64: never whole groups per rank
    const auto q = QuantizedLinear::from_linear(Linear(64 * (ranks + 1), 4));
    QuantizedShardedToAllLinear::from_quantized_linear(*q);
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "[QuantizedShardedToAllLinear] The input of size " +
                                         std::to_string(64 * (ranks + 1)) + " (" + odd +
                                         " groups of 64) cannot be sharded across " + n +
                                         " devices in whole groups.");
  }
  // 18 outputs in 3 segments of 6 split for 2 and 3 ranks; 2 segments of 9 do not for 2.
  if (ranks == 2) EXPECT_THROW(AllToShardedLinear::from_linear(linear, 2), std::invalid_argument);
}

}  // namespace
}  // namespace qlinear::nn
