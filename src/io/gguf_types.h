// ggml's tensor types as GGUF stores them: blocks of `block_size` values in `block_bytes`.
#pragma once

#include <cstdint>
#include <string_view>

namespace qlinear::io {

struct GgmlType {
  std::string_view name;
  std::uint32_t block_size;
  std::uint32_t block_bytes;
};

// ggml type ids named by the file (the numbers gguf-py's GGMLQuantizationType gives).
enum GgmlTypeId : std::uint32_t {
  kGgmlF32 = 0,
  kGgmlF16 = 1,
  kGgmlQ4_0 = 2,
  kGgmlQ4_1 = 3,
  kGgmlQ5_0 = 6,
  kGgmlQ5_1 = 7,
  kGgmlQ8_0 = 8,
  kGgmlQ2_K = 10,
  kGgmlQ3_K = 11,
  kGgmlQ4_K = 12,
  kGgmlQ5_K = 13,
  kGgmlQ6_K = 14,
  kGgmlI8 = 24,
  kGgmlI16 = 25,
  kGgmlI32 = 26,
  kGgmlI64 = 27,
  kGgmlF64 = 28,
  kGgmlBF16 = 30,
};

// nullptr for an id ggml does not define (or has removed).
const GgmlType* ggml_type(std::uint32_t id);

}  // namespace qlinear::io
