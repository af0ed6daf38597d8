#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <string>

#include "qlinear/lm.h"

namespace qlinear::lm {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double peak_resident_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

// Rank 0's token on every rank (token ids below 2^24 are exact in float32).
std::int64_t rank0s(std::int64_t token, const distributed::Group& group) {
  const float mine = group.rank() == 0 ? static_cast<float>(token) : 0.0f;
  const Tensor sum = distributed::all_sum(
      Tensor::from_floats({1}, Dtype::float32, std::vector<float>{mine}), group);
  return static_cast<std::int64_t>(sum.to_floats()[0]);
}

// Picks the next token from the last position's logits as mlx-lm's generate_step does:
// logits processors on the tokens so far, log-probabilities, the sampler.
class NextToken {
 public:
  NextToken(const GenerateOptions& options, const std::vector<std::int64_t>& prompt)
      : options_(options) {
    if (!options.logits_processors.empty()) context_ = prompt;
  }

  // `fed` (when >= 0) is the token whose forward pass gave `logits`.
  std::int64_t operator()(const Tensor& logits, std::int64_t fed) {
    const auto vocab = static_cast<std::size_t>(logits.dim(-1));
    const float* last_row = logits.data<float>() + logits.size() - vocab;
    row_.assign(last_row, last_row + vocab);
    if (!options_.logits_processors.empty()) {
      if (fed >= 0) context_.push_back(fed);
      for (const LogitsProcessor& process : options_.logits_processors) process(context_, row_);
    }
    const float top = *std::max_element(row_.begin(), row_.end());
    double sum = 0;
    for (float v : row_) sum += std::exp(double(v) - top);
    const auto logsumexp = static_cast<float>(top + std::log(sum));
    for (float& v : row_) v -= logsumexp;
    const std::int64_t token = options_.sampler ? options_.sampler(row_) : greedy_sample(row_);
    return options_.group ? rank0s(token, *options_.group) : token;
  }

 private:
  const GenerateOptions& options_;
  std::vector<std::int64_t> context_;  // prompt + fed tokens, kept only for processors
  std::vector<float> row_;
};

Tensor ids_of(const std::vector<std::int64_t>& tokens) {
  return Tensor::from_values<std::int64_t>({1, static_cast<std::int64_t>(tokens.size())},
                                           Dtype::int64, tokens);
}

// The quantized cache's settings, refused before any work as mlx-lm's quantize would.
void check_kv_options(const Model& model, const GenerateOptions& options) {
  if (options.prefill_step_size <= 0) {
    throw std::invalid_argument("[generate] prefill_step_size must be positive, got " +
                                std::to_string(options.prefill_step_size) + ".");
  }
  if (!options.kv_bits) return;
  QuantSpec::resolve("generate", QuantMode::affine, options.kv_group_size, options.kv_bits);
  const std::int64_t head_dim = model.args().head_dim;
  if (head_dim % options.kv_group_size != 0) {
    throw std::invalid_argument("[generate] kv_group_size " +
                                std::to_string(options.kv_group_size) +
                                " does not divide the head dimension " + std::to_string(head_dim) +
                                " the keys and values are quantized along.");
  }
}

}  // namespace

GenerationStats generate(const Model& model, const std::vector<std::int64_t>& prompt,
                         const GenerateOptions& options,
                         const std::function<bool(std::int64_t)>& on_token) {
  if (prompt.empty()) throw std::invalid_argument("[generate] The prompt has no tokens.");
  GenerationStats stats;
  stats.prompt_tokens = static_cast<std::int64_t>(prompt.size());
  check_kv_options(model, options);
  Cache cache = model.make_cache();
  // One forward pass, then the cache quantized as the options ask (mlx-lm's _step).
  auto forward = [&](const std::vector<std::int64_t>& ids) {
    Tensor logits = model(ids_of(ids), &cache);
    maybe_quantize_kv_cache(cache, options.quantized_kv_start, options.kv_group_size,
                            options.kv_bits);
    return logits;
  };
  NextToken next_token(options, prompt);
  const auto start = Clock::now();
  // The prompt but its last token in passes of prefill_step_size, as mlx-lm prefills.
  const auto last = prompt.end() - 1;
  for (auto begin = prompt.begin(); begin != last;) {
    const auto end = begin + std::min<std::ptrdiff_t>(options.prefill_step_size, last - begin);
    forward({begin, end});
    begin = end;
  }
  std::int64_t token = next_token(forward({*last}), -1);
  stats.prompt_tps = stats.prompt_tokens / seconds_since(start);
  const auto decode_start = Clock::now();
  while (stats.generation_tokens < options.max_tokens) {
    if (std::ranges::find(options.eos_tokens, token) != options.eos_tokens.end())
      break;  // as mlx-lm: not reported
    ++stats.generation_tokens;
    if (!on_token(token)) break;
    if (stats.generation_tokens == options.max_tokens) break;
    token = next_token(forward({token}), token);
  }
  // As mlx-lm: the first token counts as generated, its time as the prompt's.
  const double decode_seconds = seconds_since(decode_start);
  stats.generation_tps = decode_seconds > 0 ? stats.generation_tokens / decode_seconds : 0.0;
  stats.peak_memory_mb = peak_resident_mb();
  return stats;
}

}  // namespace qlinear::lm
