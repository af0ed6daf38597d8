// Mode "affine": w ~ scale * q + bias per group, q in [0, 2^bits - 1].
// The arithmetic reproduces MLX's bit for bit: float32 throughout, true divisions,
// no fused multiply-add, round half to even (see SPEC section 1).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace qlinear::formats::affine {

inline constexpr float kScaleFloor = 1e-7f;

constexpr std::uint32_t max_code(int bits) {
  return (1u << bits) - 1u;
}

struct GroupParams {
  float scale;
  float bias;
};

// Scale and bias of a group from its extremes. The extreme with the larger magnitude
// becomes the bias (code 0), so it is reproduced exactly.
// 1-bit groups (MLX 0.32.4) keep the minimum as the bias and the range as the scale.
// w_min is the minimum as std::min finds it from the group's first element on: of equal
// values the first one wins, so a zero minimum carries the sign of the group's first zero
// (MLX writes that -0.0 or 0.0 as the 1-bit bias).
inline GroupParams group_params(float w_min, float w_max, int bits) {
  const float n_bins = static_cast<float>(max_code(bits));
  if (bits == 1) return {std::max(w_max - w_min, kScaleFloor), w_min};
  const bool min_is_edge = std::fabs(w_min) > std::fabs(w_max);
  float scale = std::max((w_max - w_min) / n_bins, kScaleFloor);
  scale = min_is_edge ? scale : -scale;
  const float edge = min_is_edge ? w_min : w_max;
  const float q0 = std::rint(edge / scale);
  if (q0 == 0.0f) return {scale, 0.0f};
  return {edge / q0, edge};
}

inline std::uint32_t code_of(float w, GroupParams p, int bits) {
  const float q = std::rint((w - p.bias) / p.scale);
  return static_cast<std::uint32_t>(std::clamp(q, 0.0f, static_cast<float>(max_code(bits))));
}

}  // namespace qlinear::formats::affine
