#include "io/utf8.h"

#include <cstdint>

namespace qlinear::io {
namespace {

// Range of the second byte of a sequence led by `lead` (RFC 3629, section 4): the narrowed
// ranges exclude overlong forms (E0, F0), surrogates (ED) and values above U+10FFFF (F4).
struct SecondByteRange {
  std::uint8_t low = 0x80;
  std::uint8_t high = 0xBF;
};

SecondByteRange second_byte_range(std::uint8_t lead) {
  switch (lead) {
    case 0xE0:
      return {0xA0, 0xBF};
    case 0xED:
      return {0x80, 0x9F};
    case 0xF0:
      return {0x90, 0xBF};
    case 0xF4:
      return {0x80, 0x8F};
    default:
      return {};
  }
}

// Length of the sequence a lead byte starts, or 0 if it cannot start one.
int sequence_length(std::uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

}  // namespace

std::optional<std::size_t> first_invalid_utf8(std::string_view bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto lead = static_cast<std::uint8_t>(bytes[i]);
    const int length = sequence_length(lead);
    if (length == 0) return i;
    const SecondByteRange second = second_byte_range(lead);
    for (int k = 1; k < length; ++k) {
      if (i + k >= bytes.size()) return i;  // cut short by the end
      const auto b = static_cast<std::uint8_t>(bytes[i + k]);
      const std::uint8_t low = k == 1 ? second.low : 0x80;
      const std::uint8_t high = k == 1 ? second.high : 0xBF;
      if (b < low || b > high) return i + k;
    }
    i += static_cast<std::size_t>(length);
  }
  return std::nullopt;
}

}  // namespace qlinear::io
