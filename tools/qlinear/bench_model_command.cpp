// qlinear bench-model: decode and prefill speed of a synthesized Llama-3.2-1B-shaped model
// (affine, 4 bits group 64 unless --bits says otherwise) against the memory bandwidth probed in the
// same run, and against mlx-lm on the same folder.
//
// A decode step reads every stored tensor of the model once (each weight, scale, bias and
// norm; the tied embedding once, as the output head reads it whole: the one row the lookup
// reads is not counted again) and the KV cache's keys and values of every position it
// attends to. Its ceiling is the probed read bandwidth over those bytes; the rows give the
// share of it reached.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "demo.h"
#include "measure.h"
#include "python_module.h"
#include "qlinear/convert.h"
#include "qlinear/io.h"
#include "qlinear/lm.h"
#include "qlinear/random.h"
#include "qlinear/runtime.h"
#include "report.h"

namespace qlinear::cli {
namespace {

struct BenchModelArgs {
  std::string keep;  // the folder's parent; a folder of the same shape there is reused
  std::vector<int> threads = {1, 2};
  std::int64_t decode_prompt_tokens = 16, decode_tokens = 32, prefill_tokens = 512;
  std::int64_t context = 4096;  // the quantized-cache decode row's prompt
  int kv_bits = 8, kv_group_size = 64;
  int bits = 4;              // the weights' affine width, group 64
  double min_seconds = 0.5;  // per bandwidth probe
  bool json = false;
  lm::LoadOptions load;
  std::string mlx_lm_python;  // empty: no mlx-lm rows
  // mlx-lm 0.32.2 on MLX's CPU takes about 10 s per decoded token and 8 s per prompt token
  // of this model (2 vCPUs): lengths that end in about two minutes.
  std::int64_t mlx_lm_decode_tokens = 4, mlx_lm_prefill_tokens = 8;
  // Llama 3.2 1B, converted to 4-bit group 64 as mlx-community's checkpoint is.
  SyntheticModelShape shape{.hidden = 2048,
                            .intermediate = 8192,
                            .vocab = 128256,
                            .blocks = 16,
                            .heads = 32,
                            .kv_heads = 8,
                            .dtype = Dtype::bfloat16,
                            .tie_word_embeddings = true};
};

// One output row; which fields are set depends on op.
struct Row {
  std::string op;   // stream_read, decode, prefill, decode_kv<bits>, mlx_lm_decode, mlx_lm_prefill
  int threads = 0;  // 0: mlx-lm's own choice
  std::int64_t tokens = 0, context = 0;
  double tps = 0;
  double read_gbps = 0, bytes_per_token = 0;  // decode rows: the ceiling's terms
  std::optional<double> vs_mlx_lm = {};       // qlinear's rate / mlx-lm's at the same lengths
  double ceiling_tps() const { return read_gbps * 1e9 / bytes_per_token; }
  double pct_of_ceiling() const { return 100 * tps / ceiling_tps(); }
};

void print_header() {
  std::printf("%-16s %4s %7s %8s %10s %10s %10s %10s %8s %9s\n", "op", "thr", "tokens", "context",
              "tok/s", "ms/token", "MB/token", "ceiling", "%ceil", "x mlx-lm");
}

void print_stream_row(int threads, const StreamRates& rates, bool json) {
  if (json) {
    std::printf("%s\n", nlohmann::json{{"op", "stream_read"},
                                       {"threads", threads},
                                       {"bytes", rates.bytes},
                                       {"median_ms", rates.read_ms},
                                       {"gbps", rates.read_gbps()}}
                            .dump()
                            .c_str());
  } else {
    std::printf("%-16s %4d %38s %.1f GB/s read (%s per pass)\n", "stream_read", threads, "",
                rates.read_gbps(), format_bytes(rates.bytes).c_str());
  }
}

void print_row(const Row& r, bool json) {
  if (json) {
    nlohmann::json j = {
        {"op", r.op}, {"tokens", r.tokens}, {"tps", r.tps}, {"ms_per_token", 1e3 / r.tps}};
    if (r.threads > 0) j["threads"] = r.threads;
    if (r.context > 0) j["context"] = r.context;
    if (r.bytes_per_token > 0) {
      j["bytes_per_token"] = r.bytes_per_token;
      j["read_gbps"] = r.read_gbps;
      j["ceiling_tps"] = r.ceiling_tps();
      j["pct_of_ceiling"] = r.pct_of_ceiling();
    }
    if (r.vs_mlx_lm) j["vs_mlx_lm"] = *r.vs_mlx_lm;
    std::printf("%s\n", j.dump().c_str());
  } else {
    auto number = [](bool known, double value, int digits) {
      char text[32] = "-";
      if (known) std::snprintf(text, sizeof text, "%.*f", digits, value);
      return std::string(text);
    };
    const bool ceiling = r.bytes_per_token > 0;
    std::printf("%-16s %4s %7lld %8s %10.2f %10.2f %10s %10s %8s %9s\n", r.op.c_str(),
                r.threads > 0 ? std::to_string(r.threads).c_str() : "mlx",
                static_cast<long long>(r.tokens), number(r.context > 0, r.context, 0).c_str(),
                r.tps, 1e3 / r.tps, number(ceiling, r.bytes_per_token / 1e6, 1).c_str(),
                number(ceiling, r.ceiling_tps(), 2).c_str(),
                number(ceiling, r.pct_of_ceiling(), 0).c_str(),
                number(r.vs_mlx_lm.has_value(), r.vs_mlx_lm.value_or(0), 1).c_str());
  }
  std::fflush(stdout);
}

// The folder's tensors' bytes (headers not counted).
double stored_tensor_bytes(const std::filesystem::path& folder) {
  double bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.path().extension() != ".safetensors") continue;
    for (const auto& [name, tensor] : load_safetensors(entry.path()).tensors) {
      bytes += static_cast<double>(tensor.nbytes());
    }
  }
  return bytes;
}

