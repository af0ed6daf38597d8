// quantized_matmul for many rows with AVX512-BF16: x rounded to (or given in) bfloat16,
// W unpacked into panels of bfloat16 pairs, products summed in float32 by AMX tiles where
// the CPU and OS offer them, else by vdpbf16ps where that outruns float32 FMAs.
//
// Groups along K (transpose, the Linear layout): the panels hold the codes themselves,
// exact in bfloat16, and the affine identity y = sum_g s_g (x_g . q_g) + b_g sum(x_g) is
// applied per group, so bfloat16 x gives the exact path's accuracy. Groups along N: the
// scale changes along n, so the weights s * q + b are rounded instead, which only
// MatmulPrecision::bfloat16 (or int8) allows.
//
// Work is split over column blocks and every output element is summed in one fixed order,
// so results do not depend on the thread count or on how the rows are tiled.
#include <algorithm>
#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/generic/common.h"
#include "kernels/generic/matmul.h"
#include "kernels/generic/problem.h"
#include "kernels/scratch.h"
#include "kernels/x86/avx512_bf16.h"
#include "kernels/x86/bf16_amx_tile.h"
#include "kernels/x86/bf16_pack.h"
#include "kernels/x86/bf16_simd.h"
#include "kernels/x86/bf16_tile.h"
#include "kernels/x86/bf16_units.h"

