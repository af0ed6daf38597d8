// The float modes (mxfp4, mxfp8, nvfp4) in the generic kernels. FP4 codes become values
// by a table lookup in registers (Simd::lookup16), FP8 E4M3 codes by moving their bit
// fields (Simd::minifloat8), scale bytes by a 256-entry table; the tables come from
// reference::fp_tables, so that no format code is compiled with this instruction set's
// flags. Threaded like the affine kernels; every output
// element is one chain of operations whatever the thread count. quantize runs the
// reference's rows on every thread and dequantize rounds exactly as the reference does,
// so both are bit-exact; quantized_matmul is within float32 accumulation error of it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "core/thread_pool.h"
#include "kernels/generic/common.h"
#include "kernels/kernels.h"
#include "kernels/reference/reference.h"
#include "kernels/scratch.h"

namespace qlinear::kernels::generic {

// kLanes values of the codes at p: FP4 E2M1 through the 16-entry table, FP8 E4M3 (every
// 8-bit mode's element format) by moving its bit fields into float32's.
template <class Simd, int bits>
typename Simd::F fp_values(const std::uint8_t* p, const float* values) {
  if constexpr (bits == 4) {
    return Simd::lookup16(p, values);
  } else {
    return Simd::template minifloat8<4, 3>(p);
  }
}

// Calls fn(std::integral_constant<int, bits>{}) for the float modes' widths, 4 and 8.
template <class Fn>
decltype(auto) with_fp_bits(int bits, Fn&& fn) {
  if (bits == 4) return fn(std::integral_constant<int, 4>{});
  return fn(std::integral_constant<int, 8>{});
}

// count values (whole groups) of packed row `row` from code `first` on, times the scale
// of their group, into out (float32, float16 or bfloat16: rounded once, to nearest even).
template <class Simd, int bits, class O>
void fp_decode(const std::uint8_t* row, const std::uint8_t* scale_bytes,
               const reference::FpTables& t, int group_size, std::int64_t first, std::int64_t count,
               O* out) {
  constexpr int L = Simd::kLanes;
  for (std::int64_t j = 0; j < count; j += group_size) {
    const auto s = Simd::set1(t.scales[scale_bytes[(first + j) / group_size]]);
    for (int v = 0; v < group_size; v += L) {
      const std::int64_t code = first + j + v;
      Simd::store(out + j + v,
                  Simd::mul(fp_values<Simd, bits>(row + code * bits / 8, t.values), s));
    }
  }
}

template <class Simd>
void fp_quantize(const QuantizeArgs& a) {
  core::parallel_for(a.rows, 16, [&](std::int64_t begin, std::int64_t end) {
    reference::quantize_fp_rows(a, begin, end);
  });
}

template <class Simd>
void fp_dequantize(const DequantizeArgs& a) {
  reference::FpTables t;
  reference::fp_tables(a.spec.mode, a.out_dtype, a.global_scale, t);
  const int gs = a.spec.group_size;
  with_float_type(a.out_dtype, [&](auto o) {
    using O = decltype(o);
    with_fp_bits(a.spec.bits, [&](auto b) {
      constexpr int bits = decltype(b)::value;
      core::parallel_for(a.rows, 16, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t r = begin; r < end; ++r) {
          fp_decode<Simd, bits>(reinterpret_cast<const std::uint8_t*>(a.wq) + r * a.cols * bits / 8,
                                static_cast<const std::uint8_t*>(a.scales) + r * (a.cols / gs), t,
                                gs, 0, a.cols, static_cast<O*>(a.out) + r * a.cols);
        }
      });
    });
  });
}

// W (N, K), groups along K, for R <= 4 rows of x: each code vector is looked up once and
// used for every row; the dot products of a group are scaled once, as MLX does.
template <class Simd, int bits, int R>
void fp_gemv_rows(const MatmulArgs& a, const reference::FpTables& t, const float* x, float* y,
                  std::int64_t n_begin, std::int64_t n_end) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes;
  const std::int64_t K = a.K;
  const int gs = a.spec.group_size;
  for (std::int64_t n = n_begin; n < n_end; ++n) {
    const auto* row = reinterpret_cast<const std::uint8_t*>(a.wq) + n * K * bits / 8;
    const auto* scales = static_cast<const std::uint8_t*>(a.scales) + n * (K / gs);
    F acc[R];
    for (F& v : acc) v = Simd::zero();
    for (std::int64_t k0 = 0; k0 < K; k0 += gs) {
      F dot[R];
      for (F& v : dot) v = Simd::zero();
      for (int v = 0; v < gs; v += L) {
        const F q = fp_values<Simd, bits>(row + (k0 + v) * bits / 8, t.values);
        for (int r = 0; r < R; ++r) dot[r] = Simd::fmadd(q, Simd::load(x + r * K + k0 + v), dot[r]);
      }
      const F s = Simd::set1(t.scales[scales[k0 / gs]]);
      for (int r = 0; r < R; ++r) acc[r] = Simd::fmadd(dot[r], s, acc[r]);
    }
    for (int r = 0; r < R; ++r) y[r * a.N + n] = Simd::reduce_add(acc[r]);
  }
}

