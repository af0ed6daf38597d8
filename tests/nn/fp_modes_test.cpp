// The layers, nn::quantize and config.json in the float modes (mxfp4, mxfp8, nvfp4).
#include <gtest/gtest.h>

#include <memory>

#include "qlinear/model.h"
#include "qlinear/nn.h"

namespace qlinear::nn {
namespace {

TEST(FpModeLayers, QuantizedLinearIsTheQuantizedMatmulPlusBias) {
  const Linear linear(64, 16);
  for (QuantMode mode : {QuantMode::mxfp4, QuantMode::mxfp8, QuantMode::nvfp4}) {
    const QuantSpec spec = QuantSpec::defaults(mode);
    const auto layer = QuantizedLinear::from_linear(linear, spec);
    EXPECT_FALSE(layer->has_parameter("biases")) << mode_name(mode);
    EXPECT_EQ(layer->parameter("scales").dtype(), Dtype::uint8);
    EXPECT_EQ(layer->quant_spec(), spec);
    const auto q =
        quantize(linear.parameter("weight"), std::nullopt, std::nullopt, mode_name(mode));
    EXPECT_TRUE(layer->parameter("weight").bit_equal(q.wq));
    const Tensor x = Tensor::from_floats({2, 64}, Dtype::float32, std::vector<float>(128, 0.5f));
    const auto y = (*layer)(x).to_floats();
    const auto product = quantized_matmul(x, q.wq, q.scales, std::nullopt, true, std::nullopt,
                                          std::nullopt, mode_name(mode))
                             .to_floats();
    const auto bias = linear.parameter("bias").to_floats();
    for (std::size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], product[i] + bias[i % 16]);
    EXPECT_NE(layer->extra_repr().find("mode=" + std::string(mode_name(mode))), std::string::npos);
  }
}

TEST(FpModeLayers, NnQuantizeUsesTheModesDefaults) {
  Container model("Model");
  model.set_module("embed", std::make_shared<Embedding>(8, 32));
  model.set_module("head", std::make_shared<Linear>(32, 8, false));
  quantize(model, std::nullopt, std::nullopt, "nvfp4");
  EXPECT_EQ(model.module_at("head").quant_spec(), (QuantSpec{16, 4, QuantMode::nvfp4}));
  EXPECT_EQ(model.module_at("embed").quant_spec(), (QuantSpec{16, 4, QuantMode::nvfp4}));
  // The embedding's rows come back as MLX's dequantize gives them in these modes: bfloat16.
  const std::vector<std::int32_t> ids = {0, 5, 7};
  const auto& embed = dynamic_cast<const QuantizedEmbedding&>(model.module_at("embed"));
  const Tensor rows = embed(Tensor::from_values<std::int32_t>({3}, Dtype::int32, ids));
  EXPECT_EQ(rows.dtype(), Dtype::bfloat16);
  EXPECT_EQ(rows.shape(), (Shape{3, 32}));
}

TEST(FpModeConfig, MlxLmSettingsBlocksRoundTrip) {
  const auto config = parse_quantization(
      R"({"quantization": {"group_size": 32, "bits": 4, "mode": "mxfp4",
                           "lm_head": {"mode": "mxfp8"}}})");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->defaults, (QuantSpec{32, 4, QuantMode::mxfp4}));
  EXPECT_EQ(*config->find("lm_head"), (QuantSpec{32, 8, QuantMode::mxfp8}));
  const auto written = parse_quantization(with_quantization(
      R"({"model_type": "llama"})", QuantizationConfig{QuantSpec{16, 4, QuantMode::nvfp4}, {}}));
  ASSERT_TRUE(written);
  EXPECT_EQ(written->defaults, (QuantSpec{16, 4, QuantMode::nvfp4}));
  EXPECT_THROW(parse_quantization(R"({"quantization": {"group_size": 64, "mode": "mxfp4"}})"),
               FileError);
}

}  // namespace
}  // namespace qlinear::nn
