// qlinear generate FOLDER --prompt-tokens 1,2,3: greedy generation from an mlx-lm model
// folder, printing the tokens and mlx_lm.generate's summary lines (or one JSON object).
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "qlinear/lm.h"
#include "qlinear/runtime.h"

namespace qlinear::cli {
namespace {

struct GenerateArgs {
  std::string folder;
  std::string prompt_tokens;
  lm::GenerateOptions options{.max_tokens = 100};  // mlx_lm.generate's default
  double temp = 0.0;
  bool json = false;
  bool ignore_eos = false;
  int threads = 0;
};

std::vector<std::int64_t> parse_tokens(const std::string& text) {
  std::vector<std::int64_t> tokens;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::size_t used = 0;
    try {
      tokens.push_back(std::stoll(item, &used));
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size()) {
      throw std::invalid_argument("[generate] --prompt-tokens takes comma-separated integers; '" +
                                  item + "' is not one.");
    }
  }
  if (tokens.empty()) throw std::invalid_argument("[generate] --prompt-tokens is empty.");
  return tokens;
}

// config.json's eos_token_id: one id or a list of them.
std::vector<std::int64_t> eos_tokens(const std::string& config) {
  const auto json = nlohmann::json::parse(config);
  if (!json.contains("eos_token_id")) return {};
  const auto& eos = json.at("eos_token_id");
  if (eos.is_number_integer()) return {eos.get<std::int64_t>()};
  if (eos.is_array()) return eos.get<std::vector<std::int64_t>>();
  return {};
}

void run(GenerateArgs& args) {
  if (args.temp != 0.0) {
    throw std::invalid_argument("[generate] Only greedy decoding (--temp 0) is implemented.");
  }
  if (args.threads > 0) set_num_threads(args.threads);
  const std::vector<std::int64_t> prompt = parse_tokens(args.prompt_tokens);
  const lm::LoadedLm loaded = lm::load(args.folder);
  for (std::int64_t t : prompt) {
    if (t < 0 || t >= loaded.args.vocab_size) {
      throw std::invalid_argument("[generate] prompt token " + std::to_string(t) +
                                  " is outside the vocabulary of " +
                                  std::to_string(loaded.args.vocab_size) + ".");
    }
  }
  if (!args.ignore_eos) args.options.eos_tokens = eos_tokens(loaded.config);
  std::vector<std::int64_t> tokens;
  if (!args.json) std::printf("==========\n");
  const lm::GenerationStats stats =
      lm::generate(*loaded.model, prompt, args.options, [&](std::int64_t token) {
        tokens.push_back(token);
        if (!args.json) {
          std::printf("%s%lld", tokens.size() > 1 ? " " : "", static_cast<long long>(token));
          std::fflush(stdout);
        }
        return true;
      });
  if (args.json) {
    const nlohmann::json out = {{"tokens", tokens},
                                {"prompt_tokens", stats.prompt_tokens},
                                {"prompt_tps", stats.prompt_tps},
                                {"generation_tokens", stats.generation_tokens},
                                {"generation_tps", stats.generation_tps},
                                {"peak_memory_mb", stats.peak_memory_mb}};
    std::printf("%s\n", out.dump().c_str());
    return;
  }
  std::printf("\n==========\n");
  std::printf("Prompt: %lld tokens, %.3f tokens-per-sec\n",
              static_cast<long long>(stats.prompt_tokens), stats.prompt_tps);
  std::printf("Generation: %lld tokens, %.3f tokens-per-sec\n",
              static_cast<long long>(stats.generation_tokens), stats.generation_tps);
  std::printf("Peak memory: %.3f GB\n", stats.peak_memory_mb / 1024.0);
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "generate", "Generate tokens from an mlx-lm model folder (llama, qwen2, qwen3), greedily");
  cmd->add_option("folder", args->folder, "Model folder (config.json + safetensors)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--prompt-tokens", args->prompt_tokens, "Prompt token ids, e.g. 1,2,3")
      ->required();
  cmd->add_option("-m,--max-tokens", args->options.max_tokens, "Tokens to generate")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--temp", args->temp, "Sampling temperature (only 0, greedy, for now)");
  cmd->add_flag("--ignore-eos", args->ignore_eos, "Do not stop at config.json's eos_token_id");
  cmd->add_flag("--json", args->json,
                "Print one JSON object: tokens, prompt_tps, generation_tps, peak_memory_mb");
  cmd->add_option("--threads", args->threads, "Threads (default: QLINEAR_NUM_THREADS or all)");
  // The quantized KV cache, with mlx_lm.generate's flags.
  cmd->add_option("--kv-bits", args->options.kv_bits,
                  "Quantize the KV cache to this many bits (default: a float cache)");
  cmd->add_option("--kv-group-size", args->options.kv_group_size,
                  "Group size of the quantized KV cache (default 64)");
  cmd->add_option("--quantized-kv-start", args->options.quantized_kv_start,
                  "Quantize the KV cache once it holds this many positions (default 0)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([args] { run(*args); });
}

}  // namespace qlinear::cli
