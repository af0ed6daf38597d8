// The float modes (mxfp4, mxfp8, nvfp4) in the generic kernels, decoding (quantize is
// fp_quantize.h). FP4 codes become values by a table lookup in registers
// (Simd::lookup16), FP8 E4M3 codes by moving their bit fields (Simd::minifloat8), scale
// bytes by a 256-entry table; the tables come from reference::fp_tables, so that no
// format code is compiled with this instruction set's flags. quantized_matmul takes
// few-rows kernels for few rows of transposed W and the panel GEMM (gemm.h, with
// FpDecoder) otherwise. Threaded like the affine kernels; every output element is one
// chain of operations whatever the thread count. dequantize rounds exactly as the
// reference does, so it is bit-exact; quantized_matmul is within float32 accumulation
// error of it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "core/thread_pool.h"
#include "kernels/generic/common.h"
#include "kernels/generic/decoders.h"
#include "kernels/generic/fp4_bytes.h"
#include "kernels/generic/fp4_nibbles.h"
#include "kernels/generic/gemm.h"
#include "kernels/generic/matmul.h"
#include "kernels/kernels.h"
#include "kernels/reference/reference.h"
#include "kernels/scratch.h"
#include "qlinear/quant_spec.h"

namespace qlinear::kernels::generic {

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

template <class Simd>
void fp_dequantize(const DequantizeArgs& a) {
  reference::FpTables t;
  reference::fp_tables(a.spec.mode, a.out_dtype, a.global_scale, t);
  const int gs = a.spec.group_size;
  with_float_type(a.out_dtype, [&](auto o) {
    using O = decltype(o);
    with_fp_bits(a.spec.bits, [&](auto b) {
      constexpr int bits = decltype(b)::value;
      const FpDecoder<Simd, bits> decoder{static_cast<const std::uint8_t*>(a.scales), &t};
      const std::int64_t groups = a.cols / gs;
      core::parallel_for(a.rows, 16, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t r = begin; r < end; ++r) {
          const auto* row = reinterpret_cast<const std::uint8_t*>(a.wq) + r * a.cols * bits / 8;
          O* out = static_cast<O*>(a.out) + r * a.cols;
          for (std::int64_t g = 0; g < groups; ++g) {
            const auto group = decoder.group(r * groups + g);
            for (int v = 0; v < gs; v += Simd::kLanes) {
              Simd::store(out + g * gs + v, decoder.values(row, g * gs + v, group));
            }
          }
        }
      });
    });
  });
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
  reorder_blocks<Simd, 2 * L>(
      x, count, [](int i) { return i < L ? 2 * i : 2 * (i - L) + 1; }, out);
}

// From Simd::kFpScaledRows rows of x the block kernel scales each looked-up vector, not
// each row's sum of a group: one multiply per vector for all rows against one multiply-add
// per row and group (measured, docs/kernels.md "Few rows of x on AVX-512").
template <class Simd, int R>
inline constexpr bool kScaledValues = R >= Simd::kFpScaledRows;

// Rows n + w * step (w < W) of W (N, K) with groups of gs along K (K a multiple of
// kFpBlock; a unit of RowRuns), for R rows of x (FP4: split by split_pairs): each block
// of codes is looked up once for every row of x, and the W rows' chains run side by side
// (one row alone waits on its multiply-adds' latency). Each output is the same chain
// whatever W is.
template <class Simd, int bits, int gs, int R, int W>
void fp_gemv_block(const MatmulArgs& a, const reference::FpTables& t, const float* x, float* y,
                   std::int64_t n, std::int64_t step, std::int64_t ahead) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes;
  constexpr int kBlock = kFpBlock<Simd, bits>;
  constexpr int kParts = kBlock / L;
  // (FP4 on AVX-512, whose block of 32 codes would span two of nvfp4's groups, takes
  // fp4_nibbles.h; on AVX2 fp4_bytes.h.)
  static_assert(gs % kBlock == 0, "a block lies in one group");
  const std::int64_t K = a.K;
  const std::uint8_t* rows[W];
  const std::uint8_t* scales[W];
  for (int w = 0; w < W; ++w) {
    rows[w] = reinterpret_cast<const std::uint8_t*>(a.wq) + (n + w * step) * K * bits / 8;
    scales[w] = static_cast<const std::uint8_t*>(a.scales) + (n + w * step) * (K / gs);
  }
  // Each block also prefetches the same codes a few rows on in its row's run (as in
  // gemv_fields.h), and their scales once per 64 groups. Prefetches past the end never
  // fault.
  auto values = [&](int w, std::int64_t k, F(&q)[kParts]) {
    __builtin_prefetch(rows[w] + ahead * K * bits / 8 + k * bits / 8);
    if (k % (64 * gs) == 0) __builtin_prefetch(scales[w] + ahead * (K / gs) + k / gs);
    if constexpr (bits == 4) {
      Simd::lookup16_pairs(rows[w] + k / 2, t.values, q[0], q[1]);
    } else {
      q[0] = fp_values<Simd, bits>(rows[w] + k, t.values);
    }
  };
  auto load_x = [&](std::int64_t k, F(&xv)[R][kParts]) {
    for (int r = 0; r < R; ++r) {
      for (int p = 0; p < kParts; ++p) xv[r][p] = Simd::load(x + r * K + k + p * L);
    }
  };
  // The scale of the block of codes at k in row w.
  auto block_scale = [&](int w, std::int64_t k) { return Simd::set1(t.scales[scales[w][k / gs]]); };
  F acc[W][R];
  for (auto& row : acc) {
    for (F& v : row) v = Simd::zero();
  }
  if constexpr (kScaledValues<Simd, R>) {
    for (std::int64_t k0 = 0; k0 < K; k0 += kBlock) {
      F xv[R][kParts];
      load_x(k0, xv);
      for (int w = 0; w < W; ++w) {
        F q[kParts];
        values(w, k0, q);
        // Each looked-up vector times its scale once for all R rows (exact products: a few
        // significant bits times a power of two or an E4M3 value).
        const F scale = block_scale(w, k0);
        for (F& v : q) v = Simd::mul(v, scale);
        for (int r = 0; r < R; ++r) {
          for (int p = 0; p < kParts; ++p) acc[w][r] = Simd::fmadd(q[p], xv[r][p], acc[w][r]);
        }
      }
    }
  } else {
    // Groups of whole blocks: each row's sum of a group times its scale.
    for (std::int64_t k0 = 0; k0 < K; k0 += gs) {
      F dot[W][R];
      for (auto& row : dot) {
        for (F& v : row) v = Simd::zero();
      }
      for (int v = 0; v < gs; v += kBlock) {
        F xv[R][kParts];
        load_x(k0 + v, xv);
        for (int w = 0; w < W; ++w) {
          F q[kParts];
          values(w, k0 + v, q);
          for (int r = 0; r < R; ++r) {
            for (int p = 0; p < kParts; ++p) dot[w][r] = Simd::fmadd(q[p], xv[r][p], dot[w][r]);
          }
        }
      }
      for (int w = 0; w < W; ++w) {
        const F scale = block_scale(w, k0);
        for (int r = 0; r < R; ++r) acc[w][r] = Simd::fmadd(dot[w][r], scale, acc[w][r]);
      }
    }
  }
  for (int w = 0; w < W; ++w) {
    for (int r = 0; r < R; ++r) y[r * a.N + n + w * step] = Simd::reduce_add(acc[w][r]);
  }
}

