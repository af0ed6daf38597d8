// Module::load_weights / save_weights: strict checking first, then the update.
#include <stdexcept>
#include <string>
#include <vector>

#include "qlinear/nn/module.h"

namespace qlinear::nn {
namespace {

// A float parameter takes any float tensor (MLX models are built in float32 and load
// float16/bfloat16 checkpoints); anything else must keep its dtype exactly.
bool dtype_compatible(Dtype model, Dtype loaded) {
  return model == loaded || (is_floating(model) && is_floating(loaded));
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

std::string count_of(std::size_t n, const char* noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// Every difference between the model's parameters and `weights`, one line each.
std::vector<std::string> mismatches(const NamedParameters& current, const TensorMap& weights) {
  std::map<std::string, const Tensor*> expected;
  for (const auto& [path, value] : current) expected.emplace(path, &value);

  std::vector<std::string> extra, missing, problems;
  for (const auto& [name, value] : weights) {
    if (!expected.contains(name)) extra.push_back(name);
  }
  for (const auto& [path, value] : expected) {
    const auto found = weights.find(path);
    if (found == weights.end()) {
      missing.push_back(path);
      continue;
    }
    const Tensor& loaded = found->second;
    if (loaded.shape() != value->shape()) {
      problems.push_back("shape of " + path + ": expected " + shape_string(value->shape()) +
                         ", received " + shape_string(loaded.shape()));
    }
    if (!dtype_compatible(value->dtype(), loaded.dtype())) {
      problems.push_back("dtype of " + path + ": expected " + std::string(name_of(value->dtype())) +
                         ", received " + std::string(name_of(loaded.dtype())));
    }
  }
  if (!missing.empty()) {
    problems.insert(problems.begin(),
                    "missing " + count_of(missing.size(), "parameter") + ": " + joined(missing));
  }
  if (!extra.empty()) {
    problems.insert(problems.begin(),
                    count_of(extra.size(), "parameter") + " not in model: " + joined(extra));
  }
  return problems;
}

}  // namespace

Module& Module::load_weights(const TensorMap& weights, bool strict) {
  const NamedParameters current = parameters();
  if (strict) {
    const std::vector<std::string> problems = mismatches(current, weights);
    if (!problems.empty()) {
      std::string message = "[load_weights] The weights do not match the " + type_name() + " (" +
                            count_of(problems.size(), "problem") + "):";
      for (const std::string& problem : problems) message += "\n  " + problem;
      throw std::invalid_argument(message);
    }
  }
  for (const auto& [path, value] : current) {
    const auto found = weights.find(path);
    if (found == weights.end()) continue;
    const std::size_t dot = path.rfind('.');
    Module* owner = dot == std::string::npos ? this : find_module(path.substr(0, dot));
    owner->set_parameter(dot == std::string::npos ? path : path.substr(dot + 1), found->second);
  }
  return *this;
}

Module& Module::load_weights(const std::filesystem::path& file, bool strict) {
  return load_weights(load_safetensors(file).tensors, strict);
}

void Module::save_weights(const std::filesystem::path& file) const {
  if (file.extension() != ".safetensors") {
    throw std::invalid_argument("[save_weights] Unsupported file extension for " + file.string() +
                                "; use .safetensors.");
  }
  TensorMap tensors;
  for (auto& [path, value] : parameters()) tensors.emplace(path, std::move(value));
  save_safetensors(file, tensors, {{"format", "mlx"}});
}

}  // namespace qlinear::nn
