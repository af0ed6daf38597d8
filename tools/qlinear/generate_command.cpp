// qlinear generate FOLDER --prompt-tokens 1,2,3 | --prompt TEXT: generation from an mlx-lm
// model folder with mlx_lm.generate's sampling flags, printing the tokens (or the text)
// and mlx_lm.generate's summary lines (or one JSON object). Under mpirun the model is
// sharded over the ranks (lm::sharded_load) and rank 0 prints.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "python_tokenizer.h"
#include "qlinear/distributed.h"
#include "qlinear/lm.h"
#include "qlinear/runtime.h"

namespace qlinear::cli {
namespace {

struct GenerateArgs {
  std::string folder;
  std::string prompt_tokens;
  lm::GenerateOptions options{.max_tokens = 100};  // mlx_lm.generate's default
  bool json = false;
  bool ignore_eos = false;
  int threads = 0;
  lm::LoadOptions load;

  // Text prompts (tokenized by the Python package).
  std::optional<std::string> prompt, system_prompt;
  bool ignore_chat_template = false;

  // Sampling: mlx_lm.generate's flags and defaults.
  lm::SamplerOptions sampling{.top_p = 1.0f};
  std::optional<std::uint64_t> seed;
  lm::LogitsProcessorOptions processing;
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
  if (args.threads > 0) set_num_threads(args.threads);
  const distributed::Group group = distributed::init();
  const bool sharded = group.size() > 1, prints = group.rank() == 0;
  args.options.sampler =
      lm::make_sampler(args.sampling, args.seed ? *args.seed : std::random_device{}());
  if (sharded) args.options.group = group;
  args.options.logits_processors = lm::make_logits_processors(args.processing);
  std::vector<std::int64_t> prompt, tokenizer_eos;
  if (args.prompt) {
    EncodedPrompt encoded =
        encode_prompt(args.folder, *args.prompt, args.ignore_chat_template, args.system_prompt);
    prompt = std::move(encoded.ids);
    tokenizer_eos = std::move(encoded.eos);
  } else {
    prompt = parse_tokens(args.prompt_tokens);
  }
  const lm::LoadedLm loaded =
      sharded ? lm::sharded_load(args.folder, group) : lm::load(args.folder, args.load);
  for (std::int64_t t : prompt) {
    if (t < 0 || t >= loaded.args.vocab_size) {
      throw std::invalid_argument("[generate] prompt token " + std::to_string(t) +
                                  " is outside the vocabulary of " +
                                  std::to_string(loaded.args.vocab_size) + ".");
    }
  }
  if (!args.ignore_eos) {
    // As mlx-lm: the tokenizer's end-of-sequence ids and config.json's.
    args.options.eos_tokens = eos_tokens(loaded.config);
    args.options.eos_tokens.insert(args.options.eos_tokens.end(), tokenizer_eos.begin(),
                                   tokenizer_eos.end());
  }
  std::vector<std::int64_t> tokens;
  if (!args.json && prints) std::printf("==========\n");
  std::optional<TextStream> text;
  if (args.prompt && !args.json && prints) text.emplace(args.folder);
  const lm::GenerationStats stats =
      lm::generate(*loaded.model, prompt, args.options, [&](std::int64_t token) {
        tokens.push_back(token);
        if (text) {
          text->feed(token);
        } else if (!args.json && prints) {
          std::printf("%s%lld", tokens.size() > 1 ? " " : "", static_cast<long long>(token));
          std::fflush(stdout);
        }
        return true;
      });
  text.reset();  // the whole text is printed
  if (!prints) return;
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
      "generate",
      "Generate tokens from an mlx-lm model folder (llama, qwen2, qwen3, qwen3_moe); under "
      "mpirun, sharded over the ranks");
  cmd->add_option("folder", args->folder, "Model folder (config.json + safetensors)")
      ->required()
      ->check(CLI::ExistingDirectory);
  auto* ids =
      cmd->add_option("--prompt-tokens", args->prompt_tokens, "Prompt token ids, e.g. 1,2,3");
  cmd->add_option("-m,--max-tokens", args->options.max_tokens, "Tokens to generate")
      ->check(CLI::PositiveNumber);

  auto* text = cmd->add_option("-p,--prompt", args->prompt,
                               "Prompt text, tokenized (chat template and all) by the qlinear "
                               "Python package with transformers; the output is text");
  ids->excludes(text);
  cmd->add_option("--system-prompt", args->system_prompt, "System prompt for the chat template")
      ->needs(text);
  cmd->add_flag("--ignore-chat-template", args->ignore_chat_template,
                "Use the raw prompt without the tokenizer's chat template")
      ->needs(text);
  cmd->callback([cmd, args] {
    if (cmd->count("--prompt") + cmd->count("--prompt-tokens") == 0) {
      throw CLI::RequiredError("--prompt or --prompt-tokens");
    }
    run(*args);
  });

  cmd->add_option("--temp", args->sampling.temp, "Sampling temperature (0: greedy)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", args->sampling.top_p, "Sampling top-p (applied when in (0, 1))");
  cmd->add_option("--min-p", args->sampling.min_p, "Sampling min-p")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--min-tokens-to-keep", args->sampling.min_tokens_to_keep,
                  "Minimum tokens to keep for min-p sampling")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--top-k", args->sampling.top_k, "Sampling top-k (0: off)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", args->seed,
                  "Seed of qlinear's random stream (not MLX's); default: a random one");
  cmd->add_option("--repetition-penalty", args->processing.repetition_penalty,
                  "Repetition penalty (mlx-lm's make_logits_processors)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--repetition-context-size", args->processing.repetition_context_size,
                  "Recent tokens the repetition penalty looks at")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--ignore-eos", args->ignore_eos, "Do not stop at config.json's eos_token_id");
  cmd->add_flag("--json", args->json,
                "Print one JSON object: tokens, prompt_tps, generation_tps, peak_memory_mb");
  cmd->add_option("--threads", args->threads, "Threads (default: QLINEAR_NUM_THREADS or all)");
  cmd->add_flag("--lazy", args->load.lazy,
                "Leave the weights on the mapped files (mlx_lm.load's lazy=True): loads at "
                "once, decodes slower; by default they are read into memory");
  // The quantized KV cache, with mlx_lm.generate's flags.
  cmd->add_option("--kv-bits", args->options.kv_bits,
                  "Quantize the KV cache to this many bits (default: a float cache)");
  cmd->add_option("--kv-group-size", args->options.kv_group_size,
                  "Group size of the quantized KV cache (default 64)");
  cmd->add_option("--quantized-kv-start", args->options.quantized_kv_start,
                  "Quantize the KV cache once it holds this many positions (default 0)")
      ->check(CLI::NonNegativeNumber);
}

}  // namespace qlinear::cli
