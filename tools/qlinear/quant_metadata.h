// The quantization settings a quantized safetensors file carries in its metadata:
// "quantization" holds mlx-lm's config block as JSON text, e.g.
// {"group_size": 64, "bits": 4, "mode": "affine"}.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "qlinear/io.h"
#include "qlinear/ops.h"

namespace qlinear::cli {

inline constexpr const char* kQuantizationKey = "quantization";

// Every mode's name (kQuantModes), for the option checks.
std::vector<std::string> quant_mode_names();
// Help text listing each mode's allowed bits (bits) or group sizes, defaults marked:
// "affine 1, 2, 3, 4 (default), 5, 6 or 8; mxfp4 4; mxfp8 8; nvfp4 4".
std::string describe_mode_choices(bool bits);

void write_quant_metadata(Metadata& metadata, const QuantSpec& spec);
// nullopt when the file has no "quantization" entry; throws FileError if it is malformed.
std::optional<QuantSpec> read_quant_metadata(const Metadata& metadata, const std::string& path);

}  // namespace qlinear::cli
