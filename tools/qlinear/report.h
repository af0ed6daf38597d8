// Small formatting helpers shared by the subcommands' reports.
#pragma once

#include <cstdint>
#include <string>

#include "qlinear/tensor.h"

namespace qlinear::cli {

// "1.50 MiB", "812 B".
std::string format_bytes(std::uint64_t bytes);

// sqrt(sum (a - b)^2 / sum a^2) over all elements; 0 when a is all zeros and b equals it.
double relative_rms_error(const Tensor& reference, const Tensor& approximation);

}  // namespace qlinear::cli
