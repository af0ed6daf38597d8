// The qlinear tool's model commands end to end on a small synthetic Llama folder:
// `generate` (its sampling flags, the summary lines, --json, --prompt through a stand-in
// for the Python tokenizer, usage errors), `demo` (its report on a tiny model) and
// `bench-model` (its rows and JSON keys, the ceiling's bytes, a stand-in for mlx-lm, usage
// errors).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <tuple>

#include "common/cli_llama.h"
#include "common/cli_runner.h"
#include "qlinear/io.h"
#include "qlinear/lm.h"
#include "qlinear/model.h"
#include "qlinear/ops.h"

namespace qlinear {
namespace {

namespace fs = std::filesystem;

using Result = testing::CliResult;
using testing::read_text;

class ModelCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = testing::write_cli_llama("qlinear_model_cli"); }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static Result run(const std::string& args, const std::string& env = "") {
    return testing::run_cli(args, dir_, env);
  }
  static std::string folder() { return (dir_ / "llama").string(); }
  static std::vector<std::int64_t> json_tokens(const std::string& flags) {
    const Result r = run("generate " + folder() + " --prompt-tokens 3,17,42 -m 12 --json " + flags);
    EXPECT_EQ(r.status, 0) << r.err;
    return nlohmann::json::parse(r.out).at("tokens").get<std::vector<std::int64_t>>();
  }

  static std::vector<std::int64_t> library_tokens(const std::vector<std::int64_t>& prompt,
                                                  std::int64_t n) {
    const lm::LoadedLm loaded = lm::load(folder());
    std::vector<std::int64_t> tokens;
    lm::generate(*loaded.model, prompt, {.max_tokens = n}, [&](std::int64_t t) {
      tokens.push_back(t);
      return true;
    });
    return tokens;
  }

  static inline fs::path dir_;
};

TEST_F(ModelCli, GreedyTokensAreTheLibrarysAndTheSummaryIsMlxLms) {
  const std::vector<std::int64_t> expected = library_tokens({3, 17, 42}, 12);
  EXPECT_EQ(json_tokens("--temp 0"), expected);
  const Result r = run("generate " + folder() + " --prompt-tokens 3,17,42 -m 12");
  ASSERT_EQ(r.status, 0) << r.err;
  std::string ids;
  for (std::int64_t t : expected) {
    if (!ids.empty()) ids += ' ';
    ids += std::to_string(t);
  }
  EXPECT_TRUE(std::regex_match(r.out, std::regex("==========\n" + ids +
                                                 "\n==========\n"
                                                 "Prompt: 3 tokens, [0-9.]+ tokens-per-sec\n"
                                                 "Generation: 12 tokens, [0-9.]+ tokens-per-sec\n"
                                                 "Peak memory: [0-9.]+ GB\n")))
      << r.out;
}

// An mlx-lm float16 4-bit folder -> GGUF (Q4_1, exact) -> folder again (the tokenizer step
// failing with a warning): every layer dequantizes to the same values.
TEST_F(ModelCli, GgufRoundTripKeepsTheQuantizedWeights) {
  const fs::path quantized = dir_ / "llama-q4", gguf = dir_ / "llama.gguf", back = dir_ / "back";
  Result r = run("convert " + folder() + " " + quantized.string() + " -q --dtype float16");
  ASSERT_EQ(r.status, 0) << r.err;
  r = run("convert " + quantized.string() + " " + gguf.string());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(std::regex_search(
      r.out,
      std::regex("model.layers.0.self_attn.q_proj.weight +blk.0.attn_q.weight +Q4_1 +yes +0\n")))
      << r.out;
  r = run("inspect " + gguf.string());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("  general.architecture: \"llama\"\n"), std::string::npos) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("blk.1.ffn_down.weight +Q4_1 +\\(64, 128\\)")))
      << r.out;
  r = run("convert " + gguf.string() + " " + back.string(), "QLINEAR_PYTHON=/bin/false");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("[WARN] No tokenizer written"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(back / "tokenizer.json"));
  const TensorMap original = load_folder_weights(quantized), converted = load_folder_weights(back);
  int layers = 0;
  for (const auto& [name, scales] : original) {
    if (!name.ends_with(".scales")) continue;
    const std::string layer = name.substr(0, name.size() - 7);
    const auto values = [&](const TensorMap& w, int group_size) {
      return dequantize(w.at(layer + ".weight"), w.at(layer + ".scales").astype(Dtype::float32),
                        w.at(layer + ".biases").astype(Dtype::float32), group_size, 4);
    };
    EXPECT_TRUE(values(converted, 32).bit_equal(values(original, 64))) << layer;
    ++layers;
  }
  EXPECT_EQ(layers, 2 * 7 + 2);  // 7 per block, the embedding and the head
}

