// A tiny model folder's weights for the fuzz targets that need real files beside their
// input: a float embedding, a float linear layer with a bias, a linear layer stored
// quantized (affine, group 32, 4 bits), a norm and the head.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "qlinear/io.h"
#include "qlinear/ops.h"

namespace qlinear::fuzz {

inline Tensor ramp(Shape shape) {
  std::vector<float> values(static_cast<std::size_t>(element_count(shape)));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 13) - 6.f;
  return Tensor::from_floats(std::move(shape), Dtype::float32, values);
}

inline TensorMap tiny_model_weights() {
  constexpr std::int64_t kHidden = 64, kVocab = 32;
  const Quantized down = quantize(ramp({kHidden, kHidden}), 32, 4);
  return {
      {"model.embed_tokens.weight", ramp({kVocab, kHidden})},
      {"model.layers.0.self_attn.q_proj.weight", ramp({kHidden, kHidden})},
      {"model.layers.0.self_attn.q_proj.bias", ramp({kHidden})},
      {"model.layers.0.mlp.down_proj.weight", down.wq},
      {"model.layers.0.mlp.down_proj.scales", down.scales},
      {"model.layers.0.mlp.down_proj.biases", *down.biases},
      {"model.norm.weight", ramp({kHidden})},
      {"lm_head.weight", ramp({kVocab, kHidden})},
  };
}

}  // namespace qlinear::fuzz
