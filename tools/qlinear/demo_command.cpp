// qlinear demo: the whole pipeline on a small Llama-shaped model, end to end.
//
// Generates a float model, converts it with the code `qlinear convert` runs (4-bit group
// 64, and a mixed recipe), then generates from all three and compares speed, size and
// next-token agreement (demo_generate.cpp), or with --layers compares every projection
// (demo_layers.cpp).
#include <cstdio>
#include <string>
#include <tuple>

#include "commands.h"
#include "demo.h"
#include "qlinear/convert.h"
#include "qlinear/runtime.h"
#include "report.h"

namespace qlinear::cli {
namespace {

struct DemoArgs {
  std::string keep;
  std::string recipe = "mixed_3_6";
  std::uint32_t seed = 0;
  SyntheticModelShape shape{.hidden = 1024, .intermediate = 2816, .vocab = 8192, .blocks = 4};
  // Generation (the default report).
  std::int64_t prompt_tokens = 64, max_tokens = 32;
  // --layers
  bool layers = false;
  std::int64_t tokens = 16;
  int repeats = 2;
};

void run(const DemoArgs& args) {
  const auto start = Clock::now();
  const WorkFolder work(args.keep, "qlinear-demo");
  const std::filesystem::path& root = work.path();

  const SyntheticModelShape& shape = args.shape;
  std::printf(
      "qlinear demo: a Llama-shaped model (hidden %lld, MLP %lld, vocab %lld, %lld "
      "blocks, %s) in %s\n",
      static_cast<long long>(shape.hidden), static_cast<long long>(shape.intermediate),
      static_cast<long long>(shape.vocab), static_cast<long long>(shape.blocks),
      std::string(name_of(shape.dtype)).c_str(), root.c_str());
  std::printf("kernels: %s, %d thread(s)\n", std::string(active_isa()).c_str(), num_threads());

  DemoFolders folders{root / "float", root / "q4", root / "mixed", args.recipe};
  auto step = Clock::now();
  write_synthetic_model(folders.float_dir, shape, args.seed);
  folders.float_bits = 8.0 * static_cast<double>(size_of(shape.dtype));
  std::printf("  generated the float model                %6.2f s\n", seconds_since(step));

  ConvertOptions q4;
  q4.quantize = true;
  ConvertOptions mixed = q4;
  mixed.recipe = args.recipe;
  for (auto [options, folder, bits] : {std::tuple{q4, folders.q4_dir, &folders.q4_bits},
                                       std::tuple{mixed, folders.mixed_dir, &folders.mixed_bits}}) {
    step = Clock::now();
    const ConversionPlan plan = run_conversion(plan_conversion(folders.float_dir, options), folder);
    *bits = plan.bits_per_weight();
    std::printf("  converted to %-12s %s -> %s, %.2f bits/weight  %6.2f s\n",
                options.recipe ? options.recipe->c_str() : "4-bit g64",
                format_bytes(plan.input_bytes).c_str(), format_bytes(plan.output_bytes).c_str(),
                *bits, seconds_since(step));
  }

  if (args.layers) {
    report_layers(folders, shape, args.tokens, args.repeats, args.seed);
  } else {
    report_generation(folders, args.prompt_tokens, args.max_tokens, args.seed);
  }
  std::printf("\nfinished in %.1f s\n", seconds_since(start));
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* command = app.add_subcommand(
      "demo",
      "Generate a small Llama-shaped model, convert it (4-bit and a mixed recipe) and generate "
      "from all three: tokens per second, size, next-token agreement with float (--layers: "
      "compare every projection instead)");
  command->add_option("--keep", args->keep, "Write the model folders here and keep them");
  command->add_option("--recipe", args->recipe, "The mixed recipe to compare")
      ->check(CLI::IsMember(recipe_names()));
  command->add_option("--seed", args->seed, "Seed of the model, the prompt and the batch");
  command->add_option("--prompt-tokens", args->prompt_tokens, "Prompt length (random ids)")
      ->check(CLI::Range(1, 4096));
  command->add_option("-m,--max-tokens", args->max_tokens, "Tokens to generate")
      ->check(CLI::Range(2, 4096));
  command->add_option("--hidden", args->shape.hidden, "Model width")->check(CLI::Range(64, 8192));
  command->add_option("--intermediate", args->shape.intermediate, "MLP width")
      ->check(CLI::Range(64, 32768));
  command->add_option("--vocab", args->shape.vocab, "Vocabulary size")
      ->check(CLI::Range(64, 262144));
  command->add_option("--blocks", args->shape.blocks, "Transformer blocks")
      ->check(CLI::Range(1, 128));
  command->add_flag("--layers", args->layers,
                    "Compare every projection on a random batch instead of generating");
  command->add_option("--tokens", args->tokens, "--layers: rows of the random batch")
      ->check(CLI::Range(1, 4096));
  command->add_option("--repeats", args->repeats, "--layers: timed calls per layer")
      ->check(CLI::Range(1, 100));
  command->callback([args] { run(*args); });
}

}  // namespace qlinear::cli
