// quantized_matmul for a few rows of x: every weight byte is read once and used for all
// rows while it is in registers. Each output element is computed by one chain of
// operations whatever the blocking, so results do not depend on the thread count.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/generic/common.h"
#include "kernels/generic/gemv_byte_rows.h"
#include "kernels/generic/gemv_fields.h"
#include "kernels/generic/gemv_tables.h"
#include "kernels/generic/problem.h"
#include "kernels/scratch.h"

namespace qlinear::kernels::generic {

// W is (N, K) with groups along K. The affine identity
//   y[r, n] = sum_g scale[n, g] * (x[r, g] . q[n, g]) + bias[n, g] * sum(x[r, g])
// leaves one multiply-add per code and row; `xsum` holds sum(x[r, g]).
// Computes rows [begin, end) of W for R rows of x, W_ROWS at a time (RowRuns). The
// accumulators are summed across their lanes kLanes at a time by one transposing tree
// (each lane's sum in the same order as Simd::reduce_add): where rows are short, as the
// keys of an attention head (K = one group), that tree is most of the work.
// kOneGroup: K is one group, so the group loop runs once and needs no second set of
// accumulators (the same operations as G = 1 in the general loop).
template <class Simd, int bits, int R, int W_ROWS, bool kOneGroup = false>
void gemv_transposed_rows(const Problem& p, const float* xsum, const RowParams<Simd>& params,
                          std::int64_t begin, std::int64_t end) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes;
  const std::int64_t G = kOneGroup ? 1 : p.groups;
  const int gs = p.group_size;
  const RowRuns<Simd, W_ROWS> runs(begin, end, p.row_bytes);
  const std::int64_t step = runs.step, ahead = runs.ahead;
  for (std::int64_t unit = 0; unit < runs.count; ++unit) {
    const std::int64_t n = runs.full_unit_row(unit);
    for (int i = 0; i < W_ROWS; ++i) params.prefetch(n + i * step + ahead);
    F acc[W_ROWS][R];
    float bias_acc[W_ROWS][R] = {};
    for (auto& a : acc) {
      for (F& v : a) v = Simd::zero();
    }
    for (std::int64_t g = 0; g < G; ++g) {
      // The same group a few rows on in each row's run (see gemv_fields.h). Prefetches
      // past the end never fault.
      for (int i = 0; i < W_ROWS; ++i) {
        const std::uint8_t* later = p.w + (n + i * step + ahead) * p.row_bytes + g * gs * bits / 8;
        for (int b = 0; b < gs * bits / 8; b += 64) __builtin_prefetch(later + b);
      }
      F dot[W_ROWS][R];
      for (auto& d : dot) {
        for (F& v : d) v = Simd::zero();
      }
      for (int v = 0; v < gs; v += L) {
        const std::int64_t k = g * gs + v;
        F xv[R];
        for (int r = 0; r < R; ++r) xv[r] = Simd::load(p.x + r * p.K + k);
        for (int i = 0; i < W_ROWS; ++i) {
          const F q = codes_at<Simd, bits>(p.w + (n + i * step) * p.row_bytes, k);
          for (int r = 0; r < R; ++r) dot[i][r] = Simd::fmadd(q, xv[r], dot[i][r]);
        }
      }
      for (int i = 0; i < W_ROWS; ++i) {
        const float s = load_float<Simd>(p.scales, p.scale_dtype, (n + i * step) * G + g);
        const float b = load_float<Simd>(p.biases, p.scale_dtype, (n + i * step) * G + g);
        for (int r = 0; r < R; ++r) {
          acc[i][r] = Simd::fmadd(dot[i][r], Simd::set1(s), acc[i][r]);
          bias_acc[i][r] += b * xsum[r * G + g];
        }
      }
    }
    constexpr int kSums = W_ROWS * R;
    for (int first = 0; first < kSums; first += L) {
      F block[L];
      for (int j = 0; j < L; ++j)
        block[j] = first + j < kSums ? acc[(first + j) / R][(first + j) % R] : Simd::zero();
      float sums[L];
      Simd::store(sums, Simd::reduce_each(block, Simd::add));
      for (int j = 0; j < L && first + j < kSums; ++j) {
        const int i = (first + j) / R, r = (first + j) % R;
        p.y[r * p.ldy + n + i * step] = sums[j] + bias_acc[i][r];
      }
    }
  }
  // The rows past W_ROWS runs, one at a time.
  if constexpr (W_ROWS > 1) {
    gemv_transposed_rows<Simd, bits, R, 1, kOneGroup>(p, xsum, params, begin + W_ROWS * runs.count,
                                                      end);
  }
}

