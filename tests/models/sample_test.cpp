// mlx-lm's sampling rules (sample_utils.py) on fixed log-probabilities, each filter
// against a plain restatement of its rule in double precision; the categorical draw
// against the softmax it samples; the logits processors' values. Agreement with mlx-lm's
// own functions is checked live by python/tests/test_sampling.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "qlinear/sample.h"

namespace qlinear {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// log-softmax of normal logits with the given spread: distinct values, no ties.
std::vector<float> random_logprobs(std::size_t vocab, std::uint32_t seed, float spread = 2.0f) {
  std::mt19937 engine(seed);
  std::normal_distribution<float> normal(0.0f, spread);
  std::vector<float> logits(vocab);
  for (float& v : logits) v = normal(engine);
  const float top = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float v : logits) sum += std::exp(double(v) - top);
  for (float& v : logits) v -= static_cast<float>(top + std::log(sum));
  return logits;
}

std::vector<bool> kept(const std::vector<float>& filtered) {
  std::vector<bool> k(filtered.size());
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = filtered[i] != -kInf;
  return k;
}

// Indices by decreasing probability.
std::vector<std::size_t> by_probability(const std::vector<float>& logprobs) {
  std::vector<std::size_t> order(logprobs.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return logprobs[a] > logprobs[b]; });
  return order;
}

TEST(Sampling, TopPKeepsTheSmallestSetReachingTheMass) {
  for (float top_p : {0.05f, 0.3f, 0.5f, 0.9f, 0.99f}) {
    const std::vector<float> logprobs = random_logprobs(200, 7);
    // Reference: walking from the most likely token, keep it while the mass of the more
    // likely ones is still below top_p.
    std::vector<bool> expected(logprobs.size());
    double before = 0;
    for (std::size_t i : by_probability(logprobs)) {
      expected[i] = before < top_p;
      before += std::exp(double(logprobs[i]));
    }
    std::vector<float> filtered = logprobs;
    lm::apply_top_p(filtered, top_p);
    EXPECT_EQ(kept(filtered), expected) << "top_p " << top_p;
    for (std::size_t i = 0; i < filtered.size(); ++i) {
      if (expected[i]) {
        EXPECT_EQ(filtered[i], logprobs[i]);  // kept values untouched
      }
    }
  }
}

TEST(Sampling, TopPKeepsTiesAtTheCut) {
  // Four equally likely tokens: 0.3 of the mass needs two, the tie keeps all four.
  std::vector<float> logprobs(4, std::log(0.25f));
  lm::apply_top_p(logprobs, 0.3f);
  EXPECT_EQ(kept(logprobs), std::vector<bool>(4, true));
}

TEST(Sampling, MinPDropsTokensBelowItsShareOfTheTop) {
  const std::vector<float> logprobs = random_logprobs(300, 11);
  const double top = std::exp(double(*std::max_element(logprobs.begin(), logprobs.end())));
  for (float min_p : {0.01f, 0.1f, 0.5f, 1.0f}) {
    std::vector<float> filtered = logprobs;
    lm::apply_min_p(filtered, min_p);
    for (std::size_t i = 0; i < logprobs.size(); ++i) {
      const double p = std::exp(double(logprobs[i]));
      // Away from the cut (float32 log-space arithmetic), the rule p >= min_p * p_max.
      if (std::abs(p / (min_p * top) - 1) < 1e-5) continue;
      EXPECT_EQ(filtered[i] != -kInf, p >= min_p * top) << "min_p " << min_p << " token " << i;
    }
  }
}

TEST(Sampling, MinPKeepsTheMinimumNumberOfTokens) {
  const std::vector<float> logprobs = random_logprobs(50, 3);
  std::vector<float> filtered = logprobs;
  lm::apply_min_p(filtered, 1.0f, 5);  // only the top survives min_p = 1 alone
  const std::vector<std::size_t> order = by_probability(logprobs);
  for (std::size_t rank = 0; rank < order.size(); ++rank) {
    EXPECT_EQ(filtered[order[rank]] != -kInf, rank < 5) << rank;
  }
}