// Few rows of x (R <= kFpGemvRows) against W (N, K), groups along K: blocks of 4 / R rows
// of W (one from 3 rows on), threaded over N.
template <class Simd, int bits, int gs, int R>
void fp_gemv(const MatmulArgs& a, const reference::FpTables& t, const float* x, float* y) {
  const float* xs = x;
  if constexpr (bits == 4) {
    float* split = scratch_floats(ScratchSlot::sums, static_cast<std::size_t>(R * a.K));
    for (int r = 0; r < R; ++r) split_pairs<Simd>(x + r * a.K, a.K, split + r * a.K);
    xs = split;
  }
  constexpr int W = R == 1 ? 4 : R == 2 ? 2 : 1;
  core::parallel_for(a.N, streaming_grain<Simd>(a.N, 16),
                     [&](std::int64_t begin, std::int64_t end) {
                       const RowRuns<Simd, W> runs(begin, end, a.K * bits / 8);
                       runs.each([&](auto weight_rows, std::int64_t n, std::int64_t step) {
                         fp_gemv_block<Simd, bits, gs, R, decltype(weight_rows)::value>(
                             a, t, xs, y, n, step, runs.ahead);
                       });
                     });
}

// R <= Simd::kFpGemvRows rows of x against W (N, K): FP4 by words of nibbles where Simd
// looks them up (fp4_nibbles.h) or by byte lookups (fp4_bytes.h), else the block kernel
// (K is whole blocks of its codes: a group is).
template <class Simd, int bits>
void fp_few_rows(const MatmulArgs& a, const reference::FpTables& t, const float* x, float* y,
                 int rows) {
  with_fp_group<bits>(a.spec.mode, [&](auto g) {
    with_row_count<Simd::kFpGemvRows>(rows, [&](auto r) {
      constexpr int gs = decltype(g)::value, R = decltype(r)::value;
      if constexpr (bits == 4 && NibbleLookup<Simd>) {
        fp4_nibble_gemv<Simd, gs, R>(a, t, x, y);
      } else if constexpr (bits == 4 && Fp4ByteLookup<Simd>) {
        fp4_byte_gemv<Simd, gs, R>(a, t, x, y);
      } else {
        fp_gemv<Simd, bits, gs, R>(a, t, x, y);
      }
    });
  });
}

// Rows of x from which transposed W takes the panel GEMM rather than the few-rows kernel
// kFpGemvRows rows at a time, by measurement per instruction set (Simd traits, docs/kernels.md).
template <class Simd>
constexpr std::int64_t fp_panel_min_rows(QuantMode mode) {
  switch (mode) {
    case QuantMode::mxfp4:
      return Simd::kMxfp4PanelRows;
    case QuantMode::nvfp4:
      return Simd::kNvfp4PanelRows;
    default:
      return Simd::kMxfp8PanelRows;
  }
}

template <class Simd>
void fp_quantized_matmul(const MatmulArgs& a) {
  reference::FpTables t;
  reference::fp_tables(a.spec.mode, a.x_dtype, nullptr, t);
  // Untransposed W has no few-rows kernel: the panels beat the column kernel they replace
  // from one row on.
  const bool panels = !a.transpose || a.M >= fp_panel_min_rows<Simd>(a.spec.mode);
  with_float_operands<Simd>(a, panels, [&](const Problem& p) {
    with_fp_bits(a.spec.bits, [&](auto b) {
      constexpr int bits = decltype(b)::value;
      if (panels) {
        gemm<Simd>(p, FpDecoder<Simd, bits>{static_cast<const std::uint8_t*>(p.scales), &t},
                   a.transpose);
      } else {
        for (std::int64_t m = 0; m < a.M; m += Simd::kFpGemvRows) {
          fp_few_rows<Simd, bits>(
              a, t, p.x + m * a.K, p.y + m * a.N,
              static_cast<int>(std::min<std::int64_t>(Simd::kFpGemvRows, a.M - m)));
        }
      }
    });
  });
}

}  // namespace qlinear::kernels::generic
