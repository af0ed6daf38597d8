// The qlinear tool end to end: its files match the library's ops bit for bit, and bad
// arguments or files give one line on stderr, a non-zero status and no output file.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/cli_runner.h"
#include "core/random.h"
#include "qlinear/io.h"
#include "qlinear/lm.h"
#include "qlinear/model.h"
#include "qlinear/ops.h"
#include "qlinear/quant_spec.h"

namespace qlinear {
namespace {

namespace fs = std::filesystem;

using Result = testing::CliResult;
using testing::read_text;

// One JSON object per line, as `qlinear bench --json` prints them.
std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::istringstream lines(text);
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    // Named by test and process: two builds' suites may run at once on one machine.
    dir_ = fs::temp_directory_path() /
           ("qlinear_cli_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    input_ = dir_ / "model.safetensors";
    save_safetensors(
        input_,
        {{"layers.0.proj.weight", testing::random_normal({24, 128}, Dtype::bfloat16, 1)},
         {"layers.0.proj.bias", testing::random_normal({24}, Dtype::bfloat16, 2)},
         {"norm.weight", testing::random_normal({128}, Dtype::float32, 3)},
         {"odd.weight", testing::random_normal({4, 100}, Dtype::float32, 4)}},
        {{"source", "test"}});
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result run(const std::string& args) const { return testing::run_cli(args, dir_); }

  fs::path dir_, input_;
};

// Every affine width of the catalogue, 1-bit included.
TEST_F(Cli, QuantizeWritesMlxLayoutIdenticalToTheOps) {
  const auto in = load_safetensors(input_);
  for (const int bits : modes::kAffineBits) {
    SCOPED_TRACE("bits " + std::to_string(bits));
    const fs::path out = dir_ / ("q" + std::to_string(bits) + ".safetensors");
    const Result r = run("quantize " + input_.string() + " " + out.string() + " --bits " +
                         std::to_string(bits) + " --group-size 32");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("layers.0.proj.weight"), std::string::npos);
    EXPECT_NE(r.out.find("odd.weight"), std::string::npos);  // reported as kept in float
    const auto q = load_safetensors(out);
    const Quantized expected = quantize(in.tensors.at("layers.0.proj.weight"), 32, bits);
    EXPECT_TRUE(q.tensors.at("layers.0.proj.weight").bit_equal(expected.wq));
    EXPECT_TRUE(q.tensors.at("layers.0.proj.scales").bit_equal(expected.scales));
    EXPECT_TRUE(q.tensors.at("layers.0.proj.biases").bit_equal(*expected.biases));
    for (const char* kept : {"layers.0.proj.bias", "norm.weight", "odd.weight"}) {
      EXPECT_TRUE(q.tensors.at(kept).bit_equal(in.tensors.at(kept))) << kept;
    }
    EXPECT_EQ(q.tensors.size(), 6u);
    EXPECT_EQ(q.metadata.at("format"), "mlx");
    EXPECT_EQ(q.metadata.at("source"), "test");
    EXPECT_EQ(q.metadata.at("quantization"),
              R"({"bits":)" + std::to_string(bits) + R"(,"group_size":32,"mode":"affine"})");
  }
}

TEST_F(Cli, DequantizeReversesQuantize) {
  const fs::path q = dir_ / "q.safetensors", d = dir_ / "d.safetensors";
  ASSERT_EQ(run("quantize " + input_.string() + " " + q.string() + " -b 5").status, 0);
  const Result r = run("dequantize " + q.string() + " " + d.string());
  ASSERT_EQ(r.status, 0) << r.err;
  const auto packed = load_safetensors(q);
  const auto restored = load_safetensors(d);
  const Tensor expected = dequantize(packed.tensors.at("layers.0.proj.weight"),
                                     packed.tensors.at("layers.0.proj.scales"),
                                     packed.tensors.at("layers.0.proj.biases"), 64, 5);
  EXPECT_TRUE(restored.tensors.at("layers.0.proj.weight").bit_equal(expected));
  EXPECT_EQ(restored.tensors.size(), 4u);
  EXPECT_EQ(restored.metadata.count("quantization"), 0u);
}

TEST_F(Cli, InspectListsTensorsAndMetadata) {
  const Result r = run("inspect " + input_.string());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("layers.0.proj.weight"), std::string::npos);
  EXPECT_NE(r.out.find("bfloat16"), std::string::npos);
  EXPECT_NE(r.out.find("(24, 128)"), std::string::npos);
  EXPECT_NE(r.out.find("source: test"), std::string::npos);
}

