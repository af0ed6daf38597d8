// MatmulPrecision::int8 with AVX512-VNNI: x quantized to int8 per row and weight group
// (int8_activations.h), exact integer dot products with the unsigned affine codes
// (vpdpbusd, or AMX tiles for many rows: int8_amx_kernel.h), one fixed float32 chain per
// output element (int8_gemm.h). Handles affine W with transpose (groups along K), and
// mxfp4 / nvfp4 W, whose E2M1 values doubled are small integers (int8_weights.h), for the
// row counts fp4_applies names; mxfp8's E4M3 values are not, and stay exact.
// Untransposed W is declined: its scales change with every k of a dot product, so no
// per-group integer sum can be factored out.
// GCC 12 reports the _mm512_undefined_* inside its own shuffle intrinsics as uninitialized.
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "kernels/generic/common.h"
#include "kernels/x86/avx512_bf16.h"
#include "kernels/x86/int8_amx_kernel.h"
#include "kernels/x86/int8_amx_rows.h"
#include "kernels/x86/int8_fp4.h"
#include "kernels/x86/int8_gemm.h"
#include "kernels/x86/int8_gemv.h"
#include "kernels/x86/int8_gemv_groups.h"
#include "kernels/x86/simd_avx512.h"

namespace qlinear::kernels::avx512_bf16 {
namespace {

// The AVX-512 traits under a name of this translation unit, so that the generic helpers
// instantiated here are this unit's own.
struct Simd : avx512::Simd {};

// Up to 8 rows of 1- to 5-bit codes, 5 of 6-bit: groups side by side
// (int8_gemv_groups.h). Up to 4 rows of 8-bit codes (groups of 64 or more): the panel-free
// kernel of int8_gemv.h. Up to 8: every weight byte unpacked once into a small L1 panel
// for all rows. More: wider panels, reused by every tile of 6 rows, or of 16 rows for AMX
// tiles where the CPU has AMX-INT8.
constexpr std::int64_t kFewRows = 8;
using ManyRows = Int8Shape<6, 4, 512>;
using AmxRows = Int8Shape<16, 4, 512>;
template <int rows>
using FewRows = Int8Shape<rows, 2, 256>;

template <int bits, class Shape, class Codes>
void run(const MatmulArgs& a, const Codes& codes, float* y) {
  const QuantizedRows x = quantize_rows<bits>(a, Shape::kRows);
  int8_gemm<bits, Shape>(a, codes, x, y, a.N);
}

// AMX tiles take x 64 codes at a time: K a multiple of 64.
template <int bits, class Codes>
void run_amx(const MatmulArgs& a, const Codes& codes, float* y) {
  const QuantizedRows x = quantize_rows<bits>(a, AmxRows::kRows);
  to_tile_rows(x, (a.M + AmxRows::kRows - 1) / AmxRows::kRows, a.K);
  int8_gemm<bits, AmxRows, AmxKernel>(a, codes, x, y, a.N);
}

template <int bits, int rows, class Codes>
void run_few(const MatmulArgs& a, const Codes& codes, float* y) {
  if constexpr (kGroupLanes<bits> && rows <= kGroupLanesMaxRows<bits>) {
    if (group_lanes_apply(a)) return int8_gemv_groups<Simd, bits, rows>(a, codes, y);
  }
  if constexpr (rows <= kGemvMaxRows && !kGroupLanes<bits>) {
    if (gemv_applies(a)) return int8_gemv<bits, rows>(a, quantize_rows<bits>(a, rows), y, a.N);
  }
  run<bits, FewRows<rows>>(a, codes, y);
}

template <int bits, class Codes>
void run_many(const MatmulArgs& a, const Codes& codes, float* y) {
  return a.K % 64 == 0 && amx_int8_usable() ? run_amx<bits>(a, codes, y)
                                            : run<bits, ManyRows>(a, codes, y);
}

template <int bits, class Codes>
void run_by_rows(const MatmulArgs& a, const Codes& codes, float* y) {
  if (a.M > kFewRows) return run_many<bits>(a, codes, y);
  [&]<int... R>(std::integer_sequence<int, R...>) {
    ((a.M == R + 1 ? run_few<bits, R + 1>(a, codes, y) : void()), ...);
  }
  (std::make_integer_sequence<int, kFewRows>{});
}

// FP4 W from 3 rows of x: the exact kernels (by words of nibbles) stream one row at the
// memory's rate and are as fast as the groups-in-lanes kernel at two (cold 4096 x 14336:
// exact against int8, mxfp4 0.94-0.99x at 1 thread, 1.08-1.16x at 2). Up to 8 rows (nvfp4: 64) its
// own lane kernel (int8_fp4.h), then mxfp4 the panels and AMX tiles (warm 4096 x 4096 at 1 thread,
// 64 rows: 1.9x the lane kernel); nvfp4's groups of 16 the panels do not take, and past 64
// rows the exact panels are faster.
constexpr std::int64_t kFp4MinRows = 3, kNvfp4MaxRows = 64;

bool fp4_applies(const MatmulArgs& a) {
  if (a.M < kFp4MinRows) return false;
  return a.spec.mode == QuantMode::mxfp4 ||
         (a.spec.mode == QuantMode::nvfp4 && a.M <= kNvfp4MaxRows);
}

void fp4_matmul(const MatmulArgs& a, float* y) {
  const Fp4Codes codes(a);
  if (a.M > kFewRows && a.spec.mode == QuantMode::mxfp4) return run_many<4>(a, codes, y);
  int8_fp4_lanes<Simd>(a, codes, y);
}

}  // namespace

bool int8_matmul(const MatmulArgs& a) {
  const bool affine = a.spec.mode == QuantMode::affine;
  if (!a.transpose || !(affine || fp4_applies(a))) return false;
  const bool direct = a.out_dtype == Dtype::float32;
  float* y = direct ? static_cast<float*>(a.out)
                    : scratch_floats(ScratchSlot::output, static_cast<std::size_t>(a.M * a.N));
  if (affine) {
    generic::with_bits(a.spec.bits,
                       [&](auto b) { run_by_rows<decltype(b)::value>(a, AffineCodes{a}, y); });
  } else {
    fp4_matmul(a, y);
  }
  if (!direct) {
    for (std::int64_t m = 0; m < a.M; ++m) {
      generic::narrow<Simd>(y + m * a.N, static_cast<char*>(a.out) + m * a.N * size_of(a.out_dtype),
                            a.out_dtype, a.N);
    }
  }
  return true;
}

}  // namespace qlinear::kernels::avx512_bf16
