// qlinear demo's parts: the folders it builds (a synthetic float Llama, its 4-bit and
// mixed-recipe conversions) and its two reports on them.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "qlinear/model.h"

namespace qlinear::cli {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct DemoFolders {
  std::filesystem::path float_dir, q4_dir, mixed_dir;
  std::string recipe;                                  // the mixed recipe's name
  double float_bits = 0, q4_bits = 0, mixed_bits = 0;  // bits per weight of each folder
};

// The main report: greedy generation from the three folders (fixed random prompt ids):
// prompt and generation tokens per second, weight bytes, and how often each quantized
// model's next token agrees with the float model's, teacher-forced on the float tokens.
void report_generation(const DemoFolders& folders, std::int64_t prompt_tokens,
                       std::int64_t max_tokens, std::uint32_t seed);

// --layers: every projection of the float model against the quantized ones on one random
// batch, per layer type: bytes, relative output error, time per call.
void report_layers(const DemoFolders& folders, const SyntheticModelShape& shape,
                   std::int64_t tokens, int repeats, std::uint32_t seed);

}  // namespace qlinear::cli