TEST_F(Cli, InspectListsAGgufFile) {
  const Result r = run("inspect " QLINEAR_TEST_DATA "/gguf/tiny.gguf");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* line :
       {"GGUF v3, alignment 32, 6 metadata keys, 9 tensors\n", "  llama.block_count: 1\n",
        "  tokenizer.ggml.tokens: [\"<s>\", \"a\", \"b\"]\n",
        "  tokenizer.ggml.scores: [0, -1.5, -2.5]\n",
        "blk.0.q4_k.weight                                Q4_K     (2, 256)                    288 "
        "B\n",
        "9 tensors, 2.78 KiB: 1 BF16 (384 B) 1 F16 (384 B) 1 F32 (768 B) 1 Q2_K (168 B) 1 Q4_0 "
        "(108 B) 1 Q4_1 (120 B) 1 Q4_K (288 B) 1 Q6_K (420 B) 1 Q8_0 (204 B)\n"}) {
    EXPECT_NE(r.out.find(line), std::string::npos) << line << r.out;
  }
  const fs::path truncated = dir_ / "truncated.gguf";
  std::ofstream(truncated) << "GGUF";
  const Result bad = run("inspect " + truncated.string());
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("[load_gguf] " + truncated.string() + ": "), std::string::npos) << bad.err;
}

TEST_F(Cli, BadBitsFailWithOneLineAndNoOutput) {
  const fs::path out = dir_ / "q.safetensors";
  const Result r = run("quantize " + input_.string() + " " + out.string() + " --bits 7");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err,
            "qlinear: error: [quantize] The requested number of bits 7 is not supported. The "
            "supported bits are 1, 2, 3, 4, 5, 6 and 8.\n");
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(Cli, UsageErrorsExitWithStatusTwo) {
  const Result missing = run("quantize " + input_.string());
  EXPECT_EQ(missing.status, 2);
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;
  EXPECT_EQ(run("frobnicate").status, 2);
  EXPECT_EQ(run("quantize " + input_.string() + " out --bits four").status, 2);
}

TEST_F(Cli, MalformedInputLeavesExistingOutputIntact) {
  const fs::path bad = dir_ / "bad.safetensors", out = dir_ / "out.safetensors";
  std::ofstream(bad) << "not a safetensors file";
  std::ofstream(out) << "previous contents";
  const Result r = run("quantize " + bad.string() + " " + out.string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find(bad.string()), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(read_text(out), "previous contents");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 5);
}

// The float modes: each mode's own group size and bits by default, uint8 scales and no
// biases, mlx-lm's settings block, and dequantize reading the mode back from the file.
TEST_F(Cli, FloatModesUseTheirDefaultsAndRoundTrip) {
  const auto in = load_safetensors(input_);
  for (const std::string mode : {"mxfp4", "mxfp8", "nvfp4"}) {
    const fs::path q = dir_ / (mode + ".safetensors"), d = dir_ / (mode + "_d.safetensors");
    const Result r = run("quantize " + input_.string() + " " + q.string() + " --mode " + mode);
    ASSERT_EQ(r.status, 0) << r.err;
    const QuantSpec spec = QuantSpec::defaults(parse_quant_mode(mode, "test"));
    const Quantized expected =
        quantize(in.tensors.at("layers.0.proj.weight"), std::nullopt, std::nullopt, mode);
    const auto packed = load_safetensors(q);
    EXPECT_TRUE(packed.tensors.at("layers.0.proj.weight").bit_equal(expected.wq)) << mode;
    EXPECT_TRUE(packed.tensors.at("layers.0.proj.scales").bit_equal(expected.scales)) << mode;
    EXPECT_EQ(packed.tensors.count("layers.0.proj.biases"), 0u);
    EXPECT_EQ(packed.metadata.at("quantization"),
              "{\"bits\":" + std::to_string(spec.bits) + ",\"group_size\":" +
                  std::to_string(spec.group_size) + ",\"mode\":\"" + mode + "\"}");
    ASSERT_EQ(run("dequantize " + q.string() + " " + d.string()).status, 0);
    const Tensor w_hat = dequantize(expected.wq, expected.scales, std::nullopt, std::nullopt,
                                    std::nullopt, mode);  // bfloat16, MLX's default here
    EXPECT_TRUE(load_safetensors(d).tensors.at("layers.0.proj.weight").bit_equal(w_hat)) << mode;
  }
}

