#include <algorithm>
#include <span>
#include <stdexcept>
#include <string>

#include "qlinear/quant_spec.h"

namespace qlinear {
namespace {

// "1, 2 and 3"; or "a, b or c" with `last` = " or ".
template <class Range, class Str>
std::string join(const Range& values, Str&& str, const char* last = " and ") {
  std::string s;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) s += i + 1 == values.size() ? last : ", ";
    s += str(values[i]);
  }
  return s;
}

std::string join_ints(std::span<const int> values) {
  return join(values, [](int v) { return std::to_string(v); });
}

bool contains(std::span<const int> values, int v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

}  // namespace

QuantMode parse_quant_mode(std::string_view mode, std::string_view op) {
  for (const ModeTraits& t : kQuantModes) {
    if (mode == t.name) return t.mode;
  }
  throw std::invalid_argument(
      "[" + std::string(op) + "] Unknown quantization mode '" + std::string(mode) + "'; expected " +
      join(
          kQuantModes, [](const ModeTraits& t) { return std::string(t.name); }, " or ") +
      ".");
}

std::string_view mode_name(QuantMode mode) {
  return qlinear::traits(mode).name;
}

QuantSpec QuantSpec::defaults(QuantMode mode) {
  const ModeTraits& t = qlinear::traits(mode);
  return {t.default_group_size, t.default_bits, mode};
}

QuantSpec QuantSpec::resolve(std::string_view op, QuantMode mode, std::optional<int> group_size,
                             std::optional<int> bits) {
  QuantSpec spec = defaults(mode);
  spec.group_size = group_size.value_or(spec.group_size);
  spec.bits = bits.value_or(spec.bits);
  const ModeTraits& t = qlinear::traits(mode);
  const std::string prefix = "[" + std::string(op) + "] ";
  if (t.bits.size() == 1 && t.group_sizes.size() == 1) {
    // MLX's messages for a mode with exactly one group size and one width.
    const std::string name(t.name);
    if (spec.group_size != t.default_group_size) {
      throw std::invalid_argument(prefix + name + " quantization requires group size " +
                                  std::to_string(t.default_group_size) + " but got " +
                                  std::to_string(spec.group_size) + ".");
    }
    if (spec.bits != t.default_bits) {
      throw std::invalid_argument(prefix + name + " quantization requires bits to be " +
                                  std::to_string(t.default_bits) + " but got " +
                                  std::to_string(spec.bits) + ".");
    }
    return spec;
  }
  if (!contains(t.group_sizes, spec.group_size)) {
    throw std::invalid_argument(
        prefix + "The requested group size " + std::to_string(spec.group_size) +
        " is not supported. The supported group sizes are " + join_ints(t.group_sizes) + ".");
  }
  if (!contains(t.bits, spec.bits)) {
    throw std::invalid_argument(
        prefix + "The requested number of bits " + std::to_string(spec.bits) +
        " is not supported. The supported bits are " + join_ints(t.bits) + ".");
  }
  return spec;
}

}  // namespace qlinear
