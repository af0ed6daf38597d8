// Reads every byte of a range, so that a pointer outside its mapping is an ASan report; the
// sum lets a target compare two reads of the same data.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qlinear::fuzz {

inline std::uint64_t checksum(const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < size; ++i) sum = sum * 31 + bytes[i];
  return sum;
}

}  // namespace qlinear::fuzz