TEST_F(Cli, WrongGroupSizeForAFloatModeFails) {
  const fs::path out = dir_ / "q.safetensors";
  const Result r =
      run("quantize " + input_.string() + " " + out.string() + " --mode nvfp4 --group-size 32");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err,
            "qlinear: error: [quantize] nvfp4 quantization requires group size 16 but got 32.\n");
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(Cli, BenchJsonRowsCarryTheIssueKeysAndConsistentRates) {
  const Result r =
      run("bench --m 1,3 --k 256 --n 64 --bits 4 --group-size 64 --threads 1 --cold off "
          "--baselines reference --precision exact,int8 --json --min-seconds 0");
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<nlohmann::json> rows = json_lines(r.out);
  ASSERT_EQ(rows.size(), 8u) << r.out;  // (M = 1, 3) x (exact, int8) x (ours, reference)
  // 64 rows of 256 4-bit codes, and float32 scales and biases for 4 groups per row.
  const double weight_bytes = 64 * 256 / 2 + 2 * 64 * 4 * 4;
  for (const auto& row : rows) {
    for (const char* key : {"op", "mode", "bits", "group_size", "dtype", "M", "K", "N", "transpose",
                            "threads", "cold", "isa", "median_ms", "gbps", "gflops", "precision"}) {
      EXPECT_TRUE(row.contains(key)) << key << " missing in " << row.dump();
    }
    const double ms = row["median_ms"].get<double>();
    ASSERT_GT(ms, 0.0);
    EXPECT_NEAR(row["gbps"].get<double>() * ms * 1e6, weight_bytes, 1e-6 * weight_bytes);
    const double flops = 2.0 * row["M"].get<double>() * 256 * 64;
    EXPECT_NEAR(row["gflops"].get<double>() * ms * 1e6, flops, 1e-6 * flops);
  }
  EXPECT_EQ(rows[0]["op"], "quantized_matmul");
  EXPECT_EQ(rows[0]["precision"], "exact");
  EXPECT_EQ(rows[1]["op"], "reference");
  EXPECT_EQ(rows[1]["isa"], "scalar");
  EXPECT_EQ(rows[2]["precision"], "int8");
  EXPECT_EQ(rows[3]["precision"], "exact");  // the reference is exact whatever is asked
}

TEST_F(Cli, BenchTimesGatherQmmAtEachPrecisionAsked) {
  const Result r =
      run("bench --op gather_qmm --experts 4 --top-k 2 --tokens 1 --k 256 --n 64 --bits 4 "
          "--group-size 64 --threads 1 --cold off --baselines reference --precision exact,int8 "
          "--json --min-seconds 0");
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<nlohmann::json> rows = json_lines(r.out);
  ASSERT_EQ(rows.size(), 4u) << r.out;  // (exact, int8) x (ours, reference)
  EXPECT_EQ(rows[0]["op"], "gather_qmm");
  EXPECT_EQ(rows[0]["precision"], "exact");
  EXPECT_EQ(rows[2]["op"], "gather_qmm");
  EXPECT_EQ(rows[2]["precision"], "int8");
  for (const int i : {1, 3}) {
    EXPECT_EQ(rows[i]["op"], "reference");
    EXPECT_EQ(rows[i]["precision"], "exact");  // the reference is exact whatever is asked
  }
}

