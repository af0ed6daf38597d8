// `qlinear convert` and `qlinear demo`, run as a user runs them.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/cli_runner.h"
#include "nn/model_fixture.h"
#include "nn/test_util.h"
#include "qlinear/model.h"
#include "qlinear/nn.h"

namespace qlinear {
namespace {

using Result = testing::CliResult;
using testing::read_text;

class ConvertCli : public testing::ModelFolderTest {
 protected:
  Result run(const std::string& args) const { return testing::run_cli(args, root_); }
  std::string folders(const std::string& output) const {
    return float_dir().string() + " " + dir(output).string();
  }
};

TEST_F(ConvertCli, RecipeConversionWritesAnMlxLmFolder) {
  const Result r = run("convert " + folders("m26") + " -q --quant-predicate mixed_2_6 --report");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("model.layers.7.mlp.down_proj                 (64, 128)      bfloat16"
                       "           affine 6-bit g64"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("quantized layers: 49 at 2 bits, 9 at 6 bits"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");  // no progress bar when stderr is not a terminal
  const auto config = nlohmann::json::parse(read_text(dir("m26") / "config.json"));
  EXPECT_EQ(config["quantization"]["model.layers.3.self_attn.v_proj"]["bits"], 6);
  EXPECT_EQ(config["quantization"]["model.layers.4.self_attn.v_proj"]["bits"], 2);
  EXPECT_EQ(load_model(dir("m26")).model->module_at("lm_head").quant_spec()->bits, 6);
}

TEST_F(ConvertCli, SaysWhichLayersItSkips) {
  const Result r = run("convert " + folders("g128") + " -q --q-group-size 128 --q-bits 8");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("[INFO] Not quantizing model.layers.5.self_attn.q_proj: input dims 64 "
                       "not divisible by group size 128."),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("Not quantizing model.layers.5.mlp.down_proj"), std::string::npos);
}

// --q-bits 1: every quantized layer at 1 bit, the same parameters as quantizing the float
// model in memory.
TEST_F(ConvertCli, OneBitConversionEqualsQuantizingTheFloatModel) {
  const Result r = run("convert " + folders("b1") + " -q --q-bits 1 --q-group-size 32");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto config = nlohmann::json::parse(read_text(dir("b1") / "config.json"));
  EXPECT_EQ(config["quantization"],
            nlohmann::json({{"group_size", 32}, {"bits", 1}, {"mode", "affine"}}));
  const LoadedModel loaded = load_model(dir("b1"));
  LoadedModel direct = load_model(float_dir());
  nn::quantize(*direct.model, 32, 1);
  EXPECT_EQ(loaded.model->module_at("lm_head").quant_spec()->bits, 1);
  nn::testing::expect_same_parameters(loaded.model->parameters(), direct.model->parameters());
}

TEST_F(ConvertCli, BadRequestsFailWithoutOutput) {
  Result r = run("convert " + folders("both") + " -q -d");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "qlinear: error: [convert] Choose either quantize or dequantize, not both.\n");
  EXPECT_FALSE(std::filesystem::exists(dir("both")));
  r = run("convert " + folders("bad") + " -q --quant-predicate mixed_5_8");
  EXPECT_EQ(r.status, 2);
  r = run("convert " + float_dir().string() + " " + float_dir().string() + " -q");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("as it already exists"), std::string::npos) << r.err;
}

TEST_F(ConvertCli, DemoPrintsBothTables) {
  const Result r = run("demo --layers --tokens 2 --repeats 1");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* text : {"4-bit, group 64 (affine) vs float:", "mixed_3_6 vs float:",
                           "  down_proj         4   3/6", "  total            30     4"}) {
    EXPECT_NE(r.out.find(text), std::string::npos) << text << "\n" << r.out;
  }
}

}  // namespace
}  // namespace qlinear
