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

struct KernelTable {
  std::string_view isa;
  void (*quantize)(const QuantizeArgs&);
  void (*dequantize)(const DequantizeArgs&);
  void (*quantized_matmul)(const MatmulArgs&);
  void (*gather_qmm)(const GatherArgs&);
};

// The scalar code every fast path is tested against.
const KernelTable& reference_table();
// Every table this CPU can run, reference first.
std::span<const KernelTable* const> supported_tables();
// The table in use: QLINEAR_ISA if set (an unsupported name throws), else the best one.
const KernelTable& active_table();

}  // namespace qlinear::kernels