// Bytes of keys and values one position holds across all layers: float32, or quantized
// (codes, and a float32 scale and bias per group, as quantize() gives them for float32).
double kv_bytes_per_position(const lm::ModelArgs& args, std::optional<int> kv_bits,
                             int kv_group_size) {
  const auto head_dim = static_cast<double>(args.head_dim);
  const double per_head =
      kv_bits ? head_dim * *kv_bits / 8 + 2.0 * 4 * head_dim / kv_group_size : 4 * head_dim;
  return 2.0 * static_cast<double>(args.num_hidden_layers * args.num_key_value_heads) * per_head;
}

// The benchmark's prompt: i * 7919 mod vocab at position i (as qlinear.lm.bench_mlx_lm).
std::vector<std::int64_t> prompt_of(std::int64_t length, std::int64_t vocab) {
  std::vector<std::int64_t> ids(static_cast<std::size_t>(length));
  for (std::int64_t i = 0; i < length; ++i) ids[static_cast<std::size_t>(i)] = i * 7919 % vocab;
  return ids;
}

// Greedy decode of `tokens` tokens on `cache` (which holds the context): one over the
// median time of a step (one forward pass of one token and its argmax). With kv_bits the
// cache is quantized as lm::generate quantizes it (quantized_kv_start 0).
double decode_tps(const lm::Model& model, lm::Cache& cache, std::int64_t tokens,
                  std::optional<int> kv_bits = {}, int kv_group_size = 64) {
  const std::int64_t vocab = model.args().vocab_size;
  std::int64_t token = 1;
  std::vector<double> steps;
  for (std::int64_t i = 0; i < tokens; ++i) {
    const auto start = Clock::now();
    const Tensor logits =
        model(Tensor::from_values<std::int64_t>({1, 1}, Dtype::int64, std::vector{token}), &cache);
    lm::maybe_quantize_kv_cache(cache, 0, kv_group_size, kv_bits);
    const float* row = logits.data<float>();
    token = std::max_element(row, row + vocab) - row;
    steps.push_back(seconds_since(start));
  }
  std::nth_element(steps.begin(), steps.begin() + steps.size() / 2, steps.end());
  return 1.0 / steps[steps.size() / 2];
}

