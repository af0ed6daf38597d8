// qlinear demo: the whole pipeline on a small Llama-shaped model, end to end.
//
// Generates a float model, converts it with the code `qlinear convert` runs (4-bit
// group 64, and a mixed recipe), loads all three folders into module trees, runs every
// projection on the same random batch and reports, per layer type, the bytes, the
// relative output error against float and the time per call.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>

#include "commands.h"
#include "qlinear/convert.h"
#include "qlinear/runtime.h"
#include "report.h"

namespace qlinear::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct DemoArgs {
  std::string keep;
  std::string recipe = "mixed_3_6";
  std::int64_t tokens = 16;
  int repeats = 2;
  std::uint32_t seed = 0;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// "model.layers.3.mlp.down_proj" -> "down_proj"
std::string layer_type(const std::string& path) {
  return path.substr(path.rfind('.') + 1);
}

Tensor random_normal(Shape shape, std::mt19937& engine) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(static_cast<std::size_t>(element_count(shape)));
  for (float& v : values) v = normal(engine);
  return Tensor::from_floats(std::move(shape), Dtype::float32, values);
}

// The batch every model sees: token ids for the embedding, activations for the rest.
struct Batch {
  Tensor ids, hidden, intermediate;
  const Tensor& input_for(const std::string& type, std::int64_t width) const {
    if (type.find("embed") != std::string::npos) return ids;
    return width == hidden.dim(-1) ? hidden : intermediate;
  }
};

struct Measurement {
  Tensor output;
  double seconds_per_call = 0.0;
};

Measurement run_layer(const nn::Module& module, const Tensor& input, int repeats) {
  const auto& layer = dynamic_cast<const nn::Unary&>(module);
  Measurement m{layer(input)};  // warm-up, and the output compared
  const auto start = Clock::now();
  for (int i = 0; i < repeats; ++i) layer(input);
  m.seconds_per_call = seconds_since(start) / repeats;
  return m;
}

std::uint64_t bytes_of(const nn::Module& module) {
  std::uint64_t bytes = 0;
  for (const auto& [name, value] : module.parameters()) bytes += value.nbytes();
  return bytes;
}

std::int64_t input_width(const nn::Module& float_layer) {
  return float_layer.parameter("weight").dim(1);
}

// One row of the table: a layer type summed over the blocks.
struct Row {
  int count = 0;
  std::set<int> bits;
  std::uint64_t float_bytes = 0, quantized_bytes = 0;
  double error_sq = 0.0, reference_sq = 0.0;
  double float_seconds = 0.0, quantized_seconds = 0.0;

  void add(const Row& other) {
    count += other.count;
    bits.insert(other.bits.begin(), other.bits.end());
    float_bytes += other.float_bytes;
    quantized_bytes += other.quantized_bytes;
    error_sq += other.error_sq;
    reference_sq += other.reference_sq;
    float_seconds += other.float_seconds;
    quantized_seconds += other.quantized_seconds;
  }
};

void accumulate_error(const Tensor& reference, const Tensor& approximation, Row& row) {
  const auto a = reference.to_floats(), b = approximation.to_floats();
  for (std::size_t i = 0; i < a.size(); ++i) {
    row.error_sq += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    row.reference_sq += double(a[i]) * a[i];
  }
}

std::string bits_text(const std::set<int>& bits) {
  std::string text;
  for (int b : bits) text += (text.empty() ? "" : "/") + std::to_string(b);
  return text.empty() ? "-" : text;
}

void print_row(const std::string& name, const Row& row) {
  const double float_ms = 1e3 * row.float_seconds / std::max(row.count, 1);
  const double quantized_ms = 1e3 * row.quantized_seconds / std::max(row.count, 1);
  std::printf("  %-13s %5d %5s %11s %11s %8.1fx %11.2e %10.3f %10.3f %7.1fx\n", name.c_str(),
              row.count, bits_text(row.bits).c_str(), format_bytes(row.float_bytes).c_str(),
              format_bytes(row.quantized_bytes).c_str(),
              double(row.float_bytes) / double(std::max<std::uint64_t>(row.quantized_bytes, 1)),
              std::sqrt(row.error_sq / std::max(row.reference_sq, 1e-300)), float_ms, quantized_ms,
              float_ms / std::max(quantized_ms, 1e-9));
}

