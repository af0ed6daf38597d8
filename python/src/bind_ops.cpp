// quantize, dequantize, quantized_matmul and gather_qmm with mlx.core's argument names and
// defaults. The GIL is released while they compute, so Python threads can run them in parallel.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"
#include "numpy_bridge.h"
#include "qlinear/ops.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace qlinear::python {

void bind_ops(nb::module_& m) {
  m.def(
      "quantize",
      [](const Tensor& w, std::optional<int> group_size, std::optional<int> bits,
         std::string_view mode, const std::optional<Tensor>& global_scale) {
        Quantized q;
        {
          nb::gil_scoped_release released;
          q = quantize(w, group_size, bits, mode, global_scale);
        }
        if (!q.biases) return nb::make_tuple(q.wq, q.scales);
        return nb::make_tuple(q.wq, q.scales, *q.biases);
      },
      "w"_a, "group_size"_a = nb::none(), "bits"_a = nb::none(), "mode"_a = "affine", nb::kw_only(),
      "global_scale"_a = nb::none(),
      "Quantizes w group-wise along its last axis; returns (wq, scales, biases), or\n"
      "(wq, scales) for the float modes, exactly as mlx.core.quantize. global_scale: nvfp4 only.");

  m.def(
      "dequantize",
      [](const Tensor& w, const Tensor& scales, const std::optional<Tensor>& biases,
         std::optional<int> group_size, std::optional<int> bits, std::string_view mode,
         const std::optional<Tensor>& global_scale, nb::handle dtype) {
        const std::optional<Dtype> out_dtype =
            dtype.is_none() ? std::nullopt : std::optional(dtype_from_python(dtype, "dequantize"));
        nb::gil_scoped_release released;
        return dequantize(w, scales, biases, group_size, bits, mode, out_dtype, global_scale);
      },
      "w"_a, "scales"_a, "biases"_a = nb::none(), "group_size"_a = nb::none(),
      "bits"_a = nb::none(), "mode"_a = "affine", "global_scale"_a = nb::none(),
      "dtype"_a = nb::none(),
      "The weights back, as mlx.core.dequantize: scales * q + biases per group (affine) or\n"
      "code * scale (float modes, bfloat16 unless dtype says otherwise).");

  m.def(
      "quantized_matmul",
      [](const Tensor& x, const Tensor& w, const Tensor& scales,
         const std::optional<Tensor>& biases, bool transpose, std::optional<int> group_size,
         std::optional<int> bits, std::string_view mode) {
        nb::gil_scoped_release released;
        return quantized_matmul(x, w, scales, biases, transpose, group_size, bits, mode);
      },
      "x"_a, "w"_a, "scales"_a, "biases"_a = nb::none(), "transpose"_a = true,
      "group_size"_a = nb::none(), "bits"_a = nb::none(), "mode"_a = "affine",
      "x @ dequantize(w).T (transpose=True) or x @ dequantize(w), as mlx.core.quantized_matmul.");

  m.def(
      "quant_modes",
      [] {
        nb::list out;
        for (const ModeTraits& t : kQuantModes) {
          nb::dict mode;
          mode["name"] = std::string(t.name);
          mode["default_group_size"] = t.default_group_size;
          mode["default_bits"] = t.default_bits;
          mode["bits"] = nb::tuple(nb::cast(std::vector<int>(t.bits.begin(), t.bits.end())));
          mode["group_sizes"] =
              nb::tuple(nb::cast(std::vector<int>(t.group_sizes.begin(), t.group_sizes.end())));
          mode["has_biases"] = t.has_biases();
          mode["has_global_scale"] = t.has_global_scale;
          out.append(mode);
        }
        return out;
      },
      "The catalogue of quantization modes: per mode a dict of its name, default group size\n"
      "and bits, the bits and group sizes it accepts, whether it has biases (and scales in\n"
      "w's dtype; else uint8 scales) and whether it takes a global scale.");

  m.def(
      "gather_qmm",
      [](const Tensor& x, const Tensor& w, const Tensor& scales,
         const std::optional<Tensor>& biases, const std::optional<Tensor>& lhs_indices,
         const std::optional<Tensor>& rhs_indices, bool transpose, std::optional<int> group_size,
         std::optional<int> bits, std::string_view mode, bool sorted_indices) {
        nb::gil_scoped_release released;
        return gather_qmm(x, w, scales, biases, lhs_indices, rhs_indices, transpose, group_size,
                          bits, mode, sorted_indices);
      },
      "x"_a, "w"_a, "scales"_a, "biases"_a = nb::none(), "lhs_indices"_a = nb::none(),
      "rhs_indices"_a = nb::none(), "transpose"_a = true, "group_size"_a = nb::none(),
      "bits"_a = nb::none(), "mode"_a = "affine", "sorted_indices"_a = false,
      "quantized_matmul of x's matrices lhs_indices with w's matrices rhs_indices (the\n"
      "flattened batch dims of each; the index arrays broadcast), as mlx.core.gather_qmm.");
}

}  // namespace qlinear::python
