// UTF-8 well-formedness (RFC 3629), for untrusted header bytes.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace qlinear::io {

// Offset of the first byte that does not start or continue a well-formed UTF-8 sequence
// (overlong forms, surrogates and code points above U+10FFFF are ill-formed), or nullopt.
std::optional<std::size_t> first_invalid_utf8(std::string_view bytes);

}  // namespace qlinear::io