void compare(const std::string& title, const nn::Module& reference, const nn::Module& quantized,
             const Batch& batch, int repeats) {
  std::map<std::string, Row> rows;
  std::vector<std::string> order;
  for (const auto& [path, module] : reference.leaf_modules()) {
    if (!module->has_parameter("weight") || module->parameter("weight").ndim() != 2) continue;
    const nn::Module& other = quantized.module_at(path);
    const std::string type = layer_type(path);
    if (!rows.contains(type)) order.push_back(type);
    Row& row = rows[type];
    const Tensor& input = batch.input_for(type, input_width(*module));
    const Measurement f = run_layer(*module, input, repeats);
    const Measurement q = run_layer(other, input, repeats);
    ++row.count;
    if (const auto spec = other.quant_spec()) row.bits.insert(spec->bits);
    row.float_bytes += bytes_of(*module);
    row.quantized_bytes += bytes_of(other);
    accumulate_error(f.output, q.output, row);
    row.float_seconds += f.seconds_per_call;
    row.quantized_seconds += q.seconds_per_call;
  }
  // Model order: the embedding, attention, MLP, output projection.
  static const std::vector<std::string> kOrder = {"embed_tokens", "q_proj",    "k_proj",
                                                  "v_proj",       "o_proj",    "gate_proj",
                                                  "up_proj",      "down_proj", "lm_head"};
  const auto rank = [](const std::string& type) {
    return std::find(kOrder.begin(), kOrder.end(), type) - kOrder.begin();
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
  std::printf("\n%s\n", title.c_str());
  std::printf("  %-13s %5s %5s %11s %11s %9s %11s %10s %10s %8s\n", "layer", "count", "bits",
              "float", "quantized", "smaller", "rel. error", "float ms", "quant ms", "speedup");
  Row total;
  for (const std::string& type : order) {
    print_row(type, rows[type]);
    total.add(rows[type]);
  }
  // The total's times are per pass over all layers, not per call.
  total.float_seconds *= total.count;
  total.quantized_seconds *= total.count;
  print_row("total", total);
  std::printf("  (total: the times are for one pass over all %d layers)\n", total.count);
}

void run(const DemoArgs& args) {
  const auto start = Clock::now();
  std::filesystem::path root;
  if (args.keep.empty()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "qlinear-demo-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw FileError("cannot create a temporary folder");
    root = pattern;
  } else {
    root = args.keep;
    std::filesystem::create_directories(root);
  }
  struct Cleanup {
    std::filesystem::path path;
    ~Cleanup() {
      std::error_code ignored;
      if (!path.empty()) std::filesystem::remove_all(path, ignored);
    }
  } cleanup{args.keep.empty() ? root : std::filesystem::path()};

  const SyntheticModelShape shape;
  std::printf(
      "qlinear demo: a Llama-shaped model (hidden %lld, MLP %lld, vocab %lld, %lld "
      "blocks, %s) in %s\n",
      static_cast<long long>(shape.hidden), static_cast<long long>(shape.intermediate),
      static_cast<long long>(shape.vocab), static_cast<long long>(shape.blocks),
      std::string(name_of(shape.dtype)).c_str(), root.c_str());
  std::printf("kernels: %s, %d thread(s)\n", std::string(active_isa()).c_str(), num_threads());

  auto step = Clock::now();
  write_synthetic_model(root / "float", shape, args.seed);
  std::printf("  generated the float model                %6.2f s\n", seconds_since(step));

  ConvertOptions q4;
  q4.quantize = true;
  ConvertOptions mixed = q4;
  mixed.recipe = args.recipe;
  for (const auto& [name, options] : {std::pair{"q4", q4}, std::pair{"mixed", mixed}}) {
    step = Clock::now();
    const ConversionPlan plan =
        run_conversion(plan_conversion(root / "float", options), root / name);
    std::printf("  converted to %-12s %s -> %s, %.2f bits/weight  %6.2f s\n",
                name == std::string("q4") ? "4-bit g64" : args.recipe.c_str(),
                format_bytes(plan.input_bytes).c_str(), format_bytes(plan.output_bytes).c_str(),
                plan.bits_per_weight(), seconds_since(step));
  }

  step = Clock::now();
  const LoadedModel reference = load_model(root / "float");
  const LoadedModel uniform = load_model(root / "q4");
  const LoadedModel recipe = load_model(root / "mixed");
  std::printf("  loaded the three folders                 %6.2f s\n", seconds_since(step));

  std::mt19937 engine(args.seed + 1);
  std::uniform_int_distribution<std::int32_t> token(0, static_cast<std::int32_t>(shape.vocab - 1));
  std::vector<std::int32_t> ids(static_cast<std::size_t>(args.tokens));
  for (auto& id : ids) id = token(engine);
  const Batch batch{Tensor::from_values<std::int32_t>({args.tokens}, Dtype::int32, ids),
                    random_normal({args.tokens, shape.hidden}, engine),
                    random_normal({args.tokens, shape.intermediate}, engine)};
  std::printf("  batch: %lld tokens; times are the mean of %d calls per layer\n",
              static_cast<long long>(args.tokens), args.repeats);

  compare("4-bit, group 64 (affine) vs float:", *reference.model, *uniform.model, batch,
          args.repeats);
  compare(args.recipe + " vs float:", *reference.model, *recipe.model, batch, args.repeats);
  std::printf("\nfinished in %.1f s\n", seconds_since(start));
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* command = app.add_subcommand(
      "demo",
      "Generate a small Llama-shaped model, convert it (4-bit and a mixed recipe), load it and "
      "compare every projection against float: bytes, output error, time");
  command->add_option("--keep", args->keep, "Write the model folders here and keep them");
  command->add_option("--recipe", args->recipe, "The mixed recipe to compare")
      ->check(CLI::IsMember(recipe_names()));
  command->add_option("--tokens", args->tokens, "Rows of the random batch")
      ->check(CLI::Range(1, 4096));
  command->add_option("--repeats", args->repeats, "Timed calls per layer")
      ->check(CLI::Range(1, 100));
  command->add_option("--seed", args->seed, "Seed of the model and the batch");
  command->callback([args] { run(*args); });
}

}  // namespace qlinear::cli
