// mlx-lm's QuantizedKVCache: growth and offsets as mlx-lm grows it, the conversion of a
// float cache (to_quantized) and when generation makes it, attention over the quantized
// keys and values against a float reference on their dequantized values, and the errors
// of settings quantize refuses. (Tokens against mlx-lm: python/tests/test_lm_models.py.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <string>
#include <vector>

#include "nn/model_fixture.h"
#include "ops/quantized_attention.h"
#include "qlinear/float_ops.h"
#include "qlinear/lm.h"
#include "qlinear/random.h"
#include "qlinear/runtime.h"

namespace qlinear {
namespace {

// (1, heads, T, D) float32 normal values.
Tensor heads_of(std::int64_t heads, std::int64_t T, std::int64_t D, std::uint32_t seed) {
  return random_normal({1, heads, T, D}, Dtype::float32, seed);
}

// Positions [begin, end) of each head of t (1, heads, *, w), as a tensor of their own.
Tensor positions(const Tensor& t, std::int64_t begin, std::int64_t end) {
  const std::int64_t heads = t.dim(1), rows = t.dim(2), width = t.dim(3);
  const std::size_t row_bytes = static_cast<std::size_t>(width) * size_of(t.dtype());
  Tensor out = Tensor::zeros({1, heads, end - begin, width}, t.dtype());
  for (std::int64_t h = 0; h < heads; ++h) {
    std::copy_n(static_cast<const char*>(t.data()) + (h * rows + begin) * row_bytes,
                (end - begin) * row_bytes,
                static_cast<char*>(out.mutable_data()) + h * (end - begin) * row_bytes);
  }
  return out;
}

// The first n positions of a quantized cache tensor, dequantized.
Tensor dequantized(const Quantized& q, std::int64_t n, const QuantSpec& spec) {
  return dequantize(positions(q.wq, 0, n), positions(q.scales, 0, n), positions(*q.biases, 0, n),
                    spec.group_size, spec.bits);
}

// mlx-lm's QuantizedKVCache.update_and_fetch: 100 positions take one step of 256; 200
// more cut the cache to its 100 and add 256 (356); 56 fit; 1 more adds 256 again.
TEST(QuantizedKVCache, GrowsAndStoresAsMlxLm) {
  const QuantSpec spec{32, 4, QuantMode::affine};
  lm::QuantizedKVCache cache(spec.group_size, spec.bits);
  const std::int64_t heads = 2, D = 64;
  const std::vector<std::int64_t> appends = {100, 200, 56, 1};
  const std::vector<std::int64_t> capacities = {256, 356, 356, 612};
  std::vector<Tensor> keys, values;
  std::int64_t offset = 0;
  for (std::size_t i = 0; i < appends.size(); ++i) {
    keys.push_back(heads_of(heads, appends[i], D, 10 + i));
    values.push_back(heads_of(heads, appends[i], D, 20 + i));
    cache.update(keys.back(), values.back());
    offset += appends[i];
    EXPECT_EQ(cache.offset(), offset);
    EXPECT_EQ(cache.keys().wq.shape(), (Shape{1, heads, capacities[i], D * 4 / 32}));
    EXPECT_EQ(cache.values().scales.shape(), (Shape{1, heads, capacities[i], D / 32}));
    // Per position: wq 8 words, scales and biases 2 floats each, for keys and values.
    EXPECT_EQ(cache.nbytes(), static_cast<std::size_t>(2 * heads * capacities[i] * (8 + 4) * 4));
  }
  // Every stored position holds what quantize gives the position it came from.
  std::int64_t at = 0;
  for (std::size_t i = 0; i < appends.size(); ++i) {
    const Quantized k = quantize(keys[i], spec.group_size, spec.bits);
    const Quantized v = quantize(values[i], spec.group_size, spec.bits);
    const std::int64_t end = at + appends[i];
    EXPECT_TRUE(positions(cache.keys().wq, at, end).bit_equal(k.wq)) << i;
    EXPECT_TRUE(positions(cache.keys().scales, at, end).bit_equal(k.scales)) << i;
    EXPECT_TRUE(positions(*cache.keys().biases, at, end).bit_equal(*k.biases)) << i;
    EXPECT_TRUE(positions(cache.values().wq, at, end).bit_equal(v.wq)) << i;
    EXPECT_TRUE(positions(*cache.values().biases, at, end).bit_equal(*v.biases)) << i;
    at = end;
  }
}

TEST(QuantizedKVCache, RefusesWhatQuantizeRefuses) {
  EXPECT_THROW(lm::QuantizedKVCache(64, 7), std::invalid_argument);
  EXPECT_THROW(lm::QuantizedKVCache(48, 4), std::invalid_argument);
  lm::QuantizedKVCache cache(64, 8);
  try {
    cache.update(heads_of(2, 1, 32, 1), heads_of(2, 1, 32, 2));
    FAIL() << "a head_dim of 32 in groups of 64 was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(
        e.what(),
        "[QuantizedKVCache] keys (1, 2, 1, 32) and values (1, 2, 1, 32) do not fit the cache "
        "(group size 64).");
  }
}

// to_quantized and maybe_quantize_kv_cache: a layer converts once its offset reaches
// quantized_kv_start, keeping its offset and the float cache's positions quantized.
TEST(QuantizedKVCache, ConvertsAFloatCacheAtTheStart) {
  lm::Cache cache(2);
  const Tensor keys = heads_of(2, 5, 64, 3), values = heads_of(2, 5, 64, 4);
  cache[0].float_cache()->update(keys, values);
  lm::maybe_quantize_kv_cache(cache, 6, 64, 8);
  EXPECT_NE(cache[0].float_cache(), nullptr);
  lm::maybe_quantize_kv_cache(cache, 5, 64, std::nullopt);  // no kv_bits: stays float
  EXPECT_NE(cache[0].float_cache(), nullptr);
  lm::maybe_quantize_kv_cache(cache, 5, 64, 8);
  const lm::QuantizedKVCache* converted = cache[0].quantized_cache();
  ASSERT_NE(converted, nullptr);
  EXPECT_EQ(converted->offset(), 5);
  EXPECT_EQ(converted->bits(), 8);
  EXPECT_EQ(converted->keys().wq.dim(2), lm::KVCache::kStep);  // the float capacity
  const Quantized k = quantize(keys, 64, 8);
  EXPECT_TRUE(positions(converted->keys().wq, 0, 5).bit_equal(k.wq));
  EXPECT_TRUE(positions(converted->keys().scales, 0, 5).bit_equal(k.scales));
  // The empty layer (offset 0) waits for its start; from 0 on it converts empty.
  EXPECT_NE(cache[1].float_cache(), nullptr);
  lm::maybe_quantize_kv_cache(cache, 0, 64, 8);
  ASSERT_NE(cache[1].quantized_cache(), nullptr);
  EXPECT_EQ(cache[1].offset(), 0);
  EXPECT_EQ(cache[1].nbytes(), 0u);
}

struct AttentionCase {
  int bits, group_size;
  std::int64_t heads, kv_heads, D, before, Tq;
};

// The quantized products against the float attention on the dequantized keys and values.
// Both compute the same sums in float32 in another order (the kernels use the affine
// identity s * (x . q) + b * sum(x)): each score is off by at most 2 D u sum|q||k|, a
// probability p by about p * 2 * max|score error|, each output by max|v| times that
// plus the Tk u of its own sum. A factor 4 covers the softmax's own rounding.
TEST(QuantizedAttention, MatchesFloatAttentionOnDequantizedKeysAndValues) {
  const float u = FLT_EPSILON / 2;
  for (const AttentionCase c : {AttentionCase{8, 64, 4, 2, 64, 300, 1},
                                {4, 32, 4, 2, 64, 40, 5},
                                {4, 64, 8, 8, 128, 0, 7},
                                {8, 32, 6, 2, 64, 260, 3}}) {
    SCOPED_TRACE("bits " + std::to_string(c.bits) + " group " + std::to_string(c.group_size) +
                 " heads " + std::to_string(c.heads) + " Tq " + std::to_string(c.Tq));
    const QuantSpec spec{c.group_size, c.bits, QuantMode::affine};
    lm::QuantizedKVCache cache(c.group_size, c.bits);
    if (c.before > 0)
      cache.update(heads_of(c.kv_heads, c.before, c.D, 5), heads_of(c.kv_heads, c.before, c.D, 6));
    cache.update(heads_of(c.kv_heads, c.Tq, c.D, 7), heads_of(c.kv_heads, c.Tq, c.D, 8));
    const std::int64_t Tk = cache.offset();
    const Tensor q = heads_of(c.heads, c.Tq, c.D, 9);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.D));
    const Tensor ours = ops::quantized_attention_prefix("test", q, cache.keys(), cache.values(),
                                                        spec, Tk, scale, true);
    const Tensor k = dequantized(cache.keys(), Tk, spec), v = dequantized(cache.values(), Tk, spec);
    const Tensor reference = scaled_dot_product_attention(q, k, v, scale, "causal");
    ASSERT_EQ(ours.shape(), reference.shape());