template <class Simd, int bits, int R>
void gemv_transposed(const Problem& p) {
  // Sums of x per group, for the bias term.
  float* xsum = scratch_floats(ScratchSlot::sums, static_cast<std::size_t>(R * p.groups));
  for (int r = 0; r < R; ++r) {
    sum_groups<Simd>(p.x + r * p.K, p.groups, p.group_size, xsum + r * p.groups);
  }
  // Enough weight rows per W block to hide the multiply-add latency; rows of one group
  // take a whole lane-sum tree of them.
  constexpr int kWeightRows = std::max(1, Simd::kGemvRows / R);
  constexpr int kShortRows = std::max(1, Simd::kLanes / R);
  const RowParams<Simd> params(p.scales, p.biases, p.scale_dtype, p.groups);
  core::parallel_for(
      p.N, streaming_grain<Simd>(p.N, 32), [&](std::int64_t begin, std::int64_t end) {
        if (p.groups == 1) {
          gemv_transposed_rows<Simd, bits, R, kShortRows, true>(p, xsum, params, begin, end);
        } else {
          gemv_transposed_rows<Simd, bits, R, kWeightRows>(p, xsum, params, begin, end);
        }
      });
}

// W is (K, N) with groups along N: each weight row k is dequantized in registers and
// added, times x[r, k], into R rows of accumulators that stay in L1.
template <class Simd, int bits, int R>
void gemv_columns(const Problem& p, std::int64_t c_begin, std::int64_t c_end) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes;
  const std::int64_t width = c_end - c_begin;
  const int gs = p.group_size;
  float* acc = scratch_floats(ScratchSlot::panel, static_cast<std::size_t>(R * width));
  for (std::int64_t i = 0; i < R * width; ++i) acc[i] = 0.0f;
  for (std::int64_t k = 0; k < p.K; ++k) {
    const std::uint8_t* row = p.w + k * p.row_bytes;
    // This chunk of a row a few ahead: consecutive rows lie far apart.
    const std::uint8_t* ahead = row + 4 * p.row_bytes + c_begin * bits / 8;
    for (std::int64_t b = 0; b < width * bits / 8; b += 64) __builtin_prefetch(ahead + b);
    F xk[R];
    for (int r = 0; r < R; ++r) xk[r] = Simd::set1(p.x[r * p.K + k]);
    for (std::int64_t c = c_begin; c < c_end; c += gs) {
      const std::int64_t g = k * p.groups + c / gs;
      const F s = Simd::set1(load_float<Simd>(p.scales, p.scale_dtype, g));
      const F b = Simd::set1(load_float<Simd>(p.biases, p.scale_dtype, g));
      for (int v = 0; v < gs; v += L) {
        const F w = Simd::fmadd(codes_at<Simd, bits>(row, c + v), s, b);
        for (int r = 0; r < R; ++r) {
          float* a = acc + r * width + (c - c_begin) + v;
          Simd::store(a, Simd::fmadd(xk[r], w, Simd::load(a)));
        }
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (std::int64_t c = 0; c < width; c += L) {
      Simd::store(p.y + r * p.ldy + c_begin + c, Simd::load(acc + r * width + c));
    }
  }
}

// Columns [c_begin, c_begin + V * kLanes) of W (K, N) with their R x V accumulators in
// registers, for narrow W such as an attention head's values (N = head_dim), where
// gemv_columns would load and store its accumulators for every code. Each code is
// dequantized (each output the same chain of operations as in gemv_columns), or, with
// kFolded, x comes scaled by each row's scale and the bias terms are added at the end
// (gemv_one_group_rows).
template <class Simd, int bits, int R, int V, bool kFolded>
void columns_in_registers(const Problem& p, const float* x, const float* bias_terms,
                          std::int64_t c_begin) {
  using F = typename Simd::F;
  constexpr int L = Simd::kLanes;
  const std::int64_t rows_ahead = std::max<std::int64_t>(4, kPrefetchBytes / p.row_bytes);
  F acc[R][V];
  for (auto& a : acc) {
    for (F& v : a) v = Simd::zero();
  }
  for (std::int64_t k = 0; k < p.K; ++k) {
    const std::uint8_t* row = p.w + k * p.row_bytes;
    prefetch_lines<Simd>(row + rows_ahead * p.row_bytes + c_begin * bits / 8, V * L * bits / 8);
    F xk[R];
    for (int r = 0; r < R; ++r) xk[r] = Simd::set1(x[r * p.K + k]);
    for (int v = 0; v < V; ++v) {
      const std::int64_t c = c_begin + v * L;
      F w = codes_at<Simd, bits>(row, c);
      if constexpr (!kFolded) {
        const std::int64_t g = k * p.groups + c / p.group_size;
        w = Simd::fmadd(w, Simd::set1(load_float<Simd>(p.scales, p.scale_dtype, g)),
                        Simd::set1(load_float<Simd>(p.biases, p.scale_dtype, g)));
      }
      for (int r = 0; r < R; ++r) acc[r][v] = Simd::fmadd(xk[r], w, acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int v = 0; v < V; ++v) {
      F out = acc[r][v];
      if constexpr (kFolded) out = Simd::add(out, Simd::set1(bias_terms[r]));
      Simd::store(p.y + r * p.ldy + c_begin + v * L, out);
    }
  }
}

// Every column of narrow W, as many accumulator vectors at a time as the x rows leave
// registers for.
template <class Simd, int bits, int R, bool kFolded>
void narrow_columns(const Problem& p, const float* x, const float* bias_terms) {
  constexpr int V = std::max(1, 2 * Simd::kGemvRows / R);
  constexpr int L = Simd::kLanes;
  std::int64_t c = 0;
  for (; c + V * L <= p.N; c += V * L)
    columns_in_registers<Simd, bits, R, V, kFolded>(p, x, bias_terms, c);
  for (; c < p.N; c += L) columns_in_registers<Simd, bits, R, 1, kFolded>(p, x, bias_terms, c);
}

// W (K, N) whose rows are one group each (N = group_size: an attention head's values
// when head_dim is the cache's group size). The affine identity along k,
//   y[r, n] = sum_k (x[r, k] scale[k]) q[k, n] + sum_k x[r, k] bias[k],
// takes each row's scale into x once (`scaled`, R x K) and its bias into one dot product
// per row of x (`bias_terms`), so that a code costs its conversion and R multiply-adds
// (against a dequantizing multiply-add and two broadcasts more per vector).
template <class Simd, int bits, int R>
void gemv_one_group_rows(const Problem& p) {
  constexpr int L = Simd::kLanes;
  float* scaled = scratch_floats(ScratchSlot::sums, static_cast<std::size_t>(R * (p.K + 1)));
  float* bias_terms = scaled + R * p.K;
  with_float_type(p.scale_dtype, [&](auto t) {
    using T = decltype(t);
    const T* scales = static_cast<const T*>(p.scales);
    std::int64_t k = 0;
    for (; k + L <= p.K; k += L) {
      const auto s = Simd::load(scales + k);
      for (int r = 0; r < R; ++r) {
        Simd::store(scaled + r * p.K + k, Simd::mul(Simd::load(p.x + r * p.K + k), s));
      }
    }
    for (; k < p.K; ++k) {
      for (int r = 0; r < R; ++r)
        scaled[r * p.K + k] = p.x[r * p.K + k] * Simd::to_float(scales[k]);
    }
  });
  for (int r = 0; r < R; ++r) {
    bias_terms[r] = dot_floats<Simd>(p.biases, p.scale_dtype, 0, p.x + r * p.K, p.K);
  }
  narrow_columns<Simd, bits, R, true>(p, scaled, bias_terms);
}

// Widths up to this many columns are one task (the parallel chunks are at least 256).
inline constexpr std::int64_t kNarrowColumns = 256;

template <class Simd, int bits, int R>
void gemv_untransposed(const Problem& p) {
  if (p.groups == 1) return gemv_one_group_rows<Simd, bits, R>(p);
  if (p.N <= kNarrowColumns) return narrow_columns<Simd, bits, R, false>(p, p.x, nullptr);
  // Wide chunks (one per thread, as far as R rows of accumulators fit in L1): every weight
  // row is then read in long runs, not a few cache lines on each of thousands of pages.
  // Chunks are whole groups of at least 256 columns; they do not change the arithmetic.
  constexpr std::int64_t kAccumulatorFloats = 8192;
  const std::int64_t per_thread = (p.N + core::num_threads() - 1) / core::num_threads();
  const std::int64_t chunk =
      std::max<std::int64_t>(std::min(kAccumulatorFloats / R, per_thread), 256) / p.group_size *
      p.group_size;
  core::parallel_for(p.N, chunk, [&](std::int64_t begin, std::int64_t end) {
    gemv_columns<Simd, bits, R>(p, begin, end);
  });
}

// Up to Simd::kGemvRows rows of x.
template <class Simd, int bits>
void gemv(const Problem& p, bool transpose) {
  auto run = [&](auto rows) {
    constexpr int R = decltype(rows)::value;
    if constexpr (R == 1 && NibbleTables<Simd, bits>) {
      if (transpose && tables_apply<Simd, bits>(p)) return gemv_tables<Simd, bits>(p);
    }
    if constexpr (kFieldWidth<bits>) {
      if (transpose && fields_apply<Simd, bits>(p)) return gemv_fields<Simd, bits, R>(p);
    }
    if constexpr (ByteRowLanes<Simd, bits>) {
      if (transpose && byte_rows_apply(p)) return gemv_byte_rows<Simd, R>(p);
    }
    if (transpose) {
      gemv_transposed<Simd, bits, R>(p);
    } else {
      gemv_untransposed<Simd, bits, R>(p);
    }
  };
  with_row_count<Simd::kGemvRows>(p.M, run);
}

}  // namespace qlinear::kernels::generic
