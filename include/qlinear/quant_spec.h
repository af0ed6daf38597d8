// The catalogue of quantization modes: one table of per-mode traits (in the spirit of
// ggml's type_traits and gemma.cpp's CompressTraits) that owns each mode's name, default
// and allowed settings, and the sizes of its packed tensors. The ops, the model folders,
// the layers, the command-line tool, the benchmarks, Python and the tests iterate over it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "qlinear/dtype.h"

namespace qlinear {

enum class QuantMode { affine, mxfp4, mxfp8, nvfp4 };

struct ModeTraits {
  QuantMode mode;
  std::string_view name;
  int default_group_size;
  int default_bits;
  std::span<const int> bits;         // the widths it accepts, ascending
  std::span<const int> group_sizes;  // the group sizes it accepts, ascending
  bool affine_scales;                // scales (and biases) in w's dtype; else uint8 codes
  bool has_global_scale;             // takes an optional float32 global scale (nvfp4)

  bool has_biases() const { return affine_scales; }
  // The dtype of the scales of weights of dtype w.
  Dtype scale_dtype(Dtype w) const { return affine_scales ? w : Dtype::uint8; }
  // Bytes per scale (and per bias) of weights of dtype w.
  std::size_t scale_bytes(Dtype w) const { return size_of(scale_dtype(w)); }
};

namespace modes {
// The widths MLX 0.32.4 accepts in affine mode (it refuses 7).
inline constexpr int kAffineBits[] = {1, 2, 3, 4, 5, 6, 8};
inline constexpr int kAffineGroupSizes[] = {32, 64, 128};
inline constexpr int kFour[] = {4};
inline constexpr int kEight[] = {8};
inline constexpr int kSixteen[] = {16};
inline constexpr int kThirtyTwo[] = {32};
}  // namespace modes

// Every mode, in QuantMode's order.
inline constexpr std::array<ModeTraits, 4> kQuantModes{{
    {QuantMode::affine, "affine", 64, 4, modes::kAffineBits, modes::kAffineGroupSizes, true, false},
    {QuantMode::mxfp4, "mxfp4", 32, 4, modes::kFour, modes::kThirtyTwo, false, false},
    {QuantMode::mxfp8, "mxfp8", 32, 8, modes::kEight, modes::kThirtyTwo, false, false},
    {QuantMode::nvfp4, "nvfp4", 16, 4, modes::kFour, modes::kSixteen, false, true},
}};

constexpr const ModeTraits& traits(QuantMode mode) {
  return kQuantModes[static_cast<std::size_t>(mode)];
}

// "affine" -> QuantMode::affine ...; an unknown name throws "[op] Unknown quantization mode ...".
QuantMode parse_quant_mode(std::string_view mode, std::string_view op);
std::string_view mode_name(QuantMode mode);

// One layer's quantization settings.
struct QuantSpec {
  int group_size = 64;
  int bits = 4;
  QuantMode mode = QuantMode::affine;

  // The defaults of a mode (kQuantModes): affine (64, 4), mxfp4 (32, 4), mxfp8 (32, 8),
  // nvfp4 (16, 4).
  static QuantSpec defaults(QuantMode mode);
  // Fills the unset values from the mode's defaults and validates the result for `op`.
  static QuantSpec resolve(std::string_view op, QuantMode mode, std::optional<int> group_size,
                           std::optional<int> bits);
  bool operator==(const QuantSpec&) const = default;

  const ModeTraits& traits() const { return qlinear::traits(mode); }
  // uint32 words that hold `codes` codes (codes * bits a multiple of 32).
  constexpr std::int64_t packed_words(std::int64_t codes) const { return codes * bits / 32; }
  // Codes held by `words` uint32 words.
  constexpr std::int64_t codes_in(std::int64_t words) const { return words * 32 / bits; }
  // Groups (scales) of `codes` codes.
  constexpr std::int64_t groups(std::int64_t codes) const { return codes / group_size; }
};

}  // namespace qlinear