    const std::vector<float> qf = q.to_floats(), kf = k.to_floats(), vf = v.to_floats();
    float qk_abs = 0, v_max = 0;
    for (float x : vf) v_max = std::max(v_max, std::abs(x));
    const std::int64_t repeats = c.heads / c.kv_heads;
    for (std::int64_t h = 0; h < c.heads; ++h) {
      for (std::int64_t i = 0; i < c.Tq; ++i) {
        for (std::int64_t j = 0; j < Tk; ++j) {
          float s = 0;
          for (std::int64_t d = 0; d < c.D; ++d) {
            s += std::abs(qf[(h * c.Tq + i) * c.D + d] * kf[((h / repeats) * Tk + j) * c.D + d]);
          }
          qk_abs = std::max(qk_abs, scale * s);
        }
      }
    }
    const float score_error = 2 * c.D * u * qk_abs;
    const float bound = 4 * v_max * (2 * score_error + Tk * u);
    const std::vector<float> a = ours.to_floats(), b = reference.to_floats();
    for (std::size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], bound) << i;
  }
}

// One kv head per thread or the threads inside each product: the same bits.
TEST(QuantizedAttention, ThreadCountDoesNotChangeTheResult) {
  const QuantSpec spec{64, 8, QuantMode::affine};
  lm::QuantizedKVCache cache(64, 8);
  cache.update(heads_of(4, 700, 64, 11), heads_of(4, 700, 64, 12));
  const Tensor q = heads_of(8, 2, 64, 13);
  auto run = [&](int threads) {
    set_num_threads(threads);
    return ops::quantized_attention_prefix("test", q, cache.keys(), cache.values(), spec, 700,
                                           0.125f, true);
  };
  const Tensor one = run(1), two = run(2), three = run(3);
  set_num_threads(0);
  EXPECT_TRUE(one.bit_equal(two));
  EXPECT_TRUE(one.bit_equal(three));
}

