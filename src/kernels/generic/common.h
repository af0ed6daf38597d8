// Helpers shared by the generic kernels. Everything here is a template on the Simd
// traits of one instruction set, so each instantiation belongs to one translation unit.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "core/thread_pool.h"
#include "kernels/float_dispatch.h"
#include "qlinear/dtype.h"
#include "qlinear/quant_spec.h"

namespace qlinear::kernels::generic {

// Calls fn(std::integral_constant<int, bits>{}) for `bits`, one of the catalogue's
// affine widths (which include the float modes' 4 and 8): every kernel is instantiated
// for each of them, so a width a kernel cannot serve fails to compile.
template <class Fn>
void with_bits(int bits, Fn&& fn) {
  constexpr auto& kWidths = modes::kAffineBits;
  const bool served = [&]<std::size_t... I>(std::index_sequence<I...>) {
    return ((bits == kWidths[I] ? (fn(std::integral_constant<int, kWidths[I]>{}), true) : false) ||
            ...);
  }
  (std::make_index_sequence<std::size(kWidths)>{});
  if (!served) throw std::logic_error("kernel called with unsupported bits");
}

// x in a kernel's order of codes: in each block of kBlock codes out[b + i] = x[b +
// source(i)] (source: a permutation of [0, kBlock)), zeros past K up to a whole block.
// Only the last part-block checks the bound (a check per element cost gather_qmm, which
// reorders x per block of rows: docs/kernels.md, "FP4 by words of nibbles").
template <class Simd, int kBlock, class Source>
void reorder_blocks(const float* x, std::int64_t K, Source source, float* out) {
  const std::int64_t whole = K / kBlock * kBlock;
  for (std::int64_t b = 0; b < whole; b += kBlock) {
    for (int i = 0; i < kBlock; ++i) out[b + i] = x[b + source(i)];
  }
  if (whole < K) {
    for (int i = 0; i < kBlock; ++i) {
      const std::int64_t k = whole + source(i);
      out[whole + i] = k < K ? x[k] : 0.0f;
    }
  }
}

// Calls fn(std::integral_constant<int, R>{}) for rows = R in [1, kMaxRows]: the few-rows
// kernels keep R rows' accumulators in registers, so R must be a constant.
template <int kMaxRows, class Fn>
void with_row_count(std::int64_t rows, Fn&& fn) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    ((rows == I + 1 ? fn(std::integral_constant<int, I + 1>{}) : void()), ...);
  }
  (std::make_integer_sequence<int, kMaxRows>{});
}

// Rows of W per task for the one-row kernels, which stream W: every thread's share in a
// few long runs (at least four per thread, for balance), so that each thread reads one
// stretch of memory rather than short runs of rows taking turns with the other threads'
// (measured, mxfp4 4096x14336 cold, 2 threads: 2.03 ms with tasks of 16 rows, 1.51 ms
// with 256). A multiple of `unit`, at least one unit.
template <class Simd>
std::int64_t streaming_grain(std::int64_t rows, std::int64_t unit) {
  const std::int64_t tasks = 4 * core::num_threads();
  return std::max<std::int64_t>(1, (rows + tasks - 1) / tasks / unit) * unit;
}

// How far ahead short rows are prefetched: a row or a tile of them is far less than the
// latency of memory times its bandwidth.
inline constexpr std::int64_t kPrefetchBytes = 2048;

// The rows of a one-row kernel's task [begin, end), W at a time: unit u < count is rows
// begin + u * unit_stride + i * step (i < W); the units after it are the rows left
// over, one each. Rows of at least kRunRowBytes are taken from W equal runs of the task
// (unit_stride 1, step count), one row from each: each run is one stretch of memory that
// the hardware prefetcher follows, where W long rows side by side from one stretch are W
// short streams in every page, which it does not (measured, 4-bit 2048 x 8192 cold:
// 1.12-1.15x at 1 and 2 threads). Shorter rows are taken side by side (unit_stride W,
// step 1), W of them one short stretch. Arithmetic per row is the same in any order.
template <class Simd, int W>
struct RowRuns {
  static constexpr std::int64_t kRunRowBytes = 512;
  std::int64_t begin, end, count, unit_stride, step;
  std::int64_t ahead;  // rows a kernel prefetches ahead within a run: kPrefetchBytes
  RowRuns(std::int64_t task_begin, std::int64_t task_end, std::int64_t row_bytes)
      : begin(task_begin),
        end(task_end),
        count((task_end - task_begin) / W),
        unit_stride(row_bytes >= kRunRowBytes ? 1 : W),
        step(row_bytes >= kRunRowBytes ? count : 1),
        ahead(std::max<std::int64_t>(1, (kPrefetchBytes + row_bytes - 1) / row_bytes)) {}
  std::int64_t units() const { return end - begin - (W - 1) * count; }
  // The first row of a unit of W rows (u < count): linear in u, for loops over them alone.
  std::int64_t full_unit_row(std::int64_t unit) const { return begin + unit * unit_stride; }
  std::int64_t first_row(std::int64_t unit) const {
    return unit < count ? full_unit_row(unit) : begin + (W - 1) * count + unit;
  }
  // Calls fn(std::integral_constant<int, W or 1>{}, first_row, step) for units
  // [unit_begin, unit_end).
  template <class Fn>
  void each(std::int64_t unit_begin, std::int64_t unit_end, Fn&& fn) const {
    for (std::int64_t u = unit_begin; u < unit_end; ++u) {
      if (u < count) {
        fn(std::integral_constant<int, W>{}, first_row(u), step);
      } else {
        fn(std::integral_constant<int, 1>{}, first_row(u), step);
      }
    }
  }
  template <class Fn>
  void each(Fn&& fn) const {
    each(0, units(), fn);
  }
};

