// The JSON header of a safetensors file: strict validation of untrusted input, and its
// canonical form for writing.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "qlinear/io.h"

namespace qlinear::io {

// The header's description of one tensor; begin and end are offsets into the data section.
struct TensorEntry {
  TensorInfo info;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

struct Header {
  std::vector<TensorEntry> tensors;  // ordered by data offset
  Metadata metadata;
};

// A header that breaks the format; what() is the reason alone (the caller adds the path).
class MalformedHeader : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses and validates a header whose data section is `data_size` bytes long: UTF-8, one
// JSON object without duplicate keys, string metadata, entries with exactly dtype, shape
// and data_offsets, known dtypes, non-negative integer dims whose byte size fits in int64,
// offsets matching that size and tiling [0, data_size) without gaps or overlaps.
Header parse_header(std::string_view json, std::uint64_t data_size);

// The header JSON for tensors laid out in the given order (offsets taken from the entries),
// "__metadata__" first if there is any, padded with spaces to a multiple of 8 bytes.
// Throws std::invalid_argument if a name or metadata string is not valid UTF-8.
std::string format_header(const std::vector<TensorEntry>& tensors, const Metadata& metadata);

}  // namespace qlinear::io