TEST(Sampling, TopKKeepsTheKMostLikely) {
  const std::vector<float> logprobs = random_logprobs(100, 5);
  const std::vector<std::size_t> order = by_probability(logprobs);
  for (std::int64_t k : {1, 2, 10, 99}) {
    std::vector<float> filtered = logprobs;
    lm::apply_top_k(filtered, k);
    for (std::size_t rank = 0; rank < order.size(); ++rank) {
      EXPECT_EQ(filtered[order[rank]] != -kInf, std::int64_t(rank) < k) << k << " " << rank;
    }
  }
}

TEST(Sampling, FilterArgumentsAreCheckedInMlxLmsWords) {
  std::vector<float> logprobs = random_logprobs(10, 1);
  EXPECT_THROW(
      {
        try {
          lm::apply_top_k(logprobs, 10);
        } catch (const std::invalid_argument& e) {
          EXPECT_STREQ(e.what(),
                       "[apply_top_k] `top_k` has to be an integer in the (0, 10) interval, "
                       "but is 10.");
          throw;
        }
      },
      std::invalid_argument);
  EXPECT_THROW(lm::apply_top_k(logprobs, 0), std::invalid_argument);
  EXPECT_THROW(lm::apply_min_p(logprobs, 1.5f), std::invalid_argument);
  EXPECT_THROW(lm::apply_min_p(logprobs, 0.1f, 0), std::invalid_argument);
  EXPECT_THROW(lm::make_sampler({.temp = -1}, 0), std::invalid_argument);
  EXPECT_THROW(lm::make_sampler({.temp = 1, .min_p = 2}, 0), std::invalid_argument);
  // top_k's range depends on the vocabulary: checked when the sampler runs.
  const lm::Sampler sampler = lm::make_sampler({.temp = 1, .top_k = 10}, 0);
  EXPECT_THROW(sampler(logprobs), std::invalid_argument);
}

TEST(Sampling, TemperatureZeroIsGreedy) {
  const std::vector<float> logprobs = random_logprobs(1000, 9);
  const auto argmax = std::max_element(logprobs.begin(), logprobs.end()) - logprobs.begin();
  // Filters do not matter at temperature 0 (mlx-lm returns its greedy sampler).
  const lm::Sampler sampler = lm::make_sampler({.temp = 0, .top_p = 0.5f, .top_k = 3}, 1);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(sampler(logprobs), argmax);
  EXPECT_EQ(lm::greedy_sample(logprobs), argmax);
}

TEST(Sampling, ASeedReproducesItsTokens) {
  const std::vector<float> logprobs = random_logprobs(64, 2, 0.5f);
  const auto draw = [&](std::uint64_t seed) {
    const lm::Sampler sampler = lm::make_sampler({.temp = 1}, seed);
    std::vector<std::int64_t> tokens;
    for (int i = 0; i < 50; ++i) tokens.push_back(sampler(logprobs));
    return tokens;
  };
  EXPECT_EQ(draw(42), draw(42));
  EXPECT_NE(draw(42), draw(43));
}

TEST(Sampling, DrawsFollowTheTemperedSoftmax) {
  const std::vector<float> logprobs = {std::log(0.5f), std::log(0.3f), std::log(0.15f),
                                       std::log(0.05f)};
  for (float temp : {1.0f, 0.5f, 2.0f}) {
    std::vector<double> expected(4);
    for (std::size_t i = 0; i < 4; ++i) expected[i] = std::exp(logprobs[i] / temp);
    const double total = std::accumulate(expected.begin(), expected.end(), 0.0);
    const lm::Sampler sampler = lm::make_sampler({.temp = temp}, 123);
    constexpr int kDraws = 20000;
    std::vector<int> counts(4);
    for (int i = 0; i < kDraws; ++i) ++counts[static_cast<std::size_t>(sampler(logprobs))];
    for (std::size_t i = 0; i < 4; ++i) {
      const double p = expected[i] / total;
      const double sigma = std::sqrt(p * (1 - p) / kDraws);
      EXPECT_NEAR(counts[i] / double(kDraws), p, 5 * sigma) << "temp " << temp << " token " << i;
    }
  }
}

