// The float modes (mxfp4, mxfp8, nvfp4) in the generic kernels, decoding (quantize is
// fp_quantize.h). FP4 codes become values by a table lookup in registers
// (Simd::lookup16), FP8 E4M3 codes by moving their bit fields (Simd::minifloat8), scale
// bytes by a 256-entry table; the tables come from reference::fp_tables, so that no
// format code is compiled with this instruction set's flags. Threaded like the affine
// kernels; every output element is one chain of operations whatever the thread count.
// dequantize rounds exactly as the reference does, so it is bit-exact; quantized_matmul
// is within float32 accumulation error of it.
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
#include "qlinear/quant_spec.h"

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

// Calls fn(std::integral_constant<int, gs>{}) for the one group size the catalogue allows
// a float mode of width `bits`: nvfp4's (16) or mxfp4's / mxfp8's (32).
template <int bits, class Fn>
void with_fp_group(QuantMode mode, Fn&& fn) {
  if constexpr (bits == traits(QuantMode::nvfp4).default_bits) {
    constexpr int nv = traits(QuantMode::nvfp4).default_group_size;
    if (mode == QuantMode::nvfp4) return fn(std::integral_constant<int, nv>{});
  }
  constexpr QuantMode mx = bits == 4 ? QuantMode::mxfp4 : QuantMode::mxfp8;
  fn(std::integral_constant<int, traits(mx).default_group_size>{});
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
// used for every row; the dot products of a group are scaled once, as MLX does. Serves
// the rows that fp_gemv_block cannot (K not a multiple of its block of codes).
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

// The few-rows kernel's unit of codes: 2 kLanes FP4 codes (kLanes bytes, looked up as
// their low and high nibbles) or kLanes FP8 codes.
template <class Simd, int bits>
constexpr int kFpBlock = bits == 4 ? 2 * Simd::kLanes : Simd::kLanes;

// x as fp_gemv_block reads it: per block of 2 kLanes FP4 codes the x of the even codes,
// then of the odd ones (the order Simd::lookup16_pairs returns the values in).
template <class Simd>
void split_pairs(const float* x, std::int64_t count, float* out) {
  constexpr int L = Simd::kLanes;
  for (std::int64_t b = 0; b < count; b += 2 * L) {
    for (int l = 0; l < L; ++l) {
      out[b + l] = x[b + 2 * l];
      out[b + L + l] = x[b + 2 * l + 1];
    }
  }
}

// Rows n .. n + W - 1 of W (N, K) with groups of gs along K (K a multiple of
// kFpBlock), for R rows of x (FP4: split by split_pairs): each block of codes is looked
// up once for every row of x, and the W rows' chains run side by side (one row alone waits
// on its multiply-adds' latency). Each output is the same chain whatever W is.
template <class Simd, int bits, int gs, int R, int W>
void fp_gemv_block(const MatmulArgs& a, const reference::FpTables& t, const float* x, float* y,
                   std::int64_t n) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes;
  constexpr int kBlock = kFpBlock<Simd, bits>;
  constexpr int kParts = kBlock / L;
  static_assert(gs % kBlock == 0 || 2 * gs == kBlock, "a block spans whole groups");
  const std::int64_t K = a.K;
  const std::uint8_t* rows[W];
  const std::uint8_t* scales[W];
  for (int w = 0; w < W; ++w) {
    rows[w] = reinterpret_cast<const std::uint8_t*>(a.wq) + (n + w) * K * bits / 8;
    scales[w] = static_cast<const std::uint8_t*>(a.scales) + (n + w) * (K / gs);
  }
  // Rows of a few KiB are streams too short for the hardware prefetcher (as in
  // gemv_fields.h): each block also prefetches the same codes of the next W rows, and
  // their scales once per 64 groups. Prefetches past the end never fault.
  const std::int64_t ahead = W * K * bits / 8;
  auto values = [&](int w, std::int64_t k, F(&q)[kParts]) {
    __builtin_prefetch(rows[w] + ahead + k * bits / 8);
    if (k % (64 * gs) == 0) __builtin_prefetch(scales[w] + W * (K / gs) + k / gs);
    if constexpr (bits == 4) {
      Simd::lookup16_pairs(rows[w] + k / 2, t.values, q[0], q[1]);
    } else {
      q[0] = fp_values<Simd, bits>(rows[w] + k, t.values);
    }
  };
  F acc[W][R];
  for (auto& row : acc) {
    for (F& v : row) v = Simd::zero();
  }
  if constexpr (gs >= kBlock) {
    for (std::int64_t k0 = 0; k0 < K; k0 += gs) {
      F dot[W][R];
      for (auto& row : dot) {
        for (F& v : row) v = Simd::zero();
      }
      for (int v = 0; v < gs; v += kBlock) {
        F xv[R][kParts];
        for (int r = 0; r < R; ++r) {
          for (int p = 0; p < kParts; ++p) xv[r][p] = Simd::load(x + r * K + k0 + v + p * L);
        }
        for (int w = 0; w < W; ++w) {
          F q[kParts];
          values(w, k0 + v, q);
          for (int r = 0; r < R; ++r) {
            for (int p = 0; p < kParts; ++p) dot[w][r] = Simd::fmadd(q[p], xv[r][p], dot[w][r]);
          }
        }
      }
      for (int w = 0; w < W; ++w) {
        const F s = Simd::set1(t.scales[scales[w][k0 / gs]]);
        for (int r = 0; r < R; ++r) acc[w][r] = Simd::fmadd(dot[w][r], s, acc[w][r]);
      }
    }
  } else {
    // Two groups per block (nvfp4's 16 codes, 32 FP4 codes per AVX-512 block): lanes
    // below kLanes / 2 hold the first group's pairs.
    for (std::int64_t k0 = 0; k0 < K; k0 += kBlock) {
      F xv[R][kParts];
      for (int r = 0; r < R; ++r) {
        for (int p = 0; p < kParts; ++p) xv[r][p] = Simd::load(x + r * K + k0 + p * L);
      }
      for (int w = 0; w < W; ++w) {
        F q[kParts];
        values(w, k0, q);
        const std::uint8_t* s = scales[w] + k0 / gs;
        const F scale = Simd::set_halves(t.scales[s[0]], t.scales[s[1]]);
        for (int r = 0; r < R; ++r) {
          F dot = Simd::mul(q[0], xv[r][0]);
          for (int p = 1; p < kParts; ++p) dot = Simd::fmadd(q[p], xv[r][p], dot);
          acc[w][r] = Simd::fmadd(dot, scale, acc[w][r]);
        }
      }
    }
  }
  for (int w = 0; w < W; ++w) {
    for (int r = 0; r < R; ++r) y[r * a.N + n + w] = Simd::reduce_add(acc[w][r]);
  }
}