// W (N, K), groups along K, for more rows of x: a few rows of W are decoded into a float
// block, then every row of x takes its dot products with them.
template <class Simd, int bits>
void fp_matmul_rows(const MatmulArgs& a, const reference::FpTables& t, const float* x, float* y,
                    std::int64_t n_begin, std::int64_t n_end) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes;
  constexpr int kBlock = 4;
  const std::int64_t K = a.K;
  const int gs = a.spec.group_size;
  const auto* w = reinterpret_cast<const std::uint8_t*>(a.wq);
  const auto* scales = static_cast<const std::uint8_t*>(a.scales);
  float* block = scratch_floats(ScratchSlot::panel, static_cast<std::size_t>(kBlock * K));
  for (std::int64_t n0 = n_begin; n0 < n_end; n0 += kBlock) {
    const int rows = static_cast<int>(std::min<std::int64_t>(kBlock, n_end - n0));
    for (int i = 0; i < rows; ++i) {
      fp_decode<Simd, bits>(w + (n0 + i) * K * bits / 8, scales + (n0 + i) * (K / gs), t, gs, 0, K,
                            block + i * K);
    }
    for (std::int64_t m = 0; m < a.M; ++m) {
      const float* x_row = x + m * K;
      F acc[kBlock];
      for (F& v : acc) v = Simd::zero();
      for (std::int64_t k = 0; k < K; k += L) {
        const F xv = Simd::load(x_row + k);
        for (int i = 0; i < rows; ++i)
          acc[i] = Simd::fmadd(xv, Simd::load(block + i * K + k), acc[i]);
      }
      for (int i = 0; i < rows; ++i) y[m * a.N + n0 + i] = Simd::reduce_add(acc[i]);
    }
  }
}

// W (K, N), groups along N: each row of W, decoded over columns [c_begin, c_end), is
// added times x[m, k] into M rows of accumulators.
template <class Simd, int bits>
void fp_matmul_columns(const MatmulArgs& a, const reference::FpTables& t, const float* x, float* y,
                       std::int64_t c_begin, std::int64_t c_end) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes;
  const std::int64_t width = c_end - c_begin;
  const int gs = a.spec.group_size;
  const auto* w = reinterpret_cast<const std::uint8_t*>(a.wq);
  const auto* scales = static_cast<const std::uint8_t*>(a.scales);
  float* acc = scratch_floats(ScratchSlot::panel, static_cast<std::size_t>(a.M * width));
  float* values = scratch_floats(ScratchSlot::sums, static_cast<std::size_t>(width));
  std::fill(acc, acc + a.M * width, 0.0f);
  for (std::int64_t k = 0; k < a.K; ++k) {
    fp_decode<Simd, bits>(w + k * a.N * bits / 8, scales + k * (a.N / gs), t, gs, c_begin, width,
                          values);
    for (std::int64_t m = 0; m < a.M; ++m) {
      const F xk = Simd::set1(x[m * a.K + k]);
      float* acc_row = acc + m * width;
      for (std::int64_t c = 0; c < width; c += L) {
        Simd::store(acc_row + c, Simd::fmadd(xk, Simd::load(values + c), Simd::load(acc_row + c)));
      }
    }
  }
  for (std::int64_t m = 0; m < a.M; ++m) {
    std::copy(acc + m * width, acc + (m + 1) * width, y + m * a.N + c_begin);
  }
}

template <class Simd>
void fp_quantized_matmul(const MatmulArgs& a) {
  const float* x = static_cast<const float*>(a.x);
  if (a.x_dtype != Dtype::float32) {
    float* wide = scratch_floats(ScratchSlot::input, static_cast<std::size_t>(a.M * a.K));
    widen<Simd>(a.x, a.x_dtype, wide, a.M * a.K);
    x = wide;
  }
  const bool direct = a.out_dtype == Dtype::float32;
  float* y = direct ? static_cast<float*>(a.out)
                    : scratch_floats(ScratchSlot::output, static_cast<std::size_t>(a.M * a.N));
  reference::FpTables t;
  reference::fp_tables(a.spec.mode, a.x_dtype, nullptr, t);
  with_fp_bits(a.spec.bits, [&](auto b) {
    constexpr int bits = decltype(b)::value;
    if (a.transpose && a.M <= 4) {
      [&]<int... I>(std::integer_sequence<int, I...>) {
        ((a.M == I + 1 ? core::parallel_for(a.N, 16,
                                            [&](std::int64_t begin, std::int64_t end) {
                                              fp_gemv_rows<Simd, bits, I + 1>(a, t, x, y, begin,
                                                                              end);
                                            })
                       : void()),
         ...);
      }
      (std::make_integer_sequence<int, 4>{});
    } else if (a.transpose) {
      core::parallel_for(a.N, 16, [&](std::int64_t begin, std::int64_t end) {
        fp_matmul_rows<Simd, bits>(a, t, x, y, begin, end);
      });
    } else {
      // Chunks of whole groups, at least 256 columns.
      const std::int64_t chunk = std::max<std::int64_t>(a.spec.group_size, 256);
      core::parallel_for(a.N, chunk, [&](std::int64_t begin, std::int64_t end) {
        fp_matmul_columns<Simd, bits>(a, t, x, y, begin, end);
      });
    }
  });
  if (direct) return;
  for (std::int64_t m = 0; m < a.M; ++m) {
    narrow<Simd>(y + m * a.N, static_cast<char*>(a.out) + m * a.N * size_of(a.out_dtype),
                 a.out_dtype, a.N);
  }
}

}  // namespace qlinear::kernels::generic