TEST(Sampling, DrawsOnlyWhatTheFiltersKeep) {
  const std::vector<float> logprobs = random_logprobs(40, 4, 1.0f);
  const std::vector<std::size_t> order = by_probability(logprobs);
  const lm::Sampler sampler = lm::make_sampler({.temp = 5, .top_k = 3}, 7);
  std::vector<int> counts(logprobs.size());
  for (int i = 0; i < 3000; ++i) ++counts[static_cast<std::size_t>(sampler(logprobs))];
  for (std::size_t rank = 0; rank < order.size(); ++rank) {
    if (rank < 3) {
      EXPECT_GT(counts[order[rank]], 0) << rank;
    } else {
      EXPECT_EQ(counts[order[rank]], 0) << rank;
    }
  }
}

TEST(LogitsProcessors, RepetitionPenaltyScalesEachRecentTokenOnce) {
  const std::vector<float> logits = {2.0f, -1.0f, 0.5f, -3.0f, 4.0f};
  const auto processors =
      lm::make_logits_processors({.repetition_penalty = 2.0f, .repetition_context_size = 3});
  ASSERT_EQ(processors.size(), 1u);
  std::vector<float> out = logits;
  // Context size 3: tokens 1, 3, 1 (token 4 is too old); token 1 counts once.
  const std::vector<std::int64_t> tokens = {4, 1, 3, 1};
  processors[0](tokens, out);
  EXPECT_EQ(out, (std::vector<float>{2.0f, -2.0f, 0.5f, -6.0f, 4.0f}));
}

TEST(LogitsProcessors, PresenceFrequencyAndBias) {
  const std::vector<std::int64_t> tokens = {0, 2, 2, 2};
  const auto processors = lm::make_logits_processors({.logit_bias = {{1, 0.5f}},
                                                      .presence_penalty = 1.0f,
                                                      .frequency_penalty = 0.25f,
                                                      .frequency_context_size = 2});
  ASSERT_EQ(processors.size(), 3u);
  std::vector<float> logits = {1.0f, 1.0f, 1.0f};
  for (const auto& process : processors) process(tokens, logits);
  // bias on 1; presence once on 0 and 2; frequency on the last two tokens (2 twice).
  EXPECT_EQ(logits, (std::vector<float>{0.0f, 1.5f, -0.5f}));
}

TEST(LogitsProcessors, ContextSizeZeroMeansEveryToken) {
  const auto processors =
      lm::make_logits_processors({.repetition_penalty = 2.0f, .repetition_context_size = 0});
  std::vector<float> logits = {4.0f, 4.0f, 4.0f};
  processors[0](std::vector<std::int64_t>{0, 1}, logits);
  EXPECT_EQ(logits, (std::vector<float>{2.0f, 2.0f, 4.0f}));
}

TEST(LogitsProcessors, BadArgumentsAreErrors) {
  EXPECT_THROW(lm::make_logits_processors({.repetition_penalty = -1.0f}), std::invalid_argument);
  EXPECT_THROW(
      lm::make_logits_processors({.repetition_penalty = 1.5f, .repetition_context_size = -1}),
      std::invalid_argument);
  EXPECT_TRUE(lm::make_logits_processors({.repetition_penalty = 0.0f}).empty());
  const auto bias = lm::make_logits_processors({.logit_bias = {{7, 1.0f}}});
  std::vector<float> logits(3);
  EXPECT_THROW(bias[0](std::vector<std::int64_t>{}, logits), std::invalid_argument);
}

}  // namespace
}  // namespace qlinear
