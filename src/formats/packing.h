// The packed-code layout shared by every mode: in each row, code j occupies bits
// [j*bits, (j+1)*bits) of a little-endian, LSB-first bit stream, stored as uint32 words.
#pragma once

#include <bit>
#include <cstdint>

namespace qlinear::formats {

static_assert(std::endian::native == std::endian::little,
              "the packed layout is read as little-endian bytes");

// Number of uint32 words that hold `count` codes of `bits` bits (count*bits % 32 == 0).
constexpr std::int64_t packed_words(std::int64_t count, int bits) {
  return count * bits / 32;
}

// Code j of a row whose stream starts at `row`. Codes are at most 8 bits, so one spans
// at most two bytes.
inline std::uint32_t read_code(const std::uint8_t* row, std::int64_t j, int bits) {
  const std::int64_t bit = j * bits;
  const std::uint8_t* p = row + bit / 8;
  const int shift = static_cast<int>(bit % 8);
  std::uint32_t v = p[0];
  if (shift + bits > 8) v |= static_cast<std::uint32_t>(p[1]) << 8;
  return (v >> shift) & ((1u << bits) - 1u);
}

// ORs code j into a row whose bytes start zeroed.
inline void write_code(std::uint8_t* row, std::int64_t j, int bits, std::uint32_t code) {
  const std::int64_t bit = j * bits;
  std::uint8_t* p = row + bit / 8;
  const int shift = static_cast<int>(bit % 8);
  const std::uint32_t v = code << shift;
  p[0] = static_cast<std::uint8_t>(p[0] | (v & 0xFFu));
  if (shift + bits > 8) p[1] = static_cast<std::uint8_t>(p[1] | (v >> 8));
}

}  // namespace qlinear::formats
