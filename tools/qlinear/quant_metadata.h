// The quantization settings a quantized safetensors file carries in its metadata:
// "quantization" holds mlx-lm's config block as JSON text, e.g.
// {"group_size": 64, "bits": 4, "mode": "affine"}.
#pragma once

#include <optional>

#include "qlinear/io.h"
#include "qlinear/ops.h"

namespace qlinear::cli {

inline constexpr const char* kQuantizationKey = "quantization";

void write_quant_metadata(Metadata& metadata, const QuantSpec& spec);
// nullopt when the file has no "quantization" entry; throws FileError if it is malformed.
std::optional<QuantSpec> read_quant_metadata(const Metadata& metadata, const std::string& path);

}  // namespace qlinear::cli
