// Sampling and logits processors as mlx-lm 0.32.2's sample_utils: make_sampler (temp,
// top_p, min_p with min_tokens_to_keep, top_k) and make_logits_processors (logit_bias,
// repetition, presence and frequency penalties), with the same filtering order and rules.
//
// The random stream is qlinear's own (std::mt19937_64 from the seed, one uniform double
// per sampled token, inverse-CDF categorical draw), not MLX's: a seed reproduces qlinear's
// tokens on any machine and thread count, not mlx-lm's.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <vector>

namespace qlinear::lm {

// Picks a token from the log-probabilities of one position (vocab entries; -inf = masked).
using Sampler = std::function<std::int64_t(std::span<const float> logprobs)>;
// Rewrites the logits of one position in place, given every token so far (prompt and
// generated, oldest first).
using LogitsProcessor =
    std::function<void(std::span<const std::int64_t> tokens, std::span<float> logits)>;

struct SamplerOptions {
  float temp = 0;   // 0: greedy (argmax), whatever the filters say
  float top_p = 0;  // applied when 0 < top_p < 1
  float min_p = 0;  // applied when != 0; must be in [0, 1]
  std::int64_t min_tokens_to_keep = 1;
  std::int64_t top_k = 0;  // applied when > 0; must be < vocab
};

// mlx-lm's make_sampler: greedy for temp 0, else top_p, min_p, top_k (in that order) on
// the log-probabilities, then a categorical draw from softmax(logprobs / temp). Copies of
// the returned sampler share one random stream. Throws std::invalid_argument for
// temp < 0, min_p outside [0, 1] or min_tokens_to_keep < 1.
Sampler make_sampler(const SamplerOptions& options, std::uint64_t seed);

// mlx-lm's greedy_sampler: the index of the largest entry (the first on ties).
std::int64_t greedy_sample(std::span<const float> logprobs);

// The filters, in place on one position's log-probabilities (masked entries become -inf).
// top_p: drops the least likely tokens whose total probability stays below 1 - top_p
// (ties at the cut kept). min_p: drops tokens less likely than min_p times the most likely
// one, keeping the min_tokens_to_keep most likely. top_k: keeps the k most likely (ties
// broken towards the lower index); 0 < k < vocab or std::invalid_argument.
void apply_top_p(std::span<float> logprobs, float top_p);
void apply_min_p(std::span<float> logprobs, float min_p, std::int64_t min_tokens_to_keep = 1);
void apply_top_k(std::span<float> logprobs, std::int64_t top_k);

struct LogitsProcessorOptions {
  std::map<std::int64_t, float> logit_bias = {};  // added to those tokens' logits
  // Each penalty applies when given and != 0, to the last context_size tokens
  // (0: all of them, Python's tokens[-0:]).
  std::optional<float> repetition_penalty =
      {};  // logit < 0 ? logit * p : logit / p, once per token
  std::int64_t repetition_context_size = 20;
  std::optional<float> presence_penalty = {};  // subtracted once per distinct token
  std::int64_t presence_context_size = 20;
  std::optional<float> frequency_penalty = {};  // subtracted once per occurrence
  std::int64_t frequency_context_size = 20;
};

// mlx-lm's make_logits_processors: logit_bias, then the repetition, presence and frequency
// penalties. Throws std::invalid_argument for a negative repetition penalty or a negative
// context size; a token outside the logits is an error when the processor runs.
std::vector<LogitsProcessor> make_logits_processors(const LogitsProcessorOptions& options);

}  // namespace qlinear::lm
