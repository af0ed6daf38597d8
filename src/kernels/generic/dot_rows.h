// The two products of attention and of a float Linear for a few rows of x: every row of W
// (keys, weights) or V (values) is read once for up to 4 rows of x. Dot products keep one
// accumulator vector per (W row, x row) and sum their lanes kLanes at a time with one
// transposing tree (a horizontal sum each is most of the work when rows are as short as
// an attention head); each output is one chain of operations whatever the tiling.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/generic/common.h"
#include "kernels/generic/partial_lanes.h"

namespace qlinear::kernels::generic {

// out[r * ldo + j] = scale * (x[r * ldx + :K] . w[(j0 + j) * K + :K]) for r < R, j < W.
template <class Simd, int R, int W, class T>
void dot_tile(const float* x, std::int64_t ldx, const T* w, std::int64_t K, float scale, float* out,
              std::int64_t ldo) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes;
  F acc[W][R];
  for (auto& a : acc) {
    for (F& v : a) v = Simd::zero();
  }
  for (std::int64_t k = 0; k < K; k += L) {
    F xv[R];
    for (int r = 0; r < R; ++r) xv[r] = load_part<Simd>(x + r * ldx + k, K - k, 0.0f);
    for (int i = 0; i < W; ++i) {
      const F wv = load_part<Simd>(w + i * K + k, K - k, T{});
      for (int r = 0; r < R; ++r) acc[i][r] = Simd::fmadd(wv, xv[r], acc[i][r]);
    }
  }
  constexpr int kSums = W * R;
  for (int first = 0; first < kSums; first += L) {
    F block[L];
    for (int s = 0; s < L; ++s) {
      block[s] = first + s < kSums ? acc[(first + s) / R][(first + s) % R] : Simd::zero();
    }
    float sums[L];
    Simd::store(sums, Simd::mul(Simd::reduce_each(block, Simd::add), Simd::set1(scale)));
    for (int s = 0; s < L && first + s < kSums; ++s) {
      out[(first + s) % R * ldo + (first + s) / R] = sums[s];
    }
  }
}

template <class Simd, int R, class T>
void dot_rows_of(const float* x, std::int64_t ldx, const T* w, std::int64_t n, std::int64_t K,
                 float scale, float* out, std::int64_t ldo) {
  constexpr int W = std::max(1, Simd::kLanes / R);  // a whole tree of sums per tile
  std::int64_t j = 0;
  for (; j + W <= n; j += W) dot_tile<Simd, R, W>(x, ldx, w + j * K, K, scale, out + j, ldo);
  for (; j < n; ++j) dot_tile<Simd, R, 1>(x, ldx, w + j * K, K, scale, out + j, ldo);
}

// out[r * ldo + j] = scale * (x row r . w row j) for r < rows, j < n; x rows ldx apart, w
// (n, K) float32, float16 or bfloat16.
template <class Simd, class T>
void dot_rows(const float* x, std::int64_t ldx, std::int64_t rows, const T* w, std::int64_t n,
              std::int64_t K, float scale, float* out, std::int64_t ldo) {
  for (std::int64_t r = 0; r < rows; r += 4) {
    const float* xr = x + r * ldx;
    float* o = out + r * ldo;
    with_row_count<4>(std::min<std::int64_t>(4, rows - r), [&](auto count) {
      dot_rows_of<Simd, decltype(count)::value>(xr, ldx, w, n, K, scale, o, ldo);
    });
  }
}

// out[r * ldo + :D] = sum_j p[r * ldp + j] * v[j * D + :D] for r < R: the R x V accumulator
// vectors of a slice of D stay in registers over all n rows of v.
template <class Simd, int R>
void weighted_rows_of(const float* p, std::int64_t ldp, const float* v, std::int64_t n,
                      std::int64_t D, float* out, std::int64_t ldo) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes, V = std::min(4, std::max(1, 2 * Simd::kGemvRows / R));
  for (std::int64_t d = 0; d < D; d += V * L) {
    F acc[R][V];
    for (auto& a : acc) {
      for (F& x : a) x = Simd::zero();
    }
    for (std::int64_t j = 0; j < n; ++j) {
      F weight[R];
      for (int r = 0; r < R; ++r) weight[r] = Simd::set1(p[r * ldp + j]);
      for (int s = 0; s < V && d + s * L < D; ++s) {
        const F row = load_part<Simd>(v + j * D + d + s * L, D - d - s * L, 0.0f);
        for (int r = 0; r < R; ++r) acc[r][s] = Simd::fmadd(weight[r], row, acc[r][s]);
      }
    }
    for (int r = 0; r < R; ++r) {
      for (int s = 0; s < V && d + s * L < D; ++s) {
        store_part<Simd>(out + r * ldo + d + s * L, acc[r][s], D - d - s * L);
      }
    }
  }
}

template <class Simd>
void weighted_rows(const float* p, std::int64_t ldp, std::int64_t rows, const float* v,
                   std::int64_t n, std::int64_t D, float* out, std::int64_t ldo) {
  for (std::int64_t r = 0; r < rows; r += 4) {
    const float* pr = p + r * ldp;
    float* o = out + r * ldo;
    with_row_count<4>(std::min<std::int64_t>(4, rows - r), [&](auto count) {
      weighted_rows_of<Simd, decltype(count)::value>(pr, ldp, v, n, D, o, ldo);
    });
  }
}

}  // namespace qlinear::kernels::generic
