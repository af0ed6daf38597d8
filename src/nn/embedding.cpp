#include <cmath>

#include "nn/float_ops.h"
#include "ops/float_ops.h"
#include "qlinear/nn/layers.h"

namespace qlinear::nn {

Embedding::Embedding(std::int64_t num_embeddings, std::int64_t dims) {
  set_parameter("weight",
                detail::normal({num_embeddings, dims}, std::sqrt(1.0f / static_cast<float>(dims))));
}

Embedding::Embedding(Tensor weight) {
  detail::check_layer_tensors("Embedding", weight, nullptr);
  set_parameter("weight", std::move(weight));
}

std::string Embedding::extra_repr() const {
  return std::to_string(num_embeddings()) + ", " + std::to_string(dims());
}

Tensor Embedding::operator()(const Tensor& ids) const {
  return detail::take_rows("Embedding", parameter("weight"), ids);
}

Tensor Embedding::as_linear(const Tensor& x) const {
  return ops::linear("Embedding.as_linear", x, parameter("weight"), nullptr);
}

ModulePtr Embedding::to_quantized(const QuantSpec& spec) const {
  return QuantizedEmbedding::from_embedding(*this, spec);
}

}  // namespace qlinear::nn