// Few rows of x (R <= 4) against W (N, K), groups along K: blocks of 4 / R rows of W
// (one for the last few), threaded over N.
template <class Simd, int bits, int gs, int R>
void fp_gemv(const MatmulArgs& a, const reference::FpTables& t, const float* x, float* y) {
  const float* xs = x;
  if constexpr (bits == 4) {
    float* split = scratch_floats(ScratchSlot::sums, static_cast<std::size_t>(R * a.K));
    for (int r = 0; r < R; ++r) split_pairs<Simd>(x + r * a.K, a.K, split + r * a.K);
    xs = split;
  }
  constexpr int W = R == 1 ? 4 : R == 2 ? 2 : 1;
  core::parallel_for(a.N, 16, [&](std::int64_t begin, std::int64_t end) {
    std::int64_t n = begin;
    for (; n + W <= end; n += W) fp_gemv_block<Simd, bits, gs, R, W>(a, t, xs, y, n);
    for (; n < end; ++n) fp_gemv_block<Simd, bits, gs, R, 1>(a, t, xs, y, n);
  });
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
      const bool blocks = a.K % kFpBlock<Simd, bits> == 0;
      [&]<int... I>(std::integer_sequence<int, I...>) {
        ((a.M == I + 1 ? (blocks ? with_fp_group<bits>(
                                       a.spec.mode,
                                       [&](auto g) {
                                         fp_gemv<Simd, bits, decltype(g)::value, I + 1>(a, t, x, y);
                                       })
                                 : core::parallel_for(a.N, 16,
                                                      [&](std::int64_t begin, std::int64_t end) {
                                                        fp_gemv_rows<Simd, bits, I + 1>(a, t, x, y,
                                                                                        begin, end);
                                                      }))
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