TEST_F(ModelCli, SamplingFlagsAreSeededAndFiltered) {
  const std::string flags = "--temp 1.5 --top-p 0.95 --min-p 0.01 --top-k 40 --seed 7";
  const std::vector<std::int64_t> sampled = json_tokens(flags);
  EXPECT_EQ(json_tokens(flags), sampled);
  EXPECT_EQ(json_tokens(flags + " --threads 1"), sampled);
  EXPECT_NE(json_tokens("--temp 1.5 --top-p 0.95 --min-p 0.01 --top-k 40 --seed 8"), sampled);
  EXPECT_NE(json_tokens("--temp 1.5 --seed 7"), sampled);  // the filters took part
  // One candidate left: the greedy tokens whatever the seed.
  EXPECT_EQ(json_tokens("--temp 2 --top-k 1 --seed 1"), json_tokens(""));
  EXPECT_NE(json_tokens("--repetition-penalty 5 --repetition-context-size 4"), json_tokens(""));
}

// A stand-in for `python -m qlinear.lm.cli_tokenizer`: encode answers the prompt's length
// and its arguments as ids; stream prints "<id>" per token.
fs::path write_fake_python(const fs::path& dir) {
  const fs::path script = dir / "fake_python";
  std::ofstream(script) << R"(#!/bin/sh
shift 2  # -m qlinear.lm.cli_tokenizer
if [ "$1" = encode ]; then
  printf '{"ids": [%d, %d, 5], "eos": []}\n' "${#3}" "$#"
else
  while read -r id; do printf '<%s>' "$id"; done
fi
)";
  fs::permissions(script, fs::perms::owner_all);
  return script;
}

TEST_F(ModelCli, TextPromptsGoThroughThePythonTokenizer) {
  const std::string env = "QLINEAR_PYTHON=" + write_fake_python(dir_).string();
  // "it's a fox" is 10 characters, passed as one argument; encode gets 3 arguments.
  const Result r = run("generate " + folder() + " --prompt \"it's a fox\" -m 4", env);
  ASSERT_EQ(r.status, 0) << r.err;
  std::string text;
  for (std::int64_t t : library_tokens({10, 3, 5}, 4)) {
    text += '<';
    text += std::to_string(t);
    text += '>';
  }
  EXPECT_EQ(r.out.substr(0, r.out.find("\nPrompt:")), "==========\n" + text + "\n==========");
  // The chat-template flags reach the tokenizer: two more arguments, then one.
  const auto tokens = [&](const std::string& flags) {
    const Result result = run("generate " + folder() + " --prompt ab -m 3 --json " + flags, env);
    EXPECT_EQ(result.status, 0) << result.err;
    return nlohmann::json::parse(result.out).at("tokens").get<std::vector<std::int64_t>>();
  };
  EXPECT_EQ(tokens("--system-prompt s"), library_tokens({2, 5, 5}, 3));
  EXPECT_EQ(tokens("--ignore-chat-template"), library_tokens({2, 4, 5}, 3));
}

TEST_F(ModelCli, GenerateUsageErrors) {
  const Result missing_python =
      run("generate " + folder() + " --prompt hi -m 2", "QLINEAR_PYTHON=/nonexistent/python");
  EXPECT_EQ(missing_python.status, 1);
  EXPECT_NE(missing_python.err.find("--prompt needs the qlinear Python package with Hugging "
                                    "Face transformers"),
            std::string::npos)
      << missing_python.err;
  EXPECT_EQ(run("generate " + folder() + " -m 2").status, 2);  // no prompt
  EXPECT_EQ(run("generate " + folder() + " --prompt a --prompt-tokens 1").status, 2);
  EXPECT_EQ(run("generate " + folder() + " --prompt-tokens 1 --min-p 2").status, 2);
  EXPECT_EQ(run("generate " + folder() + " --prompt-tokens 1 --temp -1").status, 2);
  const Result top_k = run("generate " + folder() + " --prompt-tokens 1 --temp 1 --top-k 256");
  EXPECT_EQ(top_k.status, 1);
  EXPECT_NE(top_k.err.find("`top_k` has to be an integer in the (0, 256) interval, but is 256"),
            std::string::npos)
      << top_k.err;
}