// A cache holding `context` positions of random keys and values in every layer, quantized
// (kv_bits, kv_group_size): what a prefill of that length leaves, without its minutes (a
// decode step's time does not depend on the values).
lm::Cache random_cache(const lm::Model& model, std::int64_t context, int kv_bits,
                       int kv_group_size) {
  const lm::ModelArgs& a = model.args();
  lm::Cache cache = model.make_cache();
  std::uint32_t seed = 0;
  for (lm::LayerCache& layer : cache) {
    const Shape shape = {1, a.num_key_value_heads, context, a.head_dim};
    layer.float_cache()->update(random_normal(shape, Dtype::float32, seed),
                                random_normal(shape, Dtype::float32, seed + 1));
    seed += 2;
    layer.quantize(kv_group_size, kv_bits);
  }
  return cache;
}

// mlx-lm's prompt_tps (prompt tokens over the time to the first token), as lm::generate
// reports it.
double prefill_tps(const lm::Model& model, std::int64_t prompt_tokens) {
  return lm::generate(model, prompt_of(prompt_tokens, model.args().vocab_size), {.max_tokens = 1},
                      [](std::int64_t) { return true; })
      .prompt_tps;
}

struct MlxLmRates {
  double decode_tps = 0, prefill_tps = 0;
  std::string versions;
};

// mlx-lm on the CPU, on the same folder and prompts (python -m qlinear.lm.bench_mlx_lm).
MlxLmRates run_mlx_lm(const BenchModelArgs& args, const std::filesystem::path& folder) {
  const ModuleOutput run = run_python_module(
      args.mlx_lm_python, "qlinear.lm.bench_mlx_lm",
      {folder.string(), "--decode-prompt-tokens", std::to_string(args.decode_prompt_tokens),
       "--decode-tokens", std::to_string(args.mlx_lm_decode_tokens), "--prefill-tokens",
       std::to_string(args.mlx_lm_prefill_tokens)});
  if (run.status != 0) {
    throw std::runtime_error(
        "[bench-model] " + args.mlx_lm_python +
        " -m qlinear.lm.bench_mlx_lm failed (its error is above); --mlx-lm-python needs a "
        "Python with mlx-lm and the qlinear package (pip install mlx-lm /path/to/qlinear)");
  }
  const auto json = nlohmann::json::parse(run.out);
  return {json.at("decode").at("tps").get<double>(), json.at("prefill").at("tps").get<double>(),
          "MLX " + json.at("mlx").get<std::string>() + ", mlx-lm " +
              json.at("mlx_lm").get<std::string>() + " on " + json.at("device").get<std::string>()};
}

std::string folder_name(const SyntheticModelShape& s, int bits) {
  return "llama-h" + std::to_string(s.hidden) + "-l" + std::to_string(s.blocks) + "-a" +
         std::to_string(s.heads) + "-kv" + std::to_string(s.kv_heads) + "-i" +
         std::to_string(s.intermediate) + "-v" + std::to_string(s.vocab) + "-" +
         std::to_string(bits) + "bit";
}

// The quantized folder of the shape and width under root: synthesized (bfloat16, tied) and
// converted as `qlinear convert -q` does, unless a finished one is already there.
std::filesystem::path prepare_folder(const BenchModelArgs& args,
                                     const std::filesystem::path& root) {
  const std::filesystem::path quantized = root / folder_name(args.shape, args.bits);
  if (std::filesystem::exists(quantized / "config.json")) return quantized;
  const std::filesystem::path float_dir = root / (folder_name(args.shape, args.bits) + "-float");
  std::filesystem::remove_all(float_dir);  // what a killed run left
  auto step = Clock::now();
  write_synthetic_model(float_dir, args.shape, 0);
  std::fprintf(stderr, "bench-model: synthesized the bfloat16 model in %.1f s\n",
               seconds_since(step));
  step = Clock::now();
  ConvertOptions options;
  options.quantize = true;  // affine, group 64
  options.bits = args.bits;
  run_conversion(plan_conversion(float_dir, options), quantized);
  std::filesystem::remove_all(float_dir);
  std::fprintf(stderr, "bench-model: converted it to %d-bit g64 in %.1f s\n", args.bits,
               seconds_since(step));
  return quantized;
}

