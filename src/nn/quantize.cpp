#include "qlinear/nn/quantize.h"

#include <map>
#include <stdexcept>
#include <string>

#include "qlinear/nn/layers.h"

namespace qlinear::nn {
namespace {

constexpr std::string_view kOp = "nn::quantize";

[[noreturn]] void fail_at(const std::string& path, const std::string& message) {
  throw std::invalid_argument("[" + std::string(kOp) + "] Layer '" + path + "': " + message);
}

ModulePtr quantized(const std::string& path, const Module& module, const QuantSpec& spec) {
  const auto* layer = dynamic_cast<const Quantizable*>(&module);
  if (!layer) fail_at(path, "a " + module.type_name() + " cannot be quantized.");
  const std::int64_t axis = layer->quantized_axis_size();
  if (axis % spec.group_size != 0) {
    fail_at(path, "input dims " + std::to_string(axis) + " is not divisible by group_size " +
                      std::to_string(spec.group_size) + ".");
  }
  try {
    return layer->to_quantized(spec);
  } catch (const std::invalid_argument& e) {
    fail_at(path, e.what());
  }
}

}  // namespace

void quantize(Module& model, std::optional<int> group_size, std::optional<int> bits,
              std::string_view mode, const ClassPredicate& class_predicate) {
  const QuantSpec call_spec =
      QuantSpec::resolve(kOp, parse_quant_mode(mode, kOp), group_size, bits);
  std::map<std::string, ModulePtr> replacements;
  for (const auto& [path, module] : model.leaf_modules()) {
    const QuantChoice choice =
        class_predicate ? class_predicate(path, *module)
                        : QuantChoice(dynamic_cast<const Quantizable*>(module.get()) != nullptr);
    if (const auto* spec = std::get_if<QuantSpec>(&choice)) {
      replacements.emplace(path, quantized(path, *module, *spec));
    } else if (std::get<bool>(choice)) {
      replacements.emplace(path, quantized(path, *module, call_spec));
    }
  }
  model.update_modules(replacements);
}

}  // namespace qlinear::nn
