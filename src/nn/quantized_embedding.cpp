#include <cmath>

#include "nn/float_ops.h"
#include "nn/quantized_layer.h"
#include "qlinear/nn/layers.h"

namespace qlinear::nn {

QuantizedEmbedding::QuantizedEmbedding(QuantSpec spec, Quantized weight) : spec_(spec) {
  for (auto& [name, value] : detail::quantized_parameters(std::move(weight)))
    set_parameter(name, std::move(value));
  freeze();
}

QuantizedEmbedding::QuantizedEmbedding(std::int64_t num_embeddings, std::int64_t dims,
                                       QuantSpec spec)
    : QuantizedEmbedding(
          spec, detail::quantize_weight(detail::normal({num_embeddings, dims},
                                                       std::sqrt(1.0f / static_cast<float>(dims))),
                                        spec)) {}

std::shared_ptr<QuantizedEmbedding> QuantizedEmbedding::from_embedding(const Embedding& embedding,
                                                                       QuantSpec spec) {
  return std::shared_ptr<QuantizedEmbedding>(
      new QuantizedEmbedding(spec, detail::quantize_weight(embedding.parameter("weight"), spec)));
}

std::shared_ptr<QuantizedEmbedding> QuantizedEmbedding::from_quantized(QuantSpec spec,
                                                                       Quantized weight) {
  return std::shared_ptr<QuantizedEmbedding>(new QuantizedEmbedding(
      spec, detail::checked_quantized("QuantizedEmbedding", spec, std::move(weight))));
}

std::int64_t QuantizedEmbedding::dims() const {
  return detail::unpacked_dims(parameter("weight"), spec_);
}

std::string QuantizedEmbedding::extra_repr() const {
  return std::to_string(num_embeddings()) + ", " + std::to_string(dims()) + ", " +
         detail::settings_repr(spec_);
}

Tensor QuantizedEmbedding::operator()(const Tensor& ids) const {
  constexpr std::string_view kOp = "QuantizedEmbedding";
  // Gathered as a (count, packed) matrix, the shape dequantize takes, then reshaped.
  const Tensor flat_ids = ids.reshape({ids.size()});
  const Tensor* biases = find_parameter("biases");
  std::optional<Tensor> rows_biases;
  if (biases) rows_biases = detail::take_rows(kOp, *biases, flat_ids);
  Tensor rows = dequantize(detail::take_rows(kOp, parameter("weight"), flat_ids),
                           detail::take_rows(kOp, parameter("scales"), flat_ids), rows_biases,
                           spec_.group_size, spec_.bits, mode_name(spec_.mode));
  Shape shape = ids.shape();
  shape.push_back(dims());
  return rows.reshape(std::move(shape));
}

Tensor QuantizedEmbedding::as_linear(const Tensor& x) const {
  const Tensor* biases = find_parameter("biases");
  return quantized_matmul(x, parameter("weight"), parameter("scales"),
                          biases ? std::optional(*biases) : std::nullopt, true, spec_.group_size,
                          spec_.bits, mode_name(spec_.mode));
}

void QuantizedEmbedding::unfreeze_own(const KeyList&, bool) {}

}  // namespace qlinear::nn