// Refuses a shape or cache the rows cannot be run on, before any work.
void check_args(const BenchModelArgs& args) {
  const SyntheticModelShape& s = args.shape;
  auto refuse = [](const std::string& why) {
    throw std::invalid_argument("[bench-model] " + why + ".");
  };
  if (s.hidden % 64 != 0 || s.intermediate % 64 != 0) {
    refuse("--hidden and --intermediate must be multiples of the group size 64, got " +
           std::to_string(s.hidden) + " and " + std::to_string(s.intermediate));
  }
  if (s.hidden % s.heads != 0 || s.heads % s.kv_heads != 0) {
    refuse("--heads must divide --hidden and --kv-heads divide --heads, got hidden " +
           std::to_string(s.hidden) + ", " + std::to_string(s.heads) + " heads, " +
           std::to_string(s.kv_heads) + " kv heads");
  }
  const std::int64_t head_dim = s.hidden / s.heads;
  if (head_dim % 2 != 0 || head_dim % args.kv_group_size != 0) {
    refuse("the head dimension " + std::to_string(head_dim) +
           " must be even and a multiple of --kv-group-size " + std::to_string(args.kv_group_size));
  }
  QuantSpec::resolve("bench-model", QuantMode::affine, args.kv_group_size, args.kv_bits);
}

void run(const BenchModelArgs& args) {
  check_args(args);
  const WorkFolder work(args.keep, "qlinear-bench-model");
  const std::filesystem::path& root = work.path();

  const std::filesystem::path folder = prepare_folder(args, root);
  const double weight_bytes = stored_tensor_bytes(folder);
  const lm::LoadedLm loaded = lm::load(folder, args.load);
  const lm::Model& model = *loaded.model;
  const auto& s = args.shape;
  if (!args.json) {
    std::printf(
        "bench-model: Llama-shaped (hidden %lld, %lld layers, %lld heads, %lld kv heads, MLP "
        "%lld, vocab %lld, tied), %d-bit g64 in %s\n"
        "  %s of weights, scales, biases and norms read once per decoded token, plus the KV "
        "cache; kernels %s\n",
        static_cast<long long>(s.hidden), static_cast<long long>(s.blocks),
        static_cast<long long>(s.heads), static_cast<long long>(s.kv_heads),
        static_cast<long long>(s.intermediate), static_cast<long long>(s.vocab), args.bits,
        folder.c_str(), format_bytes(static_cast<std::uint64_t>(weight_bytes)).c_str(),
        std::string(active_isa()).c_str());
  }

  std::optional<MlxLmRates> mlx_lm;
  if (!args.mlx_lm_python.empty()) {
    mlx_lm = run_mlx_lm(args, folder);
    if (!args.json) std::printf("  mlx-lm: %s\n", mlx_lm->versions.c_str());
  }
  if (!args.json) print_header();
  if (mlx_lm) {
    print_row({.op = "mlx_lm_decode",
               .tokens = args.mlx_lm_decode_tokens,
               .context = args.decode_prompt_tokens + args.mlx_lm_decode_tokens / 2,
               .tps = mlx_lm->decode_tps},
              args.json);
    print_row(
        {.op = "mlx_lm_prefill", .tokens = args.mlx_lm_prefill_tokens, .tps = mlx_lm->prefill_tps},
        args.json);
  }

  const double float_kv = kv_bytes_per_position(loaded.args, std::nullopt, 0);
  const double quantized_kv = kv_bytes_per_position(loaded.args, args.kv_bits, args.kv_group_size);
  for (int threads : args.threads) {
    set_num_threads(threads);
    const StreamRates stream = measure_stream(threads, args.min_seconds);
    print_stream_row(threads, stream, args.json);
    prefill_tps(model, 8);  // warm-up: the weights paged in

    Row decode{.op = "decode",
               .threads = threads,
               .tokens = args.decode_tokens,
               .context = args.decode_prompt_tokens + args.decode_tokens / 2,
               .read_gbps = stream.read_gbps()};
    lm::Cache cache = model.make_cache();
    model(Tensor::from_values<std::int64_t>(
              {1, args.decode_prompt_tokens}, Dtype::int64,
              prompt_of(args.decode_prompt_tokens, loaded.args.vocab_size)),
          &cache);
    decode.tps = decode_tps(model, cache, args.decode_tokens);
    decode.bytes_per_token = weight_bytes + float_kv * static_cast<double>(decode.context);
    if (mlx_lm) decode.vs_mlx_lm = decode.tps / mlx_lm->decode_tps;
    print_row(decode, args.json);

    Row prefill{.op = "prefill", .threads = threads, .tokens = args.prefill_tokens};
    prefill.tps = prefill_tps(model, args.prefill_tokens);
    print_row(prefill, args.json);
    if (mlx_lm) {
      Row same{.op = "prefill", .threads = threads, .tokens = args.mlx_lm_prefill_tokens};
      same.tps = args.mlx_lm_prefill_tokens == args.prefill_tokens
                     ? prefill.tps
                     : prefill_tps(model, args.mlx_lm_prefill_tokens);
      same.vs_mlx_lm = same.tps / mlx_lm->prefill_tps;
      if (args.mlx_lm_prefill_tokens != args.prefill_tokens)
        print_row(same, args.json);
      else
        prefill.vs_mlx_lm = same.vs_mlx_lm;
    }

    Row long_decode{.op = "decode_kv" + std::to_string(args.kv_bits),
                    .threads = threads,
                    .tokens = args.decode_tokens,
                    .context = args.context + args.decode_tokens / 2,
                    .read_gbps = stream.read_gbps()};
    lm::Cache long_cache = random_cache(model, args.context, args.kv_bits, args.kv_group_size);
    long_decode.tps =
        decode_tps(model, long_cache, args.decode_tokens, args.kv_bits, args.kv_group_size);
    long_decode.bytes_per_token =
        weight_bytes + quantized_kv * static_cast<double>(long_decode.context);
    print_row(long_decode, args.json);
  }
}

}  // namespace

