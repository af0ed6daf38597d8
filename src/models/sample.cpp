#include "qlinear/sample.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>

namespace qlinear::lm {
namespace {

constexpr float kMasked = -std::numeric_limits<float>::infinity();

// Indices of the k largest entries (ties towards the lower index), in no particular order.
std::vector<std::int64_t> largest(std::span<const float> values, std::int64_t k) {
  std::vector<std::int64_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::nth_element(order.begin(), order.begin() + (k - 1), order.end(), [&](auto a, auto b) {
    return values[a] > values[b] || (values[a] == values[b] && a < b);
  });
  order.resize(static_cast<std::size_t>(k));
  return order;
}

// One categorical draw from softmax(logprobs * inv_temp) by inverse CDF on `uniform` in [0, 1).
std::int64_t categorical(std::span<const float> logprobs, float inv_temp, double uniform) {
  float top = kMasked;
  for (float v : logprobs) top = std::max(top, v * inv_temp);
  std::vector<double> weights(logprobs.size());
  double total = 0;
  for (std::size_t i = 0; i < logprobs.size(); ++i) {
    weights[i] = std::exp(double(logprobs[i] * inv_temp) - top);
    total += weights[i];
  }
  const double target = uniform * total;
  double below = 0;
  std::int64_t last_possible = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] == 0) continue;
    below += weights[i];
    last_possible = static_cast<std::int64_t>(i);
    if (target < below) return last_possible;
  }
  return last_possible;  // target rounded onto the total
}

// Python's tokens[-context_size:] (0 keeps them all).
std::span<const std::int64_t> last_tokens(std::span<const std::int64_t> tokens,
                                          std::int64_t context_size) {
  const auto n = static_cast<std::int64_t>(tokens.size());
  if (context_size == 0 || context_size >= n) return tokens;
  return tokens.subspan(static_cast<std::size_t>(n - context_size));
}

void check_token(std::int64_t token, std::size_t vocab, const char* processor) {
  if (token < 0 || static_cast<std::size_t>(token) >= vocab) {
    throw std::invalid_argument(std::string("[") + processor + "] token " + std::to_string(token) +
                                " is outside the logits' " + std::to_string(vocab) + " entries.");
  }
}

// Applies `update(logit)` to each distinct token of the context once (mlx-lm gathers the
// context's logits, updates them and scatters them back).
template <class Update>
LogitsProcessor per_distinct_token(std::int64_t context_size, const char* name, Update update) {
  return [=](std::span<const std::int64_t> tokens, std::span<float> logits) {
    const auto context = last_tokens(tokens, context_size);
    std::vector<float> original(context.size());
    for (std::size_t i = 0; i < context.size(); ++i) {
      check_token(context[i], logits.size(), name);
      original[i] = logits[static_cast<std::size_t>(context[i])];
    }
    for (std::size_t i = 0; i < context.size(); ++i) {
      logits[static_cast<std::size_t>(context[i])] = update(original[i]);
    }
  };
}

void check_min_p(float min_p, std::int64_t min_tokens_to_keep) {
  if (!(min_p >= 0 && min_p <= 1)) {
    throw std::invalid_argument(
        "[apply_min_p] `min_p` has to be a float in the [0, 1] "
        "interval, but is " +
        std::to_string(min_p));
  }
  if (min_tokens_to_keep < 1) {
    throw std::invalid_argument(
        "[apply_min_p] `min_tokens_to_keep` has to be a positive integer, but is " +
        std::to_string(min_tokens_to_keep));
  }
}

void check_context_size(std::int64_t size, const char* name) {
  if (size < 0) {
    throw std::invalid_argument(std::string("[make_logits_processors] ") + name +
                                " must be >= 0, got " + std::to_string(size) + ".");
  }
}

}  // namespace

std::int64_t greedy_sample(std::span<const float> logprobs) {
  return std::max_element(logprobs.begin(), logprobs.end()) - logprobs.begin();
}

void apply_top_p(std::span<float> logprobs, float top_p) {
  // mlx-lm: sort ascending, mass_above[i] = float32 sum of the probabilities after i; the
  // first num_dropped positions, whose mass above still reaches top_p of the total, go.
  std::vector<float> sorted(logprobs.begin(), logprobs.end());
  std::sort(sorted.begin(), sorted.end());
  const std::size_t n = sorted.size();
  std::vector<float> mass_above(n);
  float running = 0;
  for (std::size_t i = n; i-- > 0;) {
    mass_above[i] = running;
    running += std::exp(sorted[i]);
  }
  const float total = mass_above[0] + std::exp(sorted[0]);
  const float cut = top_p * total;
  const auto dropped =
      std::count_if(mass_above.begin(), mass_above.end(), [&](float mass) { return mass >= cut; });
  const float threshold = sorted[static_cast<std::size_t>(dropped)];
  for (float& v : logprobs) {
    if (v < threshold) v = kMasked;
  }
}

