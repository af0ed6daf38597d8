// The quantization operations, with MLX's C++ signatures and semantics
// (mlx::core::quantize, dequantize, quantized_matmul).
//
// Inputs are checked here; a bad argument throws std::invalid_argument whose message
// starts with "[op_name]" and names the offending values. Nothing is written on error.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "qlinear/quant_spec.h"
#include "qlinear/tensor.h"

namespace qlinear {

struct Quantized {
  Tensor wq;                     // uint32, (..., K * bits / 32)
  Tensor scales;                 // (..., K / group_size): ModeTraits::scale_dtype
  std::optional<Tensor> biases;  // where ModeTraits::has_biases, like scales
};

// Quantizes w (float32/float16/bfloat16, ndim >= 2) group-wise along its last axis.
// Refuses NaN and infinity in w, naming the first bad position. Modes mxfp4, mxfp8 and
// nvfp4 store float codes with uint8 scales and no biases; nvfp4 alone takes an optional
// global_scale (a float32 scalar, see formats/nvfp4.h).
Quantized quantize(const Tensor& w, std::optional<int> group_size = std::nullopt,
                   std::optional<int> bits = std::nullopt, std::string_view mode = "affine",
                   const std::optional<Tensor>& global_scale = std::nullopt);

// The weights back, shape (..., wq.shape[-1] * 32 / bits). affine: scales * q + biases,
// computed in the scales' dtype as MLX does; `dtype` (default: the scales' dtype)
// converts the result. Float modes: code value * scale, computed in `dtype` (default
// bfloat16, as in MLX); with an nvfp4 global scale, computed in float32 and returned as
// float32 unless `dtype` says otherwise (MLX returns float32 even then).
Tensor dequantize(const Tensor& wq, const Tensor& scales, const std::optional<Tensor>& biases,
                  std::optional<int> group_size = std::nullopt,
                  std::optional<int> bits = std::nullopt, std::string_view mode = "affine",
                  std::optional<Dtype> dtype = std::nullopt,
                  const std::optional<Tensor>& global_scale = std::nullopt);

// x @ W.T (transpose) or x @ W, with W = dequantize(wq, scales, biases). x has shape
// (..., K); batch dims of x and wq broadcast. Accumulates in float32 or wider. The result
// has x's dtype in the float modes, the promoted type of x and scales in affine.
Tensor quantized_matmul(const Tensor& x, const Tensor& wq, const Tensor& scales,
                        const std::optional<Tensor>& biases, bool transpose = true,
                        std::optional<int> group_size = std::nullopt,
                        std::optional<int> bits = std::nullopt, std::string_view mode = "affine");

// mlx.core.gather_qmm: out[i] = x[lhs[i]] @ W[rhs[i]] (.T when transpose), where lhs and
// rhs index the flattened batches of x (..., M, K) and w (E..., packed) and broadcast
// against each other; the result has shape broadcast(lhs, rhs).shape + (M, N). A missing
// index array means every matrix of its batch in order; with neither, this is
// quantized_matmul. Indices may have any integer type; one outside its batch is an error.
// Dtypes as quantized_matmul. sorted_indices (rhs sorted, as mlx-lm passes it) is a hint
// only: the kernels group the pairs by expert whatever the order, and the result does not
// depend on it.
Tensor gather_qmm(const Tensor& x, const Tensor& w, const Tensor& scales,
                  const std::optional<Tensor>& biases,
                  const std::optional<Tensor>& lhs_indices = std::nullopt,
                  const std::optional<Tensor>& rhs_indices = std::nullopt, bool transpose = true,
                  std::optional<int> group_size = std::nullopt,
                  std::optional<int> bits = std::nullopt, std::string_view mode = "affine",
                  bool sorted_indices = false);

}  // namespace qlinear
