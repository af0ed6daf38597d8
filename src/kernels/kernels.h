// The one dispatch point between the ops layer and the compute kernels.
//
// The ops layer validates everything and hands a kernel plain 2-D problems with raw
// pointers; kernels trust their inputs. Each instruction set provides one KernelTable;
// active_table() picks one at first use from the CPU's features (or QLINEAR_ISA).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "qlinear/dtype.h"
#include "qlinear/ops.h"
#include "qlinear/runtime.h"

namespace qlinear::kernels {

// Quantize `rows` rows of `cols` elements of w (dtype) into wq, scales and biases
// (float modes: uint8 scales, no biases).
struct QuantizeArgs {
  QuantSpec spec;
  const void* w;
  Dtype dtype;  // float32, float16 or bfloat16; also the dtype of scales and biases
  std::int64_t rows, cols;
  std::uint32_t* wq;
  void* scales;
  void* biases;                         // affine only
  const float* global_scale = nullptr;  // nvfp4 only, optional
};

// Expand `rows` packed rows of `cols` codes into out, in the scales' dtype (affine) or
// in out_dtype (float modes, whose scales are uint8).
struct DequantizeArgs {
  QuantSpec spec;
  const std::uint32_t* wq;
  const void* scales;
  const void* biases;  // affine only
  Dtype scale_dtype;
  std::int64_t rows, cols;
  void* out;
  Dtype out_dtype = Dtype::float32;     // float modes: the dtype out is computed in
  const float* global_scale = nullptr;  // nvfp4 only, optional
};

// out (M, N) = x (M, K) @ W.T with W (N, K) when transpose, else x @ W with W (K, N).
struct MatmulArgs {
  QuantSpec spec;
  const void* x;
  Dtype x_dtype;
  std::int64_t M, K, N;
  bool transpose;
  const std::uint32_t* wq;
  const void* scales;
  const void* biases;  // affine only
  Dtype scale_dtype;
  void* out;
  Dtype out_dtype;
  MatmulPrecision precision = MatmulPrecision::exact;  // how x may be rounded
};

// out[p] (M, N) = x[lhs[p]] (M, K) @ W[rhs[p]] for every pair p < pairs (gather_qmm).
// `matmul` describes the first matrix of x, of the weights (wq, scales, biases) and of
// out; the others follow contiguously at the sizes M, K, N give. Every index is in range.
struct GatherArgs {
  MatmulArgs matmul;
  std::int64_t pairs;
  const std::uint32_t* lhs;  // the x matrix of each pair
  const std::uint32_t* rhs;  // the weight matrix (expert) of each pair
  std::int64_t experts;      // weight matrices in the batch: every rhs[p] < experts
};

// --- float kernels: float32 rows in and out (the ops convert other dtypes) -----------

// out (rows, dims) = x * rsqrt(mean(x^2) + eps) * weight (weight may be null: 1).
struct RmsNormArgs {
  const float* x;
  const float* weight;
  float eps;
  std::int64_t rows, dims;
  float* out;
};

// Rotary embedding of x (batch, T, head_dim) at positions offset + t: the first `dims`
// features are rotated by angle (position * scale) * inv_freqs[i], pairs (i, i + dims/2)
// or, traditional, (2i, 2i + 1); the rest pass through.
struct RopeArgs {
  const float* x;
  std::int64_t batch, T, head_dim, dims;
  bool traditional;
  const float* inv_freqs;  // dims / 2
  float scale;
  std::int64_t offset;
  float* out;
};

// out (rows, n) = softmax of each row, computed in float32.
struct SoftmaxArgs {
  const float* x;
  std::int64_t rows, n;
  float* out;
};

// Scaled dot-product attention of one batch element: q (heads, Tq, D); k and v
// (kv_heads, kv_stride, D) of which the first Tk rows are used; query head h reads kv
// head h / (heads / kv_heads). Causal: query i sees keys j <= i + Tk - Tq. out (heads, Tq, D).
struct AttentionArgs {
  const float* q;
  const float* k;
  const float* v;
  std::int64_t heads, kv_heads, Tq, Tk, kv_stride, D;
  float scale;
  bool causal;
  float* out;
};

// out = silu(gate) * up (up may be null: silu alone), silu(x) = x / (1 + exp(-x)).
struct SiluArgs {
  const float* gate;
  const float* up;
  std::int64_t n;
  float* out;
};

// out (M, N) = x (M, K) @ w.T + bias, w (N, K) float32, float16 or bfloat16.
struct LinearArgs {
  const float* x;
  const void* w;
  Dtype w_dtype;
  const float* bias;  // N, or null
  std::int64_t M, K, N;
  float* out;
};

struct FloatKernels {
  void (*rms_norm)(const RmsNormArgs&);
  void (*rope)(const RopeArgs&);
  void (*softmax)(const SoftmaxArgs&);
  void (*attention)(const AttentionArgs&);
  void (*silu)(const SiluArgs&);
  void (*linear)(const LinearArgs&);
};

struct KernelTable {
  std::string_view isa;
  void (*quantize)(const QuantizeArgs&);
  void (*dequantize)(const DequantizeArgs&);
  void (*quantized_matmul)(const MatmulArgs&);
  void (*gather_qmm)(const GatherArgs&);
  const FloatKernels* floats;
};

// The scalar code every fast path is tested against.
const KernelTable& reference_table();
// Every table this CPU can run, reference first.
std::span<const KernelTable* const> supported_tables();
// The table in use: QLINEAR_ISA if set (an unsupported name throws), else the best one.
const KernelTable& active_table();

}  // namespace qlinear::kernels