void apply_min_p(std::span<float> logprobs, float min_p, std::int64_t min_tokens_to_keep) {
  check_min_p(min_p, min_tokens_to_keep);
  if (logprobs.empty()) return;
  const float top = *std::max_element(logprobs.begin(), logprobs.end());
  const float scaled_min_p = top + static_cast<float>(std::log(double(min_p)));
  std::vector<char> drop(logprobs.size());
  for (std::size_t i = 0; i < logprobs.size(); ++i) drop[i] = logprobs[i] < scaled_min_p;
  if (min_tokens_to_keep > 1) {
    const auto keep = std::min<std::int64_t>(min_tokens_to_keep, std::ssize(logprobs));
    for (std::int64_t i : largest(logprobs, keep)) drop[static_cast<std::size_t>(i)] = 0;
  }
  for (std::size_t i = 0; i < logprobs.size(); ++i) {
    if (drop[i]) logprobs[i] = kMasked;
  }
}

void apply_top_k(std::span<float> logprobs, std::int64_t top_k) {
  const auto vocab = std::ssize(logprobs);
  if (!(top_k > 0 && top_k < vocab)) {
    throw std::invalid_argument("[apply_top_k] `top_k` has to be an integer in the (0, " +
                                std::to_string(vocab) + ") interval, but is " +
                                std::to_string(top_k) + ".");
  }
  std::vector<char> keep(logprobs.size());
  for (std::int64_t i : largest(logprobs, top_k)) keep[static_cast<std::size_t>(i)] = 1;
  for (std::size_t i = 0; i < logprobs.size(); ++i) {
    if (!keep[i]) logprobs[i] = kMasked;
  }
}

Sampler make_sampler(const SamplerOptions& options, std::uint64_t seed) {
  if (!(options.temp >= 0)) {
    throw std::invalid_argument("[make_sampler] `temp` has to be >= 0, but is " +
                                std::to_string(options.temp));
  }
  if (options.temp == 0) return greedy_sample;
  // As mlx-lm, min_tokens_to_keep is only checked (and used) with min_p.
  if (options.min_p != 0) check_min_p(options.min_p, options.min_tokens_to_keep);
  auto engine = std::make_shared<std::mt19937_64>(seed);
  // mlx-lm multiplies by the float32 rounding of 1 / temp.
  const auto inv_temp = static_cast<float>(1.0 / double(options.temp));
  return [options, engine, inv_temp](std::span<const float> logprobs) {
    std::vector<float> filtered(logprobs.begin(), logprobs.end());
    if (0 < options.top_p && options.top_p < 1) apply_top_p(filtered, options.top_p);
    if (options.min_p != 0) apply_min_p(filtered, options.min_p, options.min_tokens_to_keep);
    if (options.top_k > 0) apply_top_k(filtered, options.top_k);
    const double uniform = double((*engine)() >> 11) * 0x1.0p-53;  // 53 random bits in [0, 1)
    return categorical(filtered, inv_temp, uniform);
  };
}

std::vector<LogitsProcessor> make_logits_processors(const LogitsProcessorOptions& options) {
  check_context_size(options.repetition_context_size, "repetition_context_size");
  check_context_size(options.presence_context_size, "presence_context_size");
  check_context_size(options.frequency_context_size, "frequency_context_size");
  std::vector<LogitsProcessor> processors;
  if (!options.logit_bias.empty()) {
    processors.push_back(
        [bias = options.logit_bias](std::span<const std::int64_t>, std::span<float> logits) {
          for (const auto& [token, value] : bias) {
            check_token(token, logits.size(), "logit_bias");
            logits[static_cast<std::size_t>(token)] += value;
          }
        });
  }
  if (const auto p = options.repetition_penalty; p && *p != 0) {
    if (*p < 0) {
      throw std::invalid_argument(
          "[make_logits_processors] penalty must be a non-negative "
          "float, got " +
          std::to_string(*p));
    }
    processors.push_back(
        per_distinct_token(options.repetition_context_size, "repetition_penalty",
                           [p = *p](float logit) { return logit < 0 ? logit * p : logit / p; }));
  }
  if (const auto p = options.presence_penalty; p && *p != 0) {
    processors.push_back(per_distinct_token(options.presence_context_size, "presence_penalty",
                                            [p = *p](float logit) { return logit - p; }));
  }
  if (const auto p = options.frequency_penalty; p && *p != 0) {
    processors.push_back([p = *p, size = options.frequency_context_size](
                             std::span<const std::int64_t> tokens, std::span<float> logits) {
      for (std::int64_t token : last_tokens(tokens, size)) {
        check_token(token, logits.size(), "frequency_penalty");
        logits[static_cast<std::size_t>(token)] -= p;
      }
    });
  }
  return processors;
}

}  // namespace qlinear::lm