namespace qlinear::kernels::avx512_bf16 {
namespace {

// The vdpbf16ps micro-kernels (bf16_tile.h).
struct VectorTiles {
  static constexpr int kRows = Bf16Shape::kTileRows;
  static constexpr RowLayout kLayout = RowLayout::broadcast;
  static void begin() {}
  static void end() {}
  static void affine(int rows, const std::uint32_t* x, const std::uint32_t* panel,
                     const float* scales, const float* biases, const float* sums,
                     std::int64_t groups, std::int64_t group_pairs, float* c, std::int64_t ldc,
                     bool accumulate) {
    affine_tile<kRows, Bf16Shape::kVectors>(rows, x, panel, scales, biases, sums, groups,
                                            group_pairs, c, ldc, accumulate);
  }
  static void weights(int rows, const std::uint32_t* x, const std::uint32_t* panel,
                      std::int64_t pairs, float* c, std::int64_t ldc, bool accumulate) {
    weight_tile<kRows, Bf16Shape::kVectors>(rows, x, panel, pairs, c, ldc, accumulate);
  }
};

// The AMX micro-kernel (bf16_amx_tile.h), for groups along K.
struct AmxTiles {
  static_assert(amx::kWidth == Bf16Shape::kPanelWidth);
  static constexpr int kRows = amx::kTileRows;
  static constexpr RowLayout kLayout = RowLayout::tile_rows;
  static void begin() { amx::configure(); }
  static void end() { amx::release(); }
  static constexpr auto affine = amx::affine_tile;
};

// bfloat16 x with codes in the panels is exact; anything else rounds and needs permission.
bool applies(const MatmulArgs& a) {
  if (a.spec.mode != QuantMode::affine || a.M <= generic::kPanelMinRows<Simd>) return false;
  const bool exact = a.transpose && a.x_dtype == Dtype::bfloat16;
  return exact || a.precision != MatmulPrecision::exact;
}

// out = x @ W; `codes`: groups along K, panels of codes and the affine identity; else
// panels of rounded weights. Each task keeps its running totals in its own contiguous
// block, micro-tile by micro-tile ([row tile][panel][MR][kPanelWidth]): rows of out lie
// N floats apart, a power of two for most layers, and would collide in the caches. The
// totals are narrowed into out once, after the last k-block.
template <class Tiles, int bits, bool codes>
void gemm(const MatmulArgs& a, const generic::Problem& p, const PackedRows& x) {
  constexpr int MR = Tiles::kRows;
  constexpr int PW = Bf16Shape::kPanelWidth;
  constexpr std::int64_t KC = Bf16Shape::kDepth;
  const std::int64_t padded_n = (p.N + PW - 1) / PW * PW;
  const std::int64_t group_pairs = p.group_size / 2;
  const std::size_t out_size = size_of(a.out_dtype);
  core::parallel_for(padded_n, Bf16Shape::kColumns, [&](std::int64_t n0, std::int64_t n_end) {
    const std::int64_t width = n_end - n0;
    const std::int64_t max_groups = codes ? KC / p.group_size : 0;
    const std::int64_t panel_floats = width * (KC / 2 + 2 * max_groups);
    float* scratch = scratch_floats(ScratchSlot::panel,
                                    static_cast<std::size_t>(panel_floats + x.tiles * MR * width));
    float* totals = scratch + panel_floats;
    auto tile_totals = [&](std::int64_t t, std::int64_t c) {
      return totals + (t * width + c) * MR;
    };
    Tiles::begin();
    for (std::int64_t k0 = 0; k0 < p.K; k0 += KC) {
      const std::int64_t depth = std::min(KC, p.K - k0);
      const std::int64_t pairs = pair_count(depth);
      const std::int64_t groups = codes ? depth / p.group_size : 0;
      const PanelBlock block{reinterpret_cast<std::uint32_t*>(scratch), scratch + width * KC / 2,
                             scratch + width * (KC / 2 + max_groups), pairs, groups};
      if constexpr (codes) {
        pack_code_panels<bits>(p, k0, depth, n0, width, block);
      } else {
        pack_weight_panels<bits>(p, k0, depth, n0, width, block);
      }
      const std::uint32_t* rows = x.pairs + k0 / 2 * x.tiles * MR;
      for (std::int64_t c = 0; c < width; c += PW) {
        for (std::int64_t t = 0; t < x.tiles; ++t) {
          const int tile_rows = static_cast<int>(std::min<std::int64_t>(MR, p.M - t * MR));
          if constexpr (codes) {
            Tiles::affine(tile_rows, rows + t * pairs * MR, block.panel(c), block.scales_of(c),
                          block.biases_of(c), x.sums + (t * p.groups + k0 / p.group_size) * MR,
                          groups, group_pairs, tile_totals(t, c), PW, k0 > 0);
          } else {
            Tiles::weights(tile_rows, rows + t * pairs * MR, block.panel(c), pairs,
                           tile_totals(t, c), PW, k0 > 0);
          }
        }
      }
    }
    Tiles::end();
    for (std::int64_t m = 0; m < p.M; ++m) {
      for (std::int64_t c = 0; c < width && n0 + c < p.N; c += PW) {
        generic::narrow<Simd>(tile_totals(m / MR, c) + m % MR * PW,
                              static_cast<char*>(a.out) + (m * p.N + n0 + c) * out_size,
                              a.out_dtype, std::min<std::int64_t>(PW, p.N - n0 - c));
      }
    }
  });
}

template <class Tiles, bool codes>
void multiply(const MatmulArgs& a, const generic::Problem& p) {
  const PackedRows x = pack_rows<Tiles::kRows, Tiles::kLayout>(a, codes ? a.spec.group_size : 0);
  generic::with_bits(a.spec.bits, [&](auto b) { gemm<Tiles, decltype(b)::value, codes>(a, p, x); });
}

}  // namespace

// Also taken for float32/float16 x, and for groups along N, when MatmulPrecision allows
// rounding; without that permission it declines. It also declines where neither AMX nor
// a vdpbf16ps faster than float32 FMAs is there: the float32 kernels are then both faster
// and exact.
bool bf16_matmul(const MatmulArgs& a) {
  if (!applies(a)) return false;
  const bool amx = a.transpose && amx_usable();
  if (!amx && !vector_bf16_usable()) return false;
  // x is packed separately; the result goes straight to a.out.
  const generic::Problem p = generic::problem_of(a, nullptr, nullptr, a.N);
  if (!a.transpose) {
    multiply<VectorTiles, false>(a, p);
  } else if (amx) {
    multiply<AmxTiles, true>(a, p);
  } else {
    multiply<VectorTiles, true>(a, p);
  }
  return true;
}

}  // namespace qlinear::kernels::avx512_bf16
