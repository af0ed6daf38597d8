#include <gtest/gtest.h>

#include "qlinear/model.h"

namespace qlinear {
namespace {

TEST(QuantizationConfig, ParsesDefaultsSettingsAndFalse) {
  const auto config = parse_quantization(R"({
      "model_type": "llama",
      "quantization": {"group_size": 32, "bits": 3,
                       "lm_head": {"group_size": 64, "bits": 6, "mode": "affine"},
                       "model.embed_tokens": false,
                       "model.layers.0.mlp.up_proj": {"bits": 8}}})");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->defaults, (QuantSpec{32, 3, QuantMode::affine}));
  ASSERT_EQ(config->layers.size(), 3u);
  EXPECT_EQ(*config->find("lm_head"), (QuantSpec{64, 6, QuantMode::affine}));
  EXPECT_EQ(*config->find("model.embed_tokens"), std::nullopt);
  EXPECT_EQ(*config->find("model.layers.0.mlp.up_proj"), (QuantSpec{64, 8, QuantMode::affine}));
  EXPECT_EQ(config->find("model.layers.1.mlp.up_proj"), nullptr);
}

TEST(QuantizationConfig, AbsentOrForeignMeansNone) {
  EXPECT_EQ(parse_quantization(R"({"model_type": "llama"})"), std::nullopt);
  EXPECT_EQ(parse_quantization(R"({"quantization_config": {"quant_method": "awq", "bits": 4}})"),
            std::nullopt);
  EXPECT_EQ(parse_quantization(R"({"quantization_config": {"group_size": 64, "bits": 8}})")
                ->defaults.bits,
            8);
}

TEST(QuantizationConfig, BadSettingsNameTheSource) {
  try {
    parse_quantization(R"({"quantization": {"group_size": 64, "bits": 7}})", "m/config.json");
    FAIL() << "expected an error";
  } catch (const FileError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("m/config.json: bad quantization settings: ", 0), 0u)
        << e.what();
  }
  EXPECT_THROW(parse_quantization(R"({"quantization": {"lm_head": 3}})"), FileError);
  EXPECT_THROW(parse_quantization("{not json"), FileError);
}

// Found by fuzz/config_fuzzer: 1e21 went through get<int> (undefined behaviour).
TEST(QuantizationConfig, SettingsOutsideIntAreRefused) {
  const auto reason = [](const std::string& block) {
    try {
      parse_quantization(R"({"quantization": )" + block + "}", "config.json");
      return std::string("accepted");
    } catch (const FileError& e) {
      return std::string(e.what());
    }
  };
  const std::string prefix = "config.json: bad quantization settings: ";
  EXPECT_EQ(reason(R"({"group_size": 1844674407370955161532})"),
            prefix + "group_size must be an integer that fits in int, not 1.8446744073709552e+21");
  EXPECT_EQ(reason(R"({"bits": 4294967300})"),
            prefix + "bits must be an integer that fits in int, not 4294967300");
  EXPECT_EQ(reason(R"({"bits": -4294967292})"),
            prefix + "bits must be an integer that fits in int, not -4294967292");
  EXPECT_EQ(reason(R"({"group_size": 64.0})"),
            prefix + "group_size must be an integer that fits in int, not 64.0");
  EXPECT_EQ(reason(R"({"lm_head": {"bits": [[4]]}})"),
            prefix + "bits must be an integer that fits in int, not an array");
  EXPECT_EQ(
      reason(R"({"lm_head": [[[[]]]]})"),
      prefix + "the entry for 'lm_head' must be a settings object or a boolean, not an array");
}

TEST(QuantizationConfig, WrittenAsMlxLmSaveConfigWritesIt) {
  QuantizationConfig quantization{
      {64, 4, QuantMode::affine},
      {{"lm_head", QuantSpec{64, 6, QuantMode::affine}}, {"model.embed_tokens", std::nullopt}}};
  const std::string block = R"({
        "group_size": 64,
        "bits": 4,
        "mode": "affine",
        "lm_head": {
            "group_size": 64,
            "bits": 6,
            "mode": "affine"
        },
        "model.embed_tokens": false
    })";
  EXPECT_EQ(
      with_quantization(
          R"({"vocab_size": 96, "_name_or_path": "x", "model_type": "llama", "a": "é"})",
          quantization),
      "{\n    \"a\": \"\\u00e9\",\n    \"model_type\": \"llama\",\n    \"quantization\": " + block +
          ",\n    \"quantization_config\": " + block + ",\n    \"vocab_size\": 96\n}");
  EXPECT_EQ(with_quantization(R"({"quantization": {"bits": 4}, "quantization_config": {}, "b": 1})",
                              std::nullopt),
            "{\n    \"b\": 1\n}");
}

}  // namespace
}  // namespace qlinear
