// nn::quantize: swap a model's Linear and Embedding layers for quantized ones, in place.
#pragma once

#include <functional>
#include <optional>
#include <string_view>
#include <variant>

#include "qlinear/nn/module.h"

namespace qlinear::nn {

// What a class predicate says about one layer: false (leave it), true (quantize with
// the call's settings) or the settings to quantize this layer with.
using QuantChoice = std::variant<bool, QuantSpec>;
// Receives the layer's dotted path and the layer.
using ClassPredicate = std::function<QuantChoice(std::string_view path, const Module& module)>;

// Replaces every leaf module the predicate selects (default: every Linear and
// Embedding) by its quantized equivalent. group_size and bits default to the mode's.
// Throws std::invalid_argument naming the path if a selected layer cannot be quantized
// (not a Linear/Embedding, or its input dim is not divisible by the group size); the
// model is unchanged then, since all layers are quantized before any is replaced.
void quantize(Module& model, std::optional<int> group_size = std::nullopt,
              std::optional<int> bits = std::nullopt, std::string_view mode = "affine",
              const ClassPredicate& class_predicate = {});

}  // namespace qlinear::nn
