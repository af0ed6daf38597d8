// Decoders of packed weights into float32 vectors, one per family of modes. A decoder
// reads a group's parameters once (group) and turns Simd::kLanes codes of that group
// into values (values); the panel GEMM (gemm.h) lays them out whatever the family, and
// the float modes' dequantize (fp_modes.h) stores them.
#pragma once

#include <cstdint>

#include "kernels/generic/common.h"
#include "kernels/reference/reference.h"
#include "qlinear/dtype.h"

namespace qlinear::kernels::generic {

// Affine codes: scale * q + bias, fused (the matmul kernels' arithmetic; dequantize
// rounds in two steps instead, as the reference does).
template <class Simd, int bits>
struct AffineDecoder {
  using F = typename Simd::F;
  struct Group {
    F scale, bias;
  };

  const void* scales;  // one per group, of scale_dtype
  const void* biases;
  Dtype scale_dtype;

  Group group(std::int64_t g) const {
    return {Simd::set1(load_float<Simd>(scales, scale_dtype, g)),
            Simd::set1(load_float<Simd>(biases, scale_dtype, g))};
  }
  F values(const std::uint8_t* row, std::int64_t first, const Group& g) const {
    return Simd::fmadd(codes_at<Simd, bits>(row, first), g.scale, g.bias);
  }
};

// kLanes values of the float-mode codes at p: FP4 E2M1 through the 16-entry table, FP8
// E4M3 (every 8-bit mode's element format) by moving its bit fields into float32's.
template <class Simd, int bits>
typename Simd::F fp_values(const std::uint8_t* p, const float* values) {
  if constexpr (bits == 4) {
    return Simd::lookup16(p, values);
  } else {
    return Simd::template minifloat8<4, 3>(p);
  }
}

// Float-mode codes (mxfp4, nvfp4, mxfp8): value * scale, both from the tables, in one
// float32 multiply as the reference's dequantize does: the same value bit for bit.
template <class Simd, int bits>
struct FpDecoder {
  using F = typename Simd::F;
  struct Group {
    F scale;
  };

  const std::uint8_t* scale_bytes;  // one per group
  const reference::FpTables* tables;

  Group group(std::int64_t g) const { return {Simd::set1(tables->scales[scale_bytes[g]])}; }
  F values(const std::uint8_t* row, std::int64_t first, const Group& g) const {
    return Simd::mul(fp_values<Simd, bits>(row + first * bits / 8, tables->values), g.scale);
  }
};

}  // namespace qlinear::kernels::generic
