// qlinear demo: generation from the float, 4-bit and mixed-recipe folders side by side.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "demo.h"
#include "qlinear/lm.h"
#include "report.h"

namespace qlinear::cli {
namespace {

struct ModelRun {
  std::string name;
  std::filesystem::path folder;
  double bits_per_weight = 0;
  std::vector<std::int64_t> tokens = {};  // generated greedily
  lm::GenerationStats stats = {};
  std::vector<std::int64_t> predictions = {};  // argmax at each position of the forced sequence
};

std::uint64_t weight_bytes(const std::filesystem::path& folder) {
  std::uint64_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.path().extension() == ".safetensors") bytes += entry.file_size();
  }
  return bytes;
}

// The argmax of every position's logits (1, T, vocab).
std::vector<std::int64_t> argmax_per_position(const Tensor& logits) {
  const std::int64_t vocab = logits.dim(-1);
  const float* data = logits.data<float>();
  std::vector<std::int64_t> out;
  for (std::int64_t start = 0; start < logits.size(); start += vocab) {
    out.push_back(std::max_element(data + start, data + start + vocab) - (data + start));
  }
  return out;
}

void generate_greedily(const lm::Model& model, ModelRun& run,
                       const std::vector<std::int64_t>& prompt, std::int64_t max_tokens) {
  run.stats = lm::generate(model, prompt, {.max_tokens = max_tokens}, [&](std::int64_t token) {
    run.tokens.push_back(token);
    return true;
  });
}

// The model's next token at every position of `forced`, in one forward pass.
std::vector<std::int64_t> predict(const lm::Model& model, const std::vector<std::int64_t>& forced) {
  const Tensor ids = Tensor::from_values<std::int64_t>(
      {1, static_cast<std::int64_t>(forced.size())}, Dtype::int64, forced);
  return argmax_per_position(model(ids));
}

double agreement(const std::vector<std::int64_t>& a, const std::vector<std::int64_t>& b) {
  std::size_t same = 0;
  for (std::size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  return a.empty() ? 0.0 : double(same) / double(a.size());
}

std::string first_tokens(const std::vector<std::int64_t>& tokens, std::size_t count) {
  std::string text;
  for (std::size_t i = 0; i < std::min(count, tokens.size()); ++i) {
    if (!text.empty()) text += ' ';
    text += std::to_string(tokens[i]);
  }
  return text;
}

}  // namespace

void report_generation(const DemoFolders& folders, std::int64_t prompt_tokens,
                       std::int64_t max_tokens, std::uint32_t seed) {
  std::mt19937 engine(seed + 1);
  const lm::ModelArgs args = lm::load(folders.float_dir).args;
  std::uniform_int_distribution<std::int64_t> token(0, args.vocab_size - 1);
  std::vector<std::int64_t> prompt(static_cast<std::size_t>(prompt_tokens));
  for (auto& id : prompt) id = token(engine);

  std::vector<ModelRun> runs = {{"float", folders.float_dir, folders.float_bits},
                                {"4-bit g64", folders.q4_dir, folders.q4_bits},
                                {folders.recipe, folders.mixed_dir, folders.mixed_bits}};
  // The float model generates first; every model then runs over the prompt and the float
  // model's tokens, predicting each next token from the float context.
  std::vector<std::int64_t> forced = prompt;
  for (ModelRun& run : runs) {
    const lm::LoadedLm loaded = lm::load(run.folder);
    generate_greedily(*loaded.model, run, prompt, max_tokens);
    if (&run == &runs[0]) forced.insert(forced.end(), run.tokens.begin(), run.tokens.end() - 1);
    run.predictions = predict(*loaded.model, forced);
  }
  const auto steps = static_cast<long long>(forced.size());

  std::printf("\ngreedy generation: %lld prompt tokens (random ids, seed %u), %lld new tokens\n",
              static_cast<long long>(prompt_tokens), seed, static_cast<long long>(max_tokens));
  std::printf("  %-12s %10s %7s %13s %13s %10s %12s  %s\n", "model", "weights", "bits/w",
              "prompt tok/s", "gen. tok/s", "speedup", "agreement", "first tokens");
  for (const ModelRun& run : runs) {
    const double speedup = run.stats.generation_tps / runs[0].stats.generation_tps;
    const bool reference = &run == &runs[0];
    std::string agrees = "(reference)";
    if (!reference) {
      char text[32];
      std::snprintf(text, sizeof text, "%.1f%%",
                    100.0 * agreement(run.predictions, runs[0].predictions));
      agrees = text;
    }
    std::printf("  %-12s %10s %7.2f %13.1f %13.1f %9.2fx %12s  %s\n", run.name.c_str(),
                format_bytes(weight_bytes(run.folder)).c_str(), run.bits_per_weight,
                run.stats.prompt_tps, run.stats.generation_tps, speedup, agrees.c_str(),
                first_tokens(run.tokens, 8).c_str());
  }
  std::printf(
      "  agreement: share of the %lld positions of the prompt + the float model's tokens where "
      "the model's next token (argmax) is the float model's\n",
      steps);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("  peak memory: %.3f GB (the process: weights, activations, KV caches)\n",
              static_cast<double>(usage.ru_maxrss) / (1024.0 * 1024.0));
}

}  // namespace qlinear::cli