TEST_F(ModelCli, DemoGeneratesFromEachFolderAndReportsAgreement) {
  const Result r =
      run("demo --hidden 128 --intermediate 256 --vocab 512 --blocks 2 "
          "--prompt-tokens 32 -m 32 --seed 1");
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string number = "([0-9.]+)";
  const std::regex float_row("\n  float +" + number + " KiB +16.00 +" + number + " +" + number +
                             " +1.00x +\\(reference\\)  [0-9 ]+\n");
  EXPECT_TRUE(std::regex_search(r.out, float_row)) << r.out;
  // Agreement over the 63 positions of prompt + float tokens. Bounds from the tiny
  // model's flat next-token distributions (seeds 0-3 measured 82-89% for 4-bit and
  // 17-79% for mixed_3_6; chance is 1/512): well below, well above chance.
  for (const auto& [name, bits, lowest] :
       {std::tuple{"4-bit g64", "4.52", 60.0}, std::tuple{"mixed_3_6", "4.27", 10.0}}) {
    std::smatch m;
    const std::regex row("\n  " + std::string(name) + " +" + number + " KiB +" + bits + " +" +
                         number + " +" + number + " +" + number + "x +" + number + "%  [0-9 ]+\n");
    ASSERT_TRUE(std::regex_search(r.out, m, row)) << name << "\n" << r.out;
    EXPECT_LT(std::stod(m[1]), 803.0 / 3) << name;  // under a third of the float bytes
    EXPECT_GT(std::stod(m[3]), 0) << name;          // generation tokens per second
    EXPECT_GE(std::stod(m[5]), lowest) << name;
    EXPECT_LE(std::stod(m[5]), 100.0) << name;
  }
  EXPECT_NE(r.out.find("agreement: share of the 63 positions"), std::string::npos);
  EXPECT_TRUE(std::regex_search(r.out, std::regex("peak memory: [0-9.]+ GB")));
  // The old layer table stays behind --layers.
  const Result layers = run("demo --hidden 128 --intermediate 256 --vocab 512 --blocks 2 --layers");
  ASSERT_EQ(layers.status, 0) << layers.err;
  EXPECT_NE(layers.out.find("4-bit, group 64 (affine) vs float:"), std::string::npos);
  EXPECT_NE(layers.out.find("down_proj"), std::string::npos);
}

}  // namespace
// A stand-in for `python -m qlinear.lm.bench_mlx_lm`: records its arguments, answers fixed
// rates (decode 2 tokens/s, prefill 4).
fs::path write_fake_mlx_lm(const fs::path& dir) {
  const fs::path script = dir / "fake_mlx_lm_python";
  std::ofstream(script) << "#!/bin/sh\necho \"$@\" > " << (dir / "mlx_lm_args").string() << R"(
echo '{"mlx": "m", "mlx_lm": "l", "device": "cpu", "decode": {"tps": 2.0}, "prefill": {"tps": 4.0}}'
)";
  fs::permissions(script, fs::perms::owner_all);
  return script;
}

// A small model for bench-model: head_dim 64, so kv group 64 fits.
const std::string kBenchShape =
    "bench-model --hidden 256 --intermediate 512 --vocab 1000 --layers 2 --heads 4 --kv-heads 1 "
    "--min-seconds 0 --threads 1 ";

