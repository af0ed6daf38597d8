// qlinear inspect X.gguf: a GGUF file as read_gguf validates it: version, metadata in file
// order (long arrays shortened), and each tensor's type, shape and bytes.
#include <cstdio>
#include <map>
#include <string>

#include "inspect_gguf.h"
#include "qlinear/gguf.h"
#include "report.h"

namespace qlinear::cli {
namespace {

constexpr std::int64_t kShownElements = 8;

std::string number_text(const Tensor& numbers, std::int64_t i) {
  char text[32];
  switch (numbers.dtype()) {
    case Dtype::float32:
    case Dtype::float64:
      std::snprintf(text, sizeof text, "%.9g", numbers.astype(Dtype::float64).data<double>()[i]);
      break;
    case Dtype::bool_:
      return numbers.data<std::uint8_t>()[i] ? "true" : "false";
    case Dtype::uint64:
      std::snprintf(text, sizeof text, "%llu",
                    static_cast<unsigned long long>(numbers.data<std::uint64_t>()[i]));
      break;
    default:
      std::snprintf(text, sizeof text, "%lld",
                    static_cast<long long>(numbers.astype(Dtype::int64).data<std::int64_t>()[i]));
  }
  return text;
}

std::string value_text(const GgufValue& value) {
  if (value.type == GgufValueType::string) return "\"" + value.strings.front() + "\"";
  if (value.type != GgufValueType::array) return number_text(value.numbers, 0);
  const bool strings = value.element_type == GgufValueType::string;
  const std::int64_t count = strings ? static_cast<std::int64_t>(value.strings.size())
                             : value.element_type == GgufValueType::array
                                 ? static_cast<std::int64_t>(value.elements.size())
                                 : value.numbers.size();
  std::string text = "[";
  for (std::int64_t i = 0; i < std::min(count, kShownElements); ++i) {
    if (i > 0) text += ", ";
    text += strings                                      ? "\"" + value.strings[i] + "\""
            : value.element_type == GgufValueType::array ? value_text(value.elements[i])
                                                         : number_text(value.numbers, i);
  }
  if (count > kShownElements) text += ", ... (" + std::to_string(count) + " in all)";
  return text + "]";
}

}  // namespace

void inspect_gguf(const std::string& path) {
  const GgufFile file = read_gguf(path);
  std::printf("GGUF v%u, alignment %llu, %zu metadata keys, %zu tensors\n", file.version,
              static_cast<unsigned long long>(file.alignment), file.metadata.size(),
              file.tensors.size());
  for (const auto& [key, value] : file.metadata) {
    std::printf("  %s: %s\n", key.c_str(), value_text(value).c_str());
  }
  std::printf("%-48s %-8s %-20s %12s\n", "tensor", "type", "shape", "bytes");
  std::map<std::string, std::pair<std::size_t, std::uint64_t>> by_type;
  std::uint64_t total = 0;
  for (const GgufTensorInfo& info : file.tensors) {
    const std::string type = ggml_type_name(info.type);
    // MLX's shape: GGUF's dims reversed
    const Shape shape(info.dims.rbegin(), info.dims.rend());
    std::printf("%-48s %-8s %-20s %12s\n", info.name.c_str(), type.c_str(),
                shape_string(shape).c_str(), format_bytes(info.nbytes).c_str());
    ++by_type[type].first;
    by_type[type].second += info.nbytes;
    total += info.nbytes;
  }
  std::printf("%zu tensors, %s:", file.tensors.size(), format_bytes(total).c_str());
  for (const auto& [type, counts] : by_type) {
    std::printf(" %zu %s (%s)", counts.first, type.c_str(), format_bytes(counts.second).c_str());
  }
  std::printf("\n");
}

}  // namespace qlinear::cli
