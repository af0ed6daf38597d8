// Reads every byte of a range (or of a map of tensors), so that a pointer outside its mapping is an
// ASan report; the sum lets a target compare two reads of the same data.
#pragma once

#include <cstddef>
#include <cstdint>

#include "qlinear/io.h"

namespace qlinear::fuzz {

inline std::uint64_t checksum(const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < size; ++i) sum = sum * 31 + bytes[i];
  return sum;
}

// Every tensor's bytes, combined in name order.
inline std::uint64_t checksum(const TensorMap& tensors) {
  std::uint64_t sum = 0;
  for (const auto& [name, tensor] : tensors)
    sum = sum * 7 + checksum(tensor.data(), tensor.nbytes());
  return sum;
}

}  // namespace qlinear::fuzz