TEST_F(ModelCli, BenchModelRowsCarryTheCeilingAndTheMlxLmRatio) {
  if (testing::kProbeTooLargeForSanitizer) GTEST_SKIP() << "the read probe under ThreadSanitizer";
  const fs::path keep = dir_ / "bench";
  const Result r = run(kBenchShape +
                       "--json --decode-prompt-tokens 5 --decode-tokens 6 "
                       "--prefill-tokens 24 --context 100 --mlx-lm-prefill-tokens 8 "
                       "--mlx-lm-decode-tokens 3 --keep " +
                       keep.string() + " --mlx-lm-python " + write_fake_mlx_lm(dir_).string());
  ASSERT_EQ(r.status, 0) << r.err;
  const fs::path folder = keep / "llama-h256-l2-a4-kv1-i512-v1000-4bit";
  EXPECT_EQ(read_text(dir_ / "mlx_lm_args"),
            "-m qlinear.lm.bench_mlx_lm " + folder.string() +
                " --decode-prompt-tokens 5 --decode-tokens 3 --prefill-tokens 8\n");
  std::vector<nlohmann::json> rows;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 7u) << r.out;
  const std::vector<std::string> ops = {"mlx_lm_decode", "mlx_lm_prefill", "stream_read", "decode",
                                        "prefill",       "prefill",        "decode_kv8"};
  for (std::size_t i = 0; i < ops.size(); ++i) EXPECT_EQ(rows[i]["op"], ops[i]) << i;
  EXPECT_EQ(rows[0]["tps"], 2.0);
  EXPECT_EQ(rows[1]["tps"], 4.0);
  EXPECT_EQ(rows[4]["tokens"], 24);
  EXPECT_FALSE(rows[4].contains("vs_mlx_lm"));
  EXPECT_EQ(rows[5]["tokens"], 8);  // qlinear at mlx-lm's prefill length, for the ratio
  EXPECT_DOUBLE_EQ(rows[5]["vs_mlx_lm"].get<double>(), rows[5]["tps"].get<double>() / 4.0);
  EXPECT_DOUBLE_EQ(rows[3]["vs_mlx_lm"].get<double>(), rows[3]["tps"].get<double>() / 2.0);

  // Bytes per decoded token: every stored tensor once, plus keys and values of the mean
  // context (5 + 6 / 2 positions float32; 100 + 3 positions at 8 bits with a float32 scale
  // and bias per 64 values), 2 layers x 1 kv head x head_dim 64.
  double weights = 0;
  for (const auto& [name, t] : load_safetensors(folder / "model.safetensors").tensors)
    weights += static_cast<double>(t.nbytes());
  const double gbps = rows[2]["gbps"].get<double>();
  EXPECT_GT(gbps, 0);
  for (const auto& [row, context, position_bytes] :
       {std::tuple{rows[3], 8, 2.0 * 2 * 64 * 4}, std::tuple{rows[6], 103, 2.0 * 2 * (64 + 8)}}) {
    EXPECT_EQ(row["context"], context);
    const double bytes = weights + context * position_bytes;
    EXPECT_DOUBLE_EQ(row["bytes_per_token"].get<double>(), bytes);
    EXPECT_DOUBLE_EQ(row["read_gbps"].get<double>(), gbps);
    EXPECT_DOUBLE_EQ(row["ceiling_tps"].get<double>(), gbps * 1e9 / bytes);
    EXPECT_NEAR(row["pct_of_ceiling"].get<double>(),
                100 * row["tps"].get<double>() / (gbps * 1e9 / bytes), 1e-9);
    EXPECT_NEAR(row["ms_per_token"].get<double>(), 1e3 / row["tps"].get<double>(), 1e-9);
  }
  EXPECT_NE(r.err.find("synthesized"), std::string::npos);
  // --keep reuses the folder; the table has a header and the same rows.
  const Result again = run(kBenchShape +
                           "--decode-tokens 3 --prefill-tokens 4 --context 64 "
                           "--keep " +
                           keep.string());
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(again.err.find("synthesized"), std::string::npos) << again.err;
  for (const char* row : {"\nop ", "\nstream_read ", "\ndecode ", "\nprefill ", "\ndecode_kv8 "})
    EXPECT_NE(again.out.find(row), std::string::npos) << row << again.out;
  // --bits converts a folder of its own width beside the 4-bit one.
  const Result three = run(kBenchShape +
                           "--bits 3 --decode-tokens 3 --prefill-tokens 4 "
                           "--context 64 --keep " +
                           keep.string());
  ASSERT_EQ(three.status, 0) << three.err;
  EXPECT_NE(three.out.find("3-bit g64"), std::string::npos) << three.out;
  const nlohmann::json config = nlohmann::json::parse(
      read_text(keep / "llama-h256-l2-a4-kv1-i512-v1000-3bit" / "config.json"));
  EXPECT_EQ(config["quantization"]["bits"], 3);
  EXPECT_EQ(config["quantization"]["group_size"], 64);
}

TEST_F(ModelCli, BenchModelUsageErrors) {
  const Result odd = run("bench-model --hidden 100 --intermediate 512");
  EXPECT_EQ(odd.status, 1);
  EXPECT_NE(odd.err.find("[bench-model] --hidden and --intermediate must be multiples of the "
                         "group size 64, got 100 and 512."),
            std::string::npos)
      << odd.err;
  const Result heads = run("bench-model --hidden 256 --heads 3");
  EXPECT_EQ(heads.status, 1);
  EXPECT_NE(heads.err.find("--heads must divide --hidden"), std::string::npos) << heads.err;
  const Result group = run("bench-model --hidden 256 --heads 8 --kv-heads 8");  // head_dim 32
  EXPECT_EQ(group.status, 1);
  EXPECT_NE(group.err.find("the head dimension 32 must be even and a multiple of "
                           "--kv-group-size 64"),
            std::string::npos)
      << group.err;
  EXPECT_EQ(run("bench-model --kv-bits 9").status, 2);
  EXPECT_EQ(run("bench-model --bits 7").status, 2);
  EXPECT_EQ(run("bench-model --decode-tokens 2").status, 2);
  const Result python = run(kBenchShape + "--mlx-lm-python /nonexistent/python");
  EXPECT_EQ(python.status, 1);
  EXPECT_NE(python.err.find("--mlx-lm-python needs a Python with mlx-lm and the qlinear "
                            "package"),
            std::string::npos)
      << python.err;
}

}  // namespace qlinear