void add_bench_model_command(CLI::App& app) {
  auto args = std::make_shared<BenchModelArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench-model",
      "Decode and prefill tokens per second of a synthesized Llama-3.2-1B-shaped quantized model "
      "against the read bandwidth probed in the same run (and against mlx-lm on the CPU)");
  cmd->add_option("--keep", args->keep,
                  "Keep the model folder under this folder (reused when already there)");
  cmd->add_option("--threads", args->threads, "Thread counts to measure")
      ->delimiter(',')
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--decode-prompt-tokens", args->decode_prompt_tokens,
                  "Prompt before the decode rows' tokens")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--decode-tokens", args->decode_tokens, "Tokens per decode row")
      ->check(CLI::Range(3, 4096));
  cmd->add_option("--prefill-tokens", args->prefill_tokens, "Prompt of the prefill row")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--context", args->context, "Prompt of the quantized-cache decode row")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--bits", args->bits, "Affine width of the weights (group 64)")
      ->check(CLI::IsMember({1, 2, 3, 4, 5, 6, 8}));
  cmd->add_option("--kv-bits", args->kv_bits, "Bits of that row's cache")->check(CLI::Range(1, 8));
  cmd->add_option("--kv-group-size", args->kv_group_size, "Group size of that row's cache");
  cmd->add_option("--min-seconds", args->min_seconds, "Time per bandwidth probe")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--mlx-lm-python", args->mlx_lm_python,
                  "A Python with mlx-lm and the qlinear package: adds mlx-lm's rows (CPU) and "
                  "the ratios");
  cmd->add_option("--mlx-lm-decode-tokens", args->mlx_lm_decode_tokens,
                  "Tokens of mlx-lm's decode row")
      ->check(CLI::Range(3, 4096));
  cmd->add_option("--mlx-lm-prefill-tokens", args->mlx_lm_prefill_tokens,
                  "Prompt of mlx-lm's prefill row (qlinear's is also timed at it)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--hidden", args->shape.hidden, "Model width")->check(CLI::Range(64, 16384));
  cmd->add_option("--intermediate", args->shape.intermediate, "MLP width")
      ->check(CLI::Range(64, 65536));
  cmd->add_option("--vocab", args->shape.vocab, "Vocabulary size")->check(CLI::Range(64, 262144));
  cmd->add_option("--layers", args->shape.blocks, "Transformer blocks")->check(CLI::Range(1, 256));
  cmd->add_option("--heads", args->shape.heads, "Attention heads")->check(CLI::Range(1, 256));
  cmd->add_option("--kv-heads", args->shape.kv_heads, "Key/value heads")->check(CLI::Range(1, 256));
  cmd->add_flag("--json", args->json, "One JSON object per row");
  cmd->add_flag("--lazy", args->load.lazy,
                "Decode from the mapped weight files, not a copy in memory (generate --lazy)");
  cmd->callback([args] { run(*args); });
}

}  // namespace qlinear::cli
