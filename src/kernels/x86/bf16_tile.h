// Micro-kernels of the bfloat16 matmul: MR rows of x by NV vectors of output columns,
// MR x NV accumulators fed by vdpbf16ps from one broadcast x pair per row and NV panel
// vectors per pair of k.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/x86/bf16_simd.h"

namespace qlinear::kernels::avx512_bf16 {

// acc[r][v] += x[., r] . panel[., v] over `pairs` pairs of k; x is [pair][MR], the panel
// [pair][NV vectors].
template <int MR, int NV>
inline void add_products(Simd::F (&acc)[MR][NV], const std::uint32_t* x, const std::uint32_t* panel,
                         std::int64_t pairs) {
  constexpr int PW = NV * Simd::kLanes;
  for (std::int64_t i = 0; i < pairs; ++i) {
    Simd::Pairs w[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) w[v] = _mm512_loadu_si512(panel + i * PW + v * Simd::kLanes);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const Simd::Pairs xr = _mm512_set1_epi32(static_cast<int>(x[i * MR + r]));
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = Simd::dot_pairs(acc[r][v], xr, w[v]);
    }
  }
}

// Groups along K: c[rows, PW] (+)= sum_g scale[g] * (x_g . q_g) + bias[g] * sum(x_g), the
// affine identity, with the codes q exact in bfloat16. Per group, the dot products run in
// registers and the running totals in c (L1) take two multiply-adds. scales and biases
// are [group][PW], sums [group][MR].
template <int MR, int NV>
void affine_tile(int rows, const std::uint32_t* x, const std::uint32_t* panel, const float* scales,
                 const float* biases, const float* sums, std::int64_t groups,
                 std::int64_t group_pairs, float* c, std::int64_t ldc, bool accumulate) {
  constexpr int L = Simd::kLanes;
  constexpr int PW = NV * L;
  for (std::int64_t g = 0; g < groups; ++g) {
    Simd::F dot[MR][NV];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) dot[r][v] = Simd::zero();
    }
    add_products<MR, NV>(dot, x + g * group_pairs * MR, panel + g * group_pairs * PW, group_pairs);
    const bool load = accumulate || g > 0;
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      if (r >= rows) break;
      const Simd::F sum = Simd::set1(sums[g * MR + r]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        float* out = c + r * ldc + v * L;
        const Simd::F total = load ? Simd::load(out) : Simd::zero();
        const Simd::F scaled = Simd::fmadd(Simd::load(scales + g * PW + v * L), dot[r][v], total);
        Simd::store(out, Simd::fmadd(Simd::load(biases + g * PW + v * L), sum, scaled));
      }
    }
  }
}

// Plain weights (groups along N, already scaled): c[rows, PW] (+)= x . panel.
template <int MR, int NV>
void weight_tile(int rows, const std::uint32_t* x, const std::uint32_t* panel, std::int64_t pairs,
                 float* c, std::int64_t ldc, bool accumulate) {
  constexpr int L = Simd::kLanes;
  Simd::F acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    const bool load = accumulate && r < rows;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = load ? Simd::load(c + r * ldc + v * L) : Simd::zero();
  }
  add_products<MR, NV>(acc, x, panel, pairs);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    if (r >= rows) break;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) Simd::store(c + r * ldc + v * L, acc[r][v]);
  }
}

}  // namespace qlinear::kernels::avx512_bf16
