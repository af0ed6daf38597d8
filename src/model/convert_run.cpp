// run_conversion: write a planned conversion, one step's tensors in memory at a time,
// into a hidden folder that becomes OUT_DIR only when everything is written.
#include <cmath>
#include <vector>

#include "model/partial_folder.h"
#include "model/text_file.h"
#include "qlinear/convert.h"
#include "qlinear/io.h"

namespace qlinear {
namespace {

double relative_error(const Tensor& reference, const Tensor& approximation) {
  const auto a = reference.to_floats(), b = approximation.to_floats();
  double error = 0.0, norm = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    error += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    norm += double(a[i]) * a[i];
  }
  return norm > 0.0 ? std::sqrt(error / norm) : std::sqrt(error);
}

Tensor cast_to(const Tensor& tensor, Dtype dtype) {
  return tensor.dtype() == dtype ? tensor : tensor.astype(dtype);
}

std::string layer_path(const std::string& weight_name) {
  return weight_name.substr(0, weight_name.rfind('.'));
}

// The output tensors of one step, in the order of step.outputs.
std::vector<Tensor> run_step(const ConvertStep& step, const TensorMap& weights,
                             ConversionPlan& plan) {
  const Tensor& source = weights.at(step.source);
  switch (step.kind) {
    case ConvertStep::Kind::copy:
      return {source};
    case ConvertStep::Kind::cast:
      return {source.astype(step.outputs[0].dtype)};
    case ConvertStep::Kind::quantize: {
      LayerPlan& layer = plan.layers[step.layer];
      const QuantSpec& spec = *layer.output_spec;
      const Tensor w = cast_to(source, plan.dtype.value_or(source.dtype()));
      Quantized q = quantize(w, spec.group_size, spec.bits, mode_name(spec.mode));
      if (plan.options.measure_error) {
        layer.relative_error = relative_error(
            w,
            dequantize(q.wq, q.scales, q.biases, spec.group_size, spec.bits, mode_name(spec.mode)));
      }
      std::vector<Tensor> out{std::move(q.wq), std::move(q.scales)};
      if (q.biases) out.push_back(std::move(*q.biases));
      return out;
    }
    case ConvertStep::Kind::dequantize: {
      // Affine: the scales and biases are cast first and dequantize computes in their
      // dtype, as mlx-lm does; float modes (uint8 scales) compute in the output dtype.
      const LayerPlan& layer = plan.layers[step.layer];
      const QuantSpec& spec = *layer.input_spec;
      const std::string path = layer_path(step.source);
      const Dtype dtype = step.outputs[0].dtype;
      const auto cast_float = [&](const Tensor& t) {
        return is_floating(t.dtype()) ? cast_to(t, dtype) : t;
      };
      std::optional<Tensor> biases;
      if (weights.contains(path + ".biases")) biases = cast_float(weights.at(path + ".biases"));
      return {dequantize(source, cast_float(weights.at(path + ".scales")), biases, spec.group_size,
                         spec.bits, mode_name(spec.mode), dtype)};
    }
  }
  throw std::logic_error("unknown conversion step");
}

// The input tensors a step reads: its source, and a quantized layer's scales and biases.
std::vector<const Tensor*> step_inputs(const ConvertStep& step, const TensorMap& weights) {
  std::vector<const Tensor*> inputs{&weights.at(step.source)};
  if (step.kind == ConvertStep::Kind::dequantize) {
    const std::string path = layer_path(step.source);
    for (const char* part : {".scales", ".biases"}) {
      if (const auto found = weights.find(path + part); found != weights.end())
        inputs.push_back(&found->second);
    }
  }
  return inputs;
}

}  // namespace

ConversionPlan run_conversion(ConversionPlan plan, const std::filesystem::path& output,
                              const std::function<void(const ConvertProgress&)>& progress) {
  model::PartialFolder partial(output);

  const TensorMap weights = load_folder_weights(plan.input);
  ConvertProgress status;
  status.bytes_total = plan.input_bytes;
  for (const auto& shard : plan.shards) {
    for (const ConvertStep& step : shard) status.tensors_total += step.outputs.size();
  }
  if (progress) progress(status);

  std::map<std::string, std::string> weight_map;
  for (std::size_t i = 0; i < plan.shards.size(); ++i) {
    const std::string file = shard_file_name(i, plan.shards.size());
    std::vector<TensorInfo> declared;
    for (const ConvertStep& step : plan.shards[i]) {
      for (const TensorInfo& info : step.outputs) {
        declared.push_back(info);
        weight_map.emplace(info.name, file);
      }
    }
    SafetensorsWriter writer(partial.path() / file, declared, {{"format", "mlx"}});
    for (const ConvertStep& step : plan.shards[i]) {
      const std::vector<Tensor> tensors = run_step(step, weights, plan);
      for (std::size_t t = 0; t < tensors.size(); ++t)
        writer.write(step.outputs[t].name, tensors[t]);
      // Written: the input pages need not stay resident (each tensor is read once).
      for (const Tensor* input : step_inputs(step, weights)) release_resident_pages(*input);
      status.tensors_done += tensors.size();
      status.bytes_done += step.input_bytes;
      if (progress) progress(status);
    }
    writer.commit();
  }
  write_weight_index(partial.path(), weight_map, plan.output_bytes, plan.parameters);
  model::write_text_file(partial.path() / "config.json", plan.config);
  for (const auto& file : plan.other_files) {
    std::filesystem::copy_file(file, partial.path() / file.filename());
  }
  partial.move_to(output);
  return plan;
}

}  // namespace qlinear