std::string attention_error(const Tensor& q, const Quantized& k, const Quantized& v,
                            std::string_view mask = "", int group_size = 64) {
  try {
    lm::quantized_scaled_dot_product_attention(q, k, v, 1.0f, mask, group_size, 8);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

// The public op on whole (unpadded) keys and values: the cache's arithmetic, and errors
// naming the shapes.
TEST(QuantizedAttention, PublicOpChecksItsInputs) {
  const Quantized k = quantize(heads_of(2, 9, 64, 1), 64, 8);
  const Quantized v = quantize(heads_of(2, 9, 64, 2), 64, 8);
  const Tensor q = heads_of(4, 3, 64, 3);
  const Tensor ours = lm::quantized_scaled_dot_product_attention(q, k, v, 0.125f, "causal");
  EXPECT_TRUE(
      ours.bit_equal(ops::quantized_attention_prefix("test", q, k, v, {64, 8}, 9, 0.125f, true)));
  EXPECT_EQ(attention_error(heads_of(3, 3, 64, 3), k, v),
            "[quantized_scaled_dot_product_attention] queries (1, heads, L, D) with shape (1, 3, "
            "3, 64) do not fit the quantized keys with shape (1, 2, 9, 16) (1, kv_heads, T, D * "
            "bits / 32), heads a multiple of kv_heads, bits=8.");
  EXPECT_EQ(attention_error(q, k, quantize(heads_of(2, 8, 64, 2), 64, 8)),
            "[quantized_scaled_dot_product_attention] queries (1, heads, L, D) with shape (1, 4, "
            "3, 64) do not fit the quantized values with shape (1, 2, 8, 16) (1, kv_heads, T, D * "
            "bits / 32), heads a multiple of kv_heads, bits=8.");
  EXPECT_EQ(attention_error(q, k, v, "window"),
            "[quantized_scaled_dot_product_attention] mask must be \"\" or \"causal\", not "
            "\"window\".");
  EXPECT_NE(attention_error(q, k, v, "", 32).find("[quantized_scaled_dot_product_attention] "),
            std::string::npos);
  EXPECT_EQ(attention_error(heads_of(4, 10, 64, 3), k, v, "causal"),
            "[quantized_scaled_dot_product_attention] A causal mask needs at least as many keys "
            "as queries, got 9 keys for 10 queries.");
}

using KvGenerateTest = testing::ModelFolderTest;

std::string generate_error(const lm::Model& model, const lm::GenerateOptions& options) {
  try {
    lm::generate(model, {1, 2, 3}, options, [](std::int64_t) { return true; });
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

TEST_F(KvGenerateTest, RefusesKvSettingsQuantizeRefuses) {
  const lm::LoadedLm loaded = lm::load(float_dir());  // head_dim 16
  EXPECT_EQ(generate_error(*loaded.model, {.max_tokens = 2, .eos_tokens = {}, .kv_bits = 7}),
            "[generate] The requested number of bits 7 is not supported. The supported bits are 1, "
            "2, 3, 4, 5, 6 and 8.");
  EXPECT_EQ(generate_error(*loaded.model,
                           {.max_tokens = 2, .eos_tokens = {}, .kv_bits = 4, .kv_group_size = 48}),
            "[generate] The requested group size 48 is not supported. The supported group sizes "
            "are 32, 64 and 128.");
  EXPECT_EQ(generate_error(*loaded.model, {.max_tokens = 2, .eos_tokens = {}, .kv_bits = 4}),
            "[generate] kv_group_size 64 does not divide the head dimension 16 the keys and "
            "values are quantized along.");
}

// With quantized_kv_start beyond the whole sequence the cache stays float: the tokens of
// plain generation, whatever kv_bits says; from 0 the cache is quantized after the
// prefill, which changes the logits by the quantization error, not the first token.
TEST_F(KvGenerateTest, AStartBeyondTheSequenceKeepsTheFloatCache) {
  SyntheticModelShape shape = testing::small_shape();
  shape.hidden = 128;  // head_dim 32: one group of 32
  shape.blocks = 2;
  write_synthetic_model(dir("kv"), shape, 2);
  const lm::LoadedLm loaded = lm::load(dir("kv"));
  auto tokens = [&](const lm::GenerateOptions& options) {
    std::vector<std::int64_t> out;
    lm::generate(*loaded.model, {3, 17, 42, 9, 60}, options, [&](std::int64_t t) {
      out.push_back(t);
      return true;
    });
    return out;
  };
  lm::GenerateOptions float_cache;
  float_cache.max_tokens = 8;
  const std::vector<std::int64_t> plain = tokens(float_cache);
  EXPECT_EQ(plain, tokens({.max_tokens = 8,
                           .eos_tokens = {},
                           .kv_bits = 4,
                           .kv_group_size = 32,
                           .quantized_kv_start = 64}));
  EXPECT_EQ(tokens({.max_tokens = 1, .eos_tokens = {}, .kv_bits = 8, .kv_group_size = 32})[0],
            plain[0]);
}

}  // namespace
}  // namespace qlinear