TEST_F(Cli, BenchGivesKernelRowsAsAPercentageOfTheReadBaselineOfTheirThreadCount) {
  if (testing::kProbeTooLargeForSanitizer) GTEST_SKIP() << "the read probe under ThreadSanitizer";
  const Result r =
      run("bench --m 1 --k 256 --n 64 --bits 4 --group-size 64 --threads 2 --cold off "
          "--baselines stream --json --min-seconds 0");
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<nlohmann::json> rows = json_lines(r.out);
  ASSERT_EQ(rows.size(), 3u) << r.out;
  EXPECT_EQ(rows[0]["op"], "stream_triad");
  EXPECT_EQ(rows[1]["op"], "stream_read");
  EXPECT_EQ(rows[1]["threads"], 2);
  EXPECT_FALSE(rows[1].contains("pct_of_stream_read"));
  // At least 520 MiB read per pass.
  EXPECT_GE(rows[1]["gbps"].get<double>() * rows[1]["median_ms"].get<double>() * 1e6,
            520.0 * (1 << 20));
  EXPECT_EQ(rows[2]["op"], "quantized_matmul");
  const double percent = 100 * rows[2]["gbps"].get<double>() / rows[1]["gbps"].get<double>();
  EXPECT_NEAR(rows[2]["pct_of_stream_read"].get<double>(), percent, 1e-9 * percent);
}

TEST_F(Cli, BenchUsesAFloatModesOwnBitsAndGroupSize) {
  const Result r =
      run("bench --mode mxfp4,nvfp4 --m 1 --k 256 --n 32 --threads 1 --cold off --baselines none "
          "--json --min-seconds 0");
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<std::pair<int, int>> specs;
  for (const auto& row : json_lines(r.out)) {
    specs.emplace_back(row["bits"].get<int>(), row["group_size"].get<int>());
  }
  EXPECT_EQ(specs, (std::vector<std::pair<int, int>>{{4, 32}, {4, 16}}));
}

TEST_F(Cli, BenchRefusesAnUnknownPrecision) {
  const Result r = run("bench --precision fp8 --m 1 --k 256 --n 64");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("fp8"), std::string::npos) << r.err;
}

// generate --kv-bits / --kv-group-size / --quantized-kv-start select the quantized cache:
// the tokens lm::generate gives with the same options; settings quantize refuses fail.
TEST_F(Cli, GenerateTakesTheQuantizedKvCacheFlags) {
  SyntheticModelShape shape;
  shape.hidden = 128, shape.intermediate = 128, shape.vocab = 96, shape.blocks = 2;
  shape.heads = 4, shape.kv_heads = 2;  // head_dim 32
  const fs::path folder = dir_ / "model";
  write_synthetic_model(folder, shape, 3);
  lm::GenerateOptions options;
  options.max_tokens = 6;
  options.kv_bits = 4;
  options.kv_group_size = 32;
  options.quantized_kv_start = 2;
  std::vector<std::int64_t> expected;
  lm::generate(*lm::load(folder).model, {3, 17, 42}, options, [&](std::int64_t t) {
    expected.push_back(t);
    return true;
  });
  const std::string base =
      "generate " + folder.string() + " --prompt-tokens 3,17,42 --max-tokens 6 --ignore-eos --json";
  const Result r = run(base + " --kv-bits 4 --kv-group-size 32 --quantized-kv-start 2");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).at("tokens").get<std::vector<std::int64_t>>(), expected);

  const Result bits = run(base + " --kv-bits 7 --kv-group-size 32");
  EXPECT_NE(bits.status, 0);
  EXPECT_NE(bits.err.find("The requested number of bits 7 is not supported"), std::string::npos)
      << bits.err;
  const Result group = run(base + " --kv-bits 4");
  EXPECT_NE(group.status, 0);
  EXPECT_NE(group.err.find("kv_group_size 64 does not divide the head dimension 32"),
            std::string::npos)
      << group.err;
  const Result start = run(base + " --kv-bits 4 --quantized-kv-start -1");
  EXPECT_NE(start.status, 0);
  EXPECT_NE(start.err.find("--quantized-kv-start"), std::string::npos) << start.err;
}

}  // namespace
}  // namespace qlinear
