#include <algorithm>
#include <stdexcept>
#include <string>

#include "formats/affine.h"
#include "qlinear/ops.h"

namespace qlinear {
namespace {

template <std::size_t N>
std::string join(const int (&values)[N]) {
  std::string s;
  for (std::size_t i = 0; i < N; ++i) {
    if (i > 0) s += i + 1 == N ? " and " : ", ";
    s += std::to_string(values[i]);
  }
  return s;
}

template <std::size_t N>
bool contains(const int (&values)[N], int v) {
  return std::find(std::begin(values), std::end(values), v) != std::end(values);
}

}  // namespace

QuantMode parse_quant_mode(std::string_view mode, std::string_view op) {
  for (QuantMode m : {QuantMode::affine, QuantMode::mxfp4, QuantMode::mxfp8, QuantMode::nvfp4}) {
    if (mode == mode_name(m)) return m;
  }
  throw std::invalid_argument("[" + std::string(op) + "] Unknown quantization mode '" +
                              std::string(mode) + "'; expected affine, mxfp4, mxfp8 or nvfp4.");
}

std::string_view mode_name(QuantMode mode) {
  switch (mode) {
    case QuantMode::affine:
      return "affine";
    case QuantMode::mxfp4:
      return "mxfp4";
    case QuantMode::mxfp8:
      return "mxfp8";
    case QuantMode::nvfp4:
      return "nvfp4";
  }
  throw std::logic_error("mode_name: unknown mode");
}

QuantSpec QuantSpec::defaults(QuantMode mode) {
  switch (mode) {
    case QuantMode::affine:
      return {64, 4, mode};
    case QuantMode::mxfp4:
      return {32, 4, mode};
    case QuantMode::mxfp8:
      return {32, 8, mode};
    case QuantMode::nvfp4:
      return {16, 4, mode};
  }
  throw std::logic_error("QuantSpec::defaults: unknown mode");
}

QuantSpec QuantSpec::resolve(std::string_view op, QuantMode mode, std::optional<int> group_size,
                             std::optional<int> bits) {
  QuantSpec spec = defaults(mode);
  spec.group_size = group_size.value_or(spec.group_size);
  spec.bits = bits.value_or(spec.bits);
  const std::string prefix = "[" + std::string(op) + "] ";
  if (mode != QuantMode::affine) {
    // Each float mode has exactly one group size and one width.
    const QuantSpec fixed = defaults(mode);
    const std::string name(mode_name(mode));
    if (spec.group_size != fixed.group_size) {
      throw std::invalid_argument(prefix + name + " quantization requires group size " +
                                  std::to_string(fixed.group_size) + " but got " +
                                  std::to_string(spec.group_size) + ".");
    }
    if (spec.bits != fixed.bits) {
      throw std::invalid_argument(prefix + name + " quantization requires bits to be " +
                                  std::to_string(fixed.bits) + " but got " +
                                  std::to_string(spec.bits) + ".");
    }
    return spec;
  }
  namespace affine = formats::affine;
  if (!contains(affine::kSupportedGroupSizes, spec.group_size)) {
    throw std::invalid_argument(prefix + "The requested group size " +
                                std::to_string(spec.group_size) +
                                " is not supported. The supported group sizes are " +
                                join(affine::kSupportedGroupSizes) + ".");
  }
  if (!contains(affine::kSupportedBits, spec.bits)) {
    throw std::invalid_argument(
        prefix + "The requested number of bits " + std::to_string(spec.bits) +
        " is not supported. The supported bits are " + join(affine::kSupportedBits) + ".");
  }
  return spec;
}

}  // namespace qlinear
