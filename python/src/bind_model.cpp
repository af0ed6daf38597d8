// Model folders as mlx-lm writes them: qlinear.nn.load_model (mlx_lm.utils.load_model)
// and qlinear.convert (mlx_lm.convert). Both work on C++ objects only, so they run
// without the GIL.
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>

#include <stdexcept>

#include "bindings.h"
#include "numpy_bridge.h"
#include "qlinear/convert.h"
#include "qlinear/model.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace qlinear::python {

void bind_model(nb::module_& m) {
  nb::module_ nn_module = nb::borrow<nb::module_>(m.attr("nn"));
  nn_module.def(
      "load_model",
      [](const std::filesystem::path& model_path, bool strict) {
        LoadedModel loaded;
        {
          nb::gil_scoped_release released;
          loaded = load_model(model_path, strict);
        }
        return nb::make_tuple(loaded.model,
                              nb::module_::import_("json").attr("loads")(loaded.config));
      },
      "model_path"_a, "strict"_a = true,
      "(model, config) from a model folder, as mlx_lm.utils.load_model: the layers\n"
      "config.json's quantization names are quantized, then the weights load (strict).");

  m.def(
      "convert",
      [](const std::filesystem::path& hf_path, const std::filesystem::path& mlx_path, bool quantize,
         std::optional<int> q_group_size, std::optional<int> q_bits, std::string_view q_mode,
         nb::handle dtype, std::optional<std::string> quant_predicate, bool dequantize) {
        ConvertOptions options;
        options.quantize = quantize;
        options.group_size = q_group_size;
        options.bits = q_bits;
        options.mode = parse_quant_mode(q_mode, "convert");
        options.recipe = std::move(quant_predicate);
        if (!dtype.is_none()) options.dtype = dtype_from_python(dtype, "convert");
        options.dequantize = dequantize;
        nb::gil_scoped_release released;
        run_conversion(plan_conversion(hf_path, options), mlx_path);
      },
      "hf_path"_a, "mlx_path"_a = "mlx_model", "quantize"_a = false, "q_group_size"_a = nb::none(),
      "q_bits"_a = nb::none(), "q_mode"_a = "affine", "dtype"_a = nb::none(),
      "quant_predicate"_a = nb::none(), "dequantize"_a = false,
      "Converts a model folder as mlx_lm.convert does: quantize (quant_predicate names a\n"
      "mixed recipe such as \"mixed_3_6\"), dequantize, or cast to dtype. mlx_path must not\n"
      "exist; nothing is left there if the conversion fails.");

  m.def(
      "convert_gguf",
      [](const std::filesystem::path& gguf_path, const std::filesystem::path& mlx_path,
         bool tokenizer) {
        std::vector<GgufConvertedTensor> tensors;
        {
          nb::gil_scoped_release released;
          tensors = convert_gguf(gguf_path, mlx_path, [&](const std::filesystem::path& folder) {
            if (!tokenizer) return;
            nb::gil_scoped_acquire acquired;
            nb::module_::import_("qlinear.lm.gguf_tokenizer")
                .attr("save_gguf_tokenizer")(gguf_path, folder);
          });
        }
        nb::list report;
        for (const GgufConvertedTensor& tensor : tensors) {
          nb::dict row = gguf_import_to_python(tensor.import);
          row["mlx_name"] = tensor.mlx_name;
          report.append(row);
        }
        return report;
      },
      "gguf_path"_a, "mlx_path"_a, "tokenizer"_a = true,
      "Converts a llama.cpp file of a llama, qwen2 or qwen3 model into an mlx-lm folder\n"
      "without loss (as `qlinear convert MODEL.gguf OUT_DIR`): quantized tensors as\n"
      "load_gguf(exact=True) gives them under mlx-lm's names, config.json from the\n"
      "metadata, the tokenizer as transformers reads it from the file (tokenizer=True).\n"
      "Returns the report: load_gguf's rows with mlx_name added.");

  m.def(
      "export_gguf",
      [](const std::filesystem::path& mlx_path, const std::filesystem::path& gguf_path) {
        std::vector<GgufExportedTensor> tensors;
        {
          nb::gil_scoped_release released;
          tensors = export_gguf(mlx_path, gguf_path);
        }
        nb::list report;
        for (const GgufExportedTensor& tensor : tensors) {
          const std::map<std::string, nb::object> row = {{"mlx_name", nb::cast(tensor.mlx_name)},
                                                         {"gguf_name", nb::cast(tensor.gguf_name)},
                                                         {"type", nb::cast(tensor.type)},
                                                         {"exact", nb::cast(tensor.exact)},
                                                         {"max_error", nb::cast(tensor.max_error)}};
          report.append(nb::cast(row));
        }
        return report;
      },
      "mlx_path"_a, "gguf_path"_a,
      "Writes an mlx-lm folder of a llama, qwen2 or qwen3 model as a llama.cpp GGUF file\n"
      "(as `qlinear convert MLX_DIR OUT.gguf`): affine 4/5-bit layers of group 32 or 64 as\n"
      "Q4_1/Q5_1 blocks, symmetric 8-bit ones as Q8_0, the rest float16. Returns the report:\n"
      "one dict per tensor (mlx_name, gguf_name, type, exact, max_error).");
}

}  // namespace qlinear::python
