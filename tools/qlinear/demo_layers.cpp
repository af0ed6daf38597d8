// qlinear demo --layers: every projection of the float model and of a quantized one on
// the same random batch, per layer type: bytes, relative output error, time per call.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>

#include "demo.h"
#include "report.h"

namespace qlinear::cli {
namespace {

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
  for (int b : bits) {
    if (!text.empty()) text += '/';
    text += std::to_string(b);
  }
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

}  // namespace

void report_layers(const DemoFolders& folders, const SyntheticModelShape& shape,
                   std::int64_t tokens, int repeats, std::uint32_t seed) {
  auto step = Clock::now();
  const LoadedModel reference = load_model(folders.float_dir);
  const LoadedModel uniform = load_model(folders.q4_dir);
  const LoadedModel recipe = load_model(folders.mixed_dir);
  std::printf("  loaded the three folders                 %6.2f s\n", seconds_since(step));

  std::mt19937 engine(seed + 1);
  std::uniform_int_distribution<std::int32_t> token(0, static_cast<std::int32_t>(shape.vocab - 1));
  std::vector<std::int32_t> ids(static_cast<std::size_t>(tokens));
  for (auto& id : ids) id = token(engine);
  const Batch batch{Tensor::from_values<std::int32_t>({tokens}, Dtype::int32, ids),
                    random_normal({tokens, shape.hidden}, engine),
                    random_normal({tokens, shape.intermediate}, engine)};
  std::printf("  batch: %lld tokens; times are the mean of %d calls per layer\n",
              static_cast<long long>(tokens), repeats);

  compare("4-bit, group 64 (affine) vs float:", *reference.model, *uniform.model, batch, repeats);
  compare(folders.recipe + " vs float:", *reference.model, *recipe.model, batch, repeats);
}

}  // namespace qlinear::cli
