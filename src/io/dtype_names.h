// The dtype names of the safetensors format ("F32", "BF16", "F8_E4M3", ...).
#pragma once

#include <optional>
#include <string_view>

#include "qlinear/dtype.h"

namespace qlinear::io {

// Every Dtype has a safetensors name, and every name the format defines for byte-sized or
// larger elements maps to a Dtype (the sub-byte F4/F6 types are not supported).
std::string_view safetensors_name(Dtype dtype);
// nullopt for a name the format does not define.
std::optional<Dtype> dtype_from_safetensors_name(std::string_view name);

}  // namespace qlinear::io