// Prefetches the 64-byte lines of [p, p + bytes). Prefetches past an array's end never
// fault.
template <class Simd>
void prefetch_lines(const void* p, std::int64_t bytes) {
  for (std::int64_t at = 0; at < bytes; at += 64)
    __builtin_prefetch(static_cast<const char*>(p) + at);
}

// The scales and biases of one row of W: `bytes` each, where prefetching them pays.
template <class Simd>
struct RowParams {
  const void* scales;
  const void* biases;  // or null
  std::int64_t bytes;  // 0: shorter than a cache line, sharing lines with the next rows'
                       // (a dense stream the hardware prefetcher follows)
  RowParams(const void* s, const void* b, Dtype dtype, std::int64_t groups)
      : scales(s), biases(b), bytes(groups * static_cast<std::int64_t>(size_of(dtype))) {
    if (bytes < 64) bytes = 0;
  }
  void prefetch(std::int64_t row) const {
    prefetch_lines<Simd>(static_cast<const char*>(scales) + row * bytes, bytes);
    if (biases != nullptr)
      prefetch_lines<Simd>(static_cast<const char*>(biases) + row * bytes, bytes);
  }
};

// Simd::kLanes codes of a packed row from code `first` (a multiple of kLanes) on, as
// floats. Where kLanes codes are not whole bytes (4 lanes of 3 or 5 bits) the run starts
// at bit (first * bits) % 8 of its byte, and Simd::codes takes that offset too.
template <class Simd, int bits>
typename Simd::F codes_at(const std::uint8_t* row, std::int64_t first) {
  if constexpr (Simd::kLanes * bits % 8 == 0) {
    return Simd::template codes<bits>(row + first * bits / 8);
  } else {
    return Simd::template codes<bits>(row + first * bits / 8, static_cast<int>(first * bits % 8));
  }
}

// out[g] = sum of x[g * group_size + j] over j < group_size, in that order: the sums of x
// per group that the affine identity's bias term takes.
template <class Simd>
void sum_groups(const float* x, std::int64_t groups, int group_size, float* out) {
  for (std::int64_t g = 0; g < groups; ++g) {
    float s = 0.0f;
    for (int j = 0; j < group_size; ++j) s += x[g * group_size + j];
    out[g] = s;
  }
}

// Element i of a float32/float16/bfloat16 array, as float.
template <class Simd>
float load_float(const void* p, Dtype dtype, std::int64_t i) {
  switch (dtype) {
    case Dtype::float16:
      return Simd::to_float(static_cast<const float16_t*>(p)[i]);
    case Dtype::bfloat16:
      return Simd::to_float(static_cast<const bfloat16_t*>(p)[i]);
    default:
      return static_cast<const float*>(p)[i];
  }
}

// sum_i float(a[first + i]) * b[i] for i < n, a float32/float16/bfloat16: vectors of
// kLanes products, their lanes, then the tail, in that fixed order.
template <class Simd>
float dot_floats(const void* a, Dtype dtype, std::int64_t first, const float* b, std::int64_t n) {
  return with_float_type(dtype, [&](auto t) {
    using T = decltype(t);
    const T* s = static_cast<const T*>(a) + first;
    auto acc = Simd::zero();
    std::int64_t i = 0;
    for (; i + Simd::kLanes <= n; i += Simd::kLanes) {
      acc = Simd::fmadd(Simd::load(s + i), Simd::load(b + i), acc);
    }
    float sum = Simd::reduce_add(acc);
    for (; i < n; ++i) sum += Simd::to_float(s[i]) * b[i];
    return sum;
  });
}

// dst[i] = float(src[i]) for n elements of a float32/float16/bfloat16 array.
template <class Simd>
void widen(const void* src, Dtype dtype, float* dst, std::int64_t n) {
  with_float_type(dtype, [&](auto t) {
    using T = decltype(t);
    const T* s = static_cast<const T*>(src);
    std::int64_t i = 0;
    for (; i + Simd::kLanes <= n; i += Simd::kLanes) Simd::store(dst + i, Simd::load(s + i));
    for (; i < n; ++i) dst[i] = Simd::to_float(s[i]);
  });
}

// dst[i] = src[i] rounded to dtype (nearest even) for n elements.
template <class Simd>
void narrow(const float* src, void* dst, Dtype dtype, std::int64_t n) {
  with_float_type(dtype, [&](auto t) {
    using T = decltype(t);
    T* d = static_cast<T*>(dst);
    std::int64_t i = 0;
    for (; i + Simd::kLanes <= n; i += Simd::kLanes) Simd::store(d + i, Simd::load(src + i));
    for (; i < n; ++i) Simd::store_one(d + i, src[i]);
  });
}

}  // namespace qlinear::kernels::generic
