#include <sys/resource.h>

#include <algorithm>
#include <chrono>
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

// The id of the largest logit of the last position (the first one on ties, as argmax).
std::int64_t greedy(const Tensor& logits) {
  const std::int64_t vocab = logits.dim(-1);
  const float* last = logits.data<float>() + logits.size() - vocab;
  std::int64_t best = 0;
  for (std::int64_t i = 1; i < vocab; ++i) {
    if (last[i] > last[best]) best = i;
  }
  return best;
}

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
  const auto start = Clock::now();
  // The prompt but its last token in passes of prefill_step_size, as mlx-lm prefills.
  const auto last = prompt.end() - 1;
  for (auto begin = prompt.begin(); begin != last;) {
    const auto end = begin + std::min<std::ptrdiff_t>(options.prefill_step_size, last - begin);
    forward({begin, end});
    begin = end;
  }
  std::int64_t token = greedy(forward({*last}));
  stats.prompt_tps = stats.prompt_tokens / seconds_since(start);
  const auto decode_start = Clock::now();
  while (stats.generation_tokens < options.max_tokens) {
    if (std::ranges::find(options.eos_tokens, token) != options.eos_tokens.end())
      break;  // as mlx-lm: not reported
    ++stats.generation_tokens;
    if (!on_token(token)) break;
    if (stats.generation_tokens == options.max_tokens) break;
    token = greedy(forward({token}));
  }
  // As mlx-lm: the first token counts as generated, its time as the prompt's.
  const double decode_seconds = seconds_since(decode_start);
  stats.generation_tps = decode_seconds > 0 ? stats.generation_tokens / decode_seconds : 0.0;
  stats.peak_memory_mb = peak_resident_mb();
  return stats;
}

}  // namespace qlinear::lm
